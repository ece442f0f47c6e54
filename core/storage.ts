/**
 * What Tresor does when the disk lets it down. A database folder that already
 * holds data is opened only as it is: never created over, repaired, compacted
 * or deleted (LevelDB, asked to create a database whose CURRENT file is gone,
 * would start an empty one and delete the old tables). Every database call
 * goes through a guard that turns a storage failure into a state: the
 * database is marked damaged with the failing file and LevelDB's message,
 * every pending and later call fails with STORAGE_DAMAGED, and whoever owns
 * it (the vault) goes READ-ONLY. A disk that is full is STORAGE_FULL and
 * heals: the next call tries again.
 *
 * Some storage failures surface inside the storage libraries' own callbacks
 * (a record that no longer parses, a stream's 'error' nobody listens to) and
 * would end the process. `guardStorageFaults()`, installed by each host,
 * catches exactly those and marks the databases they came from damaged.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { STORAGE_DAMAGED, STORAGE_FULL, VaultError } from './errors.js'

/** Beside each database: a copy of its log, manifest and CURRENT as they were before the last open. */
export const PREOPEN_SUFFIX = '.before-open'

/**
 * LevelDB replays its log into a new table and writes a new manifest on every
 * open (its normal work), and with paranoid checks off it would drop a damaged
 * log record while doing so. Before an existing database is opened, its log,
 * manifest and CURRENT are copied aside (small files; the tables are left
 * alone and never rewritten by an open), so what a damaged open changed can
 * always be had back, byte for byte.
 *
 * Two copies: `<db>.before-open` is from before the last open that ended well
 * (the database closed undamaged); `<db>.before-open.new` is this open's. The
 * new one takes the old one's place only when this open closes undamaged
 * (`keepOpenCopy`), so opening a damaged database again and again never wears
 * away the copy taken while it was healthy; an open that found damage puts
 * the folder back from its copy and drops it (`undoOpen`), leaving everything
 * exactly as it found it. Recovery reads both.
 */
export function keepBeforeOpen(path: string): string[] {
  const fresh = path + PREOPEN_SUFFIX + NEW_SUFFIX
  rmSync(fresh, { recursive: true, force: true })
  mkdirSync(fresh, { recursive: true, mode: 0o700 })
  const names = readdirSync(path)
  for (const f of names) {
    if (f === 'CURRENT' || /^MANIFEST-\d+$/.test(f) || /\.log$/.test(f)) copyFileSync(join(path, f), join(fresh, f))
  }
  return names
}

/** This open's copy (beside the one from the last open that ended well). */
export const NEW_SUFFIX = '.new'

/** An open that ended well: its copy becomes the one to go back to. */
export function keepOpenCopy(path: string): void {
  const aside = path + PREOPEN_SUFFIX
  if (!existsSync(aside + NEW_SUFFIX)) return
  rmSync(aside, { recursive: true, force: true })
  renameSync(aside + NEW_SUFFIX, aside)
}

/** An open that failed before it changed anything: its copy (of a damaged database) is dropped. */
export function dropOpenCopy(path: string): void {
  rmSync(path + PREOPEN_SUFFIX + NEW_SUFFIX, { recursive: true, force: true })
}

/** LevelDB's own lock and its human-readable info log: written by every open, never data. */
const LEVEL_HOUSEKEEPING = new Set(['LOCK', 'LOG', 'LOG.old'])

/**
 * Put a database folder back as it was before an open that found it damaged
 * (and wrote nothing to it): LevelDB's recovery on open turned the log into
 * a new table and a new manifest and dropped the old ones; the old ones come
 * back from the copy made before the open (the manifest and log first, CURRENT
 * last), and what that open made is removed: it held nothing the restored
 * log does not. Tables LevelDB had are never touched by an open.
 */
export function undoOpen(path: string, before: string[]): void {
  const fresh = path + PREOPEN_SUFFIX + NEW_SUFFIX
  const kept = readdirSync(fresh)
  for (const f of kept.filter((n) => n !== 'CURRENT')) copyFileSync(join(fresh, f), join(path, f))
  if (kept.includes('CURRENT')) {
    copyFileSync(join(fresh, 'CURRENT'), join(path, 'CURRENT.restoring'))
    renameSync(join(path, 'CURRENT.restoring'), join(path, 'CURRENT'))
  }
  const had = new Set(before)
  for (const f of readdirSync(path))
    if (!had.has(f) && !LEVEL_HOUSEKEEPING.has(f)) rmSync(join(path, f), { force: true })
  dropOpenCopy(path)
}

/**
 * Whether a database folder is new (absent or empty) or holds a database; throws STORAGE_DAMAGED when it holds a broken
 * one.
 */
