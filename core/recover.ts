/**
 * Recovery of a vault whose database is damaged (`tresor recover`). Nothing
 * of the user's is deleted: the damaged database is moved aside, as it is.
 * The vault is rebuilt from every event that can still be read:
 *   - the damaged database itself: a copy of it (never the original) is
 *     repaired by LevelDB (with the log and manifest kept from before its
 *     last open, when CURRENT is gone) and every stored body that still
 *     parses is taken;
 *   - the append journal (acknowledged appends);
 *   - bundle files the caller names;
 * and then from peers (CouchDB, the Git mirror) by the usual sync rounds,
 * which the host runs after this. Everything passes the ingestion gate. The
 * report says what came back and what is still missing against the last
 * verified point; while this device's own feed is shorter than it was, the
 * vault refuses to sign (signing would fork its own key) until peers have
 * brought the rest back.
 */
import { cp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { decodeEvent, GENESIS_TYPE, type DecodedEvent } from './envelope.js'
import { openBundle } from './bundle.js'
import { LogStore, eventDocId } from './store.js'
import { openDb } from './pouch.js'
import { acquireOwner } from './owner.js'
import { readJsonFileIfExists } from './files.js'
import { JOURNAL_FILE } from './journal.js'
import { NEW_SUFFIX, PREOPEN_SUFFIX } from './storage.js'
import { POINT_FILE } from './verified-point.js'
import { NOT_FOUND } from './errors.js'
import { isEventLikeId } from './formats.js'
import { own } from './dict.js'
import type { FeedHead } from './verify.js'
import { lazyPackage } from './lazy.js'

const leveldown = lazyPackage<unknown>('leveldown')

export const CATCH_UP_FILE = 'catch-up.json'

export interface RecoveryReport {
  movedAside: string | null
  read: { damagedDb: number; journal: number; bundles: number; unreadable: number }
  admitted: number
  /** Per feed: what the last verified point knew, and what is back. */
  feeds: { author: string; known: number; recovered: number }[]
  missing: number
  /** This device's own feed came back shorter than it was: it signs again once peers have brought the rest. */
  ownBehind: { known: number; recovered: number } | null
}

const BY_SEQ_LO = '\xffby-sequence\xff'
const BY_SEQ_HI = '\xffby-sequence\xff\xff'

type Level = {
  open(opts: Record<string, unknown>, cb: (err?: Error) => void): void
  close(cb: (err?: Error) => void): void
  iterator(opts: Record<string, unknown>): {
    next(cb: (err: Error | null | undefined, key?: string, value?: string) => void): void
    end(cb: () => void): void
  }
}

/** Every event body that still parses in a copy of a damaged database. */
async function salvage(copy: string): Promise<{ raws: string[]; unreadable: number }> {
  const names = await readdir(copy).catch(() => [] as string[])
  if (!names.includes('CURRENT')) {
    const manifests = names.filter((n) => /^MANIFEST-\d+$/.test(n)).sort()
    if (manifests.length > 0) await writeFile(join(copy, 'CURRENT'), `${manifests.at(-1)}\n`)
  }
  await new Promise<void>((resolve) =>
    (leveldown() as unknown as { repair(l: string, cb: () => void): void }).repair(copy, () => resolve())
  )
  const db = (leveldown() as unknown as (l: string) => Level)(copy)
  const raws: string[] = []
  let unreadable = 0
  const opened = await new Promise<boolean>((resolve) => db.open({ createIfMissing: false }, (err) => resolve(!err)))
  if (!opened) return { raws, unreadable }
  const it = db.iterator({ gt: BY_SEQ_LO, lt: BY_SEQ_HI, keyAsBuffer: false, valueAsBuffer: false })
  for (;;) {
    const entry = await new Promise<[string, string] | null>((resolve) =>
      it.next((err, key, value) => resolve(err || key === undefined ? null : [key, value ?? '']))
    )
    if (!entry) break
    try {
      const doc = JSON.parse(entry[1]) as { _id?: string; _deleted?: boolean; raw?: unknown }
      if (typeof doc.raw === 'string' && !doc._deleted && isEventLikeId(doc._id ?? '')) raws.push(doc.raw)
    } catch {
      unreadable++
    }
  }
  await new Promise<void>((resolve) => it.end(() => resolve()))
  await new Promise<void>((resolve) => db.close(() => resolve()))
  return { raws, unreadable }
}

/** The genesis event's text, kept beside the database so a vault whose database is gone can still be rebuilt. */
export const GENESIS_FILE = 'genesis.event'

/**
 * Keep the genesis copy beside the database, unless one is there (it is the same event: recovery checks it by hash).
 */
export async function keepGenesisCopy(dir: string, raw: string): Promise<void> {
  // wx: an existing copy is kept
  await writeFile(join(dir, GENESIS_FILE), raw, { mode: 0o600, flag: 'wx' }).catch(() => undefined)
}

/**
 * Rebuild the vault's log from what still reads, then move the damaged
 * database aside. Nothing is moved until the vault's genesis is in hand
 * (from the database, the genesis file, a bundle or a peer): a recovery that
 * cannot finish leaves the folder exactly as it found it. The vault is closed
 * while this runs; the caller opens it after (and then runs sync rounds with
 * peers to bring back the rest).
 */
export async function recoverVault(
  dir: string,
  opts: {
    vaultId: string
    device: string
    dbDir: string
    /** Bundle texts (tresor bundle files' contents) to take events from. */
    bundles?: string[]
    now?: Date
    /** Ask the peers the vault syncs with for its genesis (the raw text), when nothing local holds it. */
    fetchGenesis?: () => Promise<string | null>
  }
): Promise<{ report: RecoveryReport; events: DecodedEvent[] }> {
  const release = await acquireOwner(dir)
  try {
    const db = join(dir, opts.dbDir)
    const stamp = (opts.now ?? new Date()).toISOString().replace(/[:.]/g, '-')
    const aside = `${db}.damaged-${stamp}`
    const exists = await stat(db).then(
      () => true,
      () => false
    )
    const raws: string[] = []
    const read = { damagedDb: 0, journal: 0, bundles: 0, unreadable: 0 }
    if (exists) {
      // Salvage works on a copy; the original is not touched until it is moved aside, as it is.
      const copy = `${db}.salvage-${stamp}`
      await cp(db, copy, { recursive: true })
      // What LevelDB's opens of it replaced (log, manifest, CURRENT), as they were before: the latest open (when it
      // did not end well) and the last that did. Repair reads every log and table it is given.
      for (const from of [`${db}${PREOPEN_SUFFIX}${NEW_SUFFIX}`, `${db}${PREOPEN_SUFFIX}`]) {
        for (const f of await readdir(from).catch(() => [] as string[])) {
          const there = await stat(join(copy, f)).then(
            () => true,
            () => false
          )
          if (!there) await cp(join(from, f), join(copy, f))
        }
      }
      try {
        const got = await salvage(copy)
        // a loop, not a spread: a log may hold more events than a call takes arguments
        for (const raw of got.raws) raws.push(raw)
        read.damagedDb = got.raws.length
        read.unreadable = got.unreadable
      } finally {
        await rm(copy, { recursive: true, force: true }) // our own working copy, not the user's
      }
    }
    const journal = await readFile(join(dir, JOURNAL_FILE), 'utf8').catch(() => '')
    const lines = journal
      .split('\n')
      .slice(1)
      .filter((l) => l.startsWith('{'))
    for (const line of lines) raws.push(line)
    read.journal = lines.length
    for (const text of opts.bundles ?? []) {
      const { events } = openBundle(text, opts.vaultId)
      for (const e of events) raws.push(e.raw)
      read.bundles += events.length
    }
    const events = new Map<string, DecodedEvent>()
    for (const raw of raws) {
      try {
        const d = decodeEvent(raw, opts.vaultId)
        events.set(d.id, d)
      } catch {
        read.unreadable++
      }
    }
    const isGenesis = (d: DecodedEvent): boolean => d.id === opts.vaultId && d.event.type === GENESIS_TYPE
    let genesis = [...events.values()].find(isGenesis)
    for (const source of [() => readFile(join(dir, GENESIS_FILE), 'utf8').catch(() => null), opts.fetchGenesis]) {
      if (genesis || !source) continue
      const raw = await source()
      try {
        const d = raw === null ? null : decodeEvent(raw, null)
        if (d && isGenesis(d)) genesis = d
      } catch {
        /* not this vault's genesis: try the next source */
      }
    }
    if (!genesis) {
      throw NOT_FOUND(
        `the genesis event of this vault was not found in the database, ${GENESIS_FILE}, the journal${opts.bundles?.length ? ', the bundles' : ''}${opts.fetchGenesis ? ' or the peers' : ''}; nothing was changed: recover with --couch or --mirror (a peer that holds the vault), with --bundle FILE, or join the vault again into a new folder`
      )
    }
    if (exists) {
      await rename(db, aside) // kept as it is: nothing of the user's is deleted
      // With what LevelDB's last open of it replaced: the next open (of the rebuilt database) would write over that
      // copy.
      // there may be no pre-open copy (a database never opened by this version)
      await rename(`${db}${PREOPEN_SUFFIX}`, `${aside}${PREOPEN_SUFFIX}`).catch(() => undefined)
      await rename(`${db}${PREOPEN_SUFFIX}${NEW_SUFFIX}`, `${aside}${PREOPEN_SUFFIX}${NEW_SUFFIX}`).catch(
        () => undefined
      ) // as above
    }
    // Its entries go through the gate with the rest; the file itself is kept aside, so the rebuilt vault does not
    // replay it out of order.
    await rename(join(dir, JOURNAL_FILE), join(dir, `${JOURNAL_FILE}.before-recover-${stamp}`)).catch(() => undefined)
    // A fresh database holding only the genesis; the rest goes through the gate when the vault is opened.
    const store = new LogStore(openDb(db))
    try {
      await store.put(genesis)
    } finally {
      await store.close()
    }
    await keepGenesisCopy(dir, genesis.raw)
    // The old verified point describes the damaged database; it is kept aside and the next start checks everything.
    await rename(join(dir, POINT_FILE), join(dir, `${POINT_FILE}.before-recover-${stamp}`)).catch(() => undefined)
    const gid = genesis.id
    return {
      report: { movedAside: exists ? aside : null, read, admitted: 0, feeds: [], missing: 0, ownBehind: null },
      events: [...events.values()].filter((d) => d.id !== gid)
    }
  } finally {
    await release()
  }
}

/** What the last verified point said each feed held (the current one, else the one an earlier recovery kept aside). */
export async function knownFeeds(dir: string): Promise<Record<string, FeedHead>> {
  const names = await readdir(dir).catch(() => [] as string[])
  const kept = names
    .filter((n) => n.startsWith(`${POINT_FILE}.before-recover-`))
    .sort()
    .at(-1)
  for (const name of [POINT_FILE, kept]) {
    if (!name) continue
    const point = (await readJsonFileIfExists(join(dir, name), 16 * 1024 * 1024).catch(() => null)) as {
      feeds?: Record<string, FeedHead>
    } | null
    if (point?.feeds) return point.feeds
  }
  return {}
}

/**
 * Order recovered events so each feed's events come in sequence (the gate takes them in any order, but fewer rounds
 * this way).
 */
export function inFeedOrder(events: DecodedEvent[]): { docId: string; raw: string }[] {
  return [...events]
    .sort((a, b) =>
      a.event.author < b.event.author ? -1 : a.event.author > b.event.author ? 1 : a.event.seq - b.event.seq
    )
    .map((d) => ({ docId: eventDocId(d.event.author, d.event.seq), raw: d.raw }))
}

/** Count again what each feed holds now (after peers' rounds brought more back). */
export function recount(report: RecoveryReport, heads: Record<string, FeedHead>, device: string): void {
  for (const f of report.feeds) f.recovered = own(heads, f.author)?.length ?? f.recovered
  report.missing = report.feeds.reduce((n, f) => n + Math.max(0, f.known - f.recovered), 0)
  const mine = report.feeds.find((f) => f.author === device)
  report.ownBehind = mine && mine.recovered < mine.known ? { known: mine.known, recovered: mine.recovered } : null
}
