/**
 * Blobs between devices (issue 17), whatever carries them (CouchDB attachments, files in the Git mirror, bundles):
 * which blobs this vault's documents need (every migration plan not rejected or withdrawn, every proposed version),
 * which of them this device lacks, and the one gate every blob from outside passes: it must be one the vault needs
 * and hash to its name (the sizes plans state only bound how much a transport reads). A blob that does not is
 * quarantined with its reason under `blobs/quarantine/` (the record, and the bytes when they are not larger than the
 * document bound), never kept as the document, never served. Which blobs may go to the Git mirror is the rules'
 * `private` classification.
 */
import { createHash } from 'node:crypto'
import { mkdir, readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { readJsonFileIfExists, writeFileAtomic, writeJsonFile } from '../files.js'
import { settingValueOf } from '../settings.js'
import type { GovState } from '../governance/state.js'
import type { LogStore } from '../store.js'
import { BLOBS_DIR, BlobStore } from './blobs.js'
import { wantedBlobs } from './register.js'

export const BLOB_QUARANTINE_DIR = 'quarantine'

export interface BlobQuarantineEntry {
  at: string
  /** Where it came from (the server's or the mirror's URL). */
  source: string
  /** The digest it was offered as. */
  digest: string
  /** What its bytes hash to. */
  actual: string
  size: number
  code: 'TAMPERED' | 'NOT_WANTED'
  reason: string
  /** The bytes were kept beside the record (`<actual>.bin`). */
  kept: boolean
}

/** KNOWN: these very bytes were offered as this blob and quarantined before (not recorded again). */
export type BlobVerdict = 'ADMIT' | 'DUPLICATE' | 'KNOWN' | BlobQuarantineEntry

interface ExchangeVault {
  dir: string
  store: Pick<LogStore, 'get'>
  state: Pick<GovState, 'proposals' | 'migrated' | 'docActs' | 'docRules' | 'settings' | 'height'>
}

export class BlobExchange {
  readonly blobs: BlobStore
  private cache: { height: number; migrated: number; wanted: Map<string, { size: number; private: boolean }> } | null =
    null

  constructor(private readonly vault: ExchangeVault) {
    this.blobs = new BlobStore(vault.dir)
  }

  /** Every blob the documents need → its size and whether it is private (computed again when governance moved). */
  async wanted(): Promise<Map<string, { size: number; private: boolean }>> {
    const s = this.vault.state
    const migrated = s.migrated?.length ?? 0
    if (this.cache && this.cache.height === s.height && this.cache.migrated === migrated) return this.cache.wanted
    const { wanted, complete } = await wantedBlobs(this.vault.store, s)
    // a plan not here yet adds its blobs when it arrives: not cached until every plan is read
    this.cache = complete ? { height: s.height, migrated, wanted } : null
    return wanted
  }

  /** The wanted blobs this device does not hold. */
  async missing(): Promise<string[]> {
    const out: string[] = []
    for (const digest of (await this.wanted()).keys()) if (!(await this.blobs.has(digest))) out.push(digest)
    return out
  }

  /**
   * The wanted blobs this device holds (for `mirror`: only those that may go to the Git mirror), leaving out those in
   * `except` without looking for them on disk.
   */
  async held(mirror = false, except?: ReadonlySet<string>): Promise<string[]> {
    const out: string[] = []
    for (const [digest, w] of await this.wanted())
      if ((!mirror || !w.private) && !except?.has(digest) && (await this.blobs.has(digest))) out.push(digest)
    return out
  }

  /**
   * The gate: a blob offered as `digest` by `source`. With `folders`, what is kept is synced by the caller
   * (`syncFolders`) once for many blobs.
   */
  async accept(digest: string, bytes: Uint8Array, source: string, folders?: Set<string>): Promise<BlobVerdict> {
    const actual = createHash('sha256').update(bytes).digest('hex')
    const want = (await this.wanted()).get(digest)
    const max = settingValueOf(this.vault.state.settings, 'documentMaxBytes')
    const refuse = (code: BlobQuarantineEntry['code'], reason: string) =>
      this.quarantine(
        { at: new Date().toISOString(), source, digest, actual, size: bytes.length, code, reason, kept: false },
        bytes,
        max
      )
    if (!want) return refuse('NOT_WANTED', 'no migration plan or version of this vault names this blob')
    // the digest is what names it: a size some plan states is a bound for reading, never a reason to refuse true bytes
    if (actual !== digest)
      return refuse(
        'TAMPERED',
        `its bytes hash to ${actual.slice(0, 16)}… (${bytes.length} bytes), not to its name: changed in transit or at rest`
      )
    if (await this.blobs.has(digest)) return 'DUPLICATE'
    await this.blobs.put(bytes, digest, folders)
    return 'ADMIT'
  }

  private async quarantine(
    e: BlobQuarantineEntry,
    bytes: Uint8Array,
    max: number
  ): Promise<BlobQuarantineEntry | 'KNOWN'> {
    const dir = join(this.vault.dir, BLOBS_DIR, BLOB_QUARANTINE_DIR)
    await mkdir(dir, { recursive: true, mode: 0o700 })
    const name = `${e.digest.slice(0, 16)}-${e.actual.slice(0, 16)}`
    if (
      await stat(join(dir, `${name}.json`)).then(
        () => true,
        () => false
      )
    )
      return 'KNOWN'
    const kept = bytes.length <= max
    if (kept) await writeFileAtomic(join(dir, `${name}.bin`), bytes)
    const entry = { ...e, kept }
    await writeJsonFile(join(dir, `${name}.json`), entry)
    return entry
  }

  /** What the gate refused, newest first. */
  async quarantined(): Promise<BlobQuarantineEntry[]> {
    const dir = join(this.vault.dir, BLOBS_DIR, BLOB_QUARANTINE_DIR)
    const names = await readdir(dir).catch(() => [] as string[])
    const out: BlobQuarantineEntry[] = []
    for (const n of names.filter((x) => x.endsWith('.json'))) {
      const e = (await readJsonFileIfExists(join(dir, n), 64 * 1024, 4).catch(() => null)) as BlobQuarantineEntry | null
      if (e && typeof e.digest === 'string') out.push(e)
    }
    return out.sort((a, b) => (a.at < b.at ? 1 : -1))
  }
}

/** One exchange per open vault (its wanted set is cached): the hosts' sync, the mirror and the API share it. */
const exchanges = new WeakMap<object, BlobExchange>()
export function blobExchangeOf(vault: ExchangeVault): BlobExchange {
  let x = exchanges.get(vault)
  if (!x) exchanges.set(vault, (x = new BlobExchange(vault)))
  return x
}