export function inspectLevelDir(path: string): 'new' | 'existing' {
  if (!existsSync(path)) return 'new'
  const files = readdirSync(path)
  if (files.length === 0) return 'new'
  const recover =
    'nothing was changed; `tresor recover` rebuilds the vault from what still reads, the journal and peers'
  if (!files.includes('CURRENT'))
    throw STORAGE_DAMAGED(`${join(path, 'CURRENT')} is missing, so the database cannot be opened; ${recover}`)
  const manifest = readFileSync(join(path, 'CURRENT'), 'utf8').trim()
  if (!/^MANIFEST-\d+$/.test(manifest))
    throw STORAGE_DAMAGED(`${join(path, 'CURRENT')} does not name a MANIFEST file; ${recover}`)
  const at = join(path, manifest)
  if (!existsSync(at) || statSync(at).size === 0)
    throw STORAGE_DAMAGED(`${at}, which CURRENT names, is missing or empty; ${recover}`)
  return 'existing'
}

const STORAGE_STACK =
  /[/\\](level-codec|sublevel-pouchdb|pouchdb-adapter-leveldb(-core)?|leveldown|levelup|abstract-leveldown|deferred-leveldown|level-iterator-stream)[/\\]/
const STORAGE_MESSAGE = /^(IO error|Corruption|Invalid argument|NotFound: .*\.(ldb|log|sst)\b|.*\bENOSPC\b|.*\bEIO\b)/i

/** The VaultError a storage failure stands for (null: not a storage failure). */
export function storageFailure(err: unknown, where: string): VaultError | null {
  if (err instanceof VaultError) return err.code === 'STORAGE_DAMAGED' || err.code === 'STORAGE_FULL' ? err : null
  const e = err as { message?: string; stack?: string; code?: string }
  const message = String(e?.message ?? err)
  if (e?.code === 'ENOSPC' || /ENOSPC|No space left/i.test(message))
    return STORAGE_FULL(
      `${where}: the disk is full (${message.slice(0, 200)}); nothing was written, retry once space is free`
    )
  if (STORAGE_MESSAGE.test(message) || (err instanceof SyntaxError && STORAGE_STACK.test(e.stack ?? ''))) {
    return STORAGE_DAMAGED(
      `${where} is damaged: ${message.slice(0, 300)}; the vault is READ-ONLY and nothing was changed; \`tresor recover\` rebuilds it from what still reads, the journal and peers`
    )
  }
  return null
}

/** Whether an error that escaped to the process came out of the storage libraries. */
export function isStorageFault(err: unknown): boolean {
  if (err instanceof VaultError) return err.code === 'STORAGE_DAMAGED' || err.code === 'STORAGE_FULL'
  const e = err as { message?: string; stack?: string }
  return STORAGE_STACK.test(e?.stack ?? '') || STORAGE_MESSAGE.test(String(e?.message ?? ''))
}

/** A database that can be told it is damaged (GuardedDb in pouch.ts). */
export interface Damageable {
  readonly name: string
  readonly busy: boolean
  markDamaged(err: VaultError): void
}

const open = new Set<Damageable>()

export function registerDb(db: Damageable): void {
  open.add(db)
}
export function unregisterDb(db: Damageable): void {
  open.delete(db)
}

/** Mark the databases a storage fault came from damaged: the one its message names, else those with calls in flight. */
export function reportStorageFault(err: unknown): number {
  const message = String((err as Error)?.message ?? err)
  const named = [...open].filter((db) => message.includes(db.name))
  const targets = named.length > 0 ? named : [...open].filter((db) => db.busy)
  for (const db of targets.length > 0 ? targets : [...open]) {
    db.markDamaged(
      storageFailure(err, db.name) ??
        STORAGE_DAMAGED(
          `${db.name} is damaged: ${message.slice(0, 300)}; the vault is READ-ONLY and nothing was changed; \`tresor recover\` rebuilds it`
        )
    )
  }
  return targets.length
}

let installed = false

/**
 * Hosts call this once: a storage fault that escapes the storage libraries
 * marks its database damaged instead of ending the process. Any other
 * uncaught error still ends it, with one line on stderr (the stack too with
 * TRESOR_DEBUG=1).
 */
export function guardStorageFaults(onFault?: (err: unknown) => void): void {
  if (installed) return
  installed = true
  process.on('uncaughtException', (err) => {
    if (isStorageFault(err)) {
      // An already named fault (a rejection nobody awaited) has marked its database; a raw one marks it now.
      if (!(err instanceof VaultError)) reportStorageFault(err)
      onFault?.(err)
      return
    }
    process.stderr.write(`tresor: internal error: ${(err as Error)?.message ?? String(err)}\n`)
    if (process.env.TRESOR_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`)
    process.exit(1)
  })
}
