/**
 * PouchDB assembled from the plugins Tresor needs: LevelDB on the device.
 * Tresor keeps a handle on the LevelDB store under each database for two
 * things PouchDB does not offer: a sync barrier (one fsync'd write makes every
 * earlier write durable, since LevelDB appends them all to one log) and a
 * sequential scan of every stored document body for the full self-check.
 */
import PouchDB from 'pouchdb-core'
import LevelAdapter from 'pouchdb-adapter-leveldb'
import leveldown from 'leveldown'

type Callback = (err?: Error | null) => void
interface Iterator {
  next(cb: (err: Error | null | undefined, key?: string, value?: string) => void): void
  end(cb: Callback): void
}
interface LevelDownLike {
  put(key: string, value: string, options: Record<string, unknown>, cb: Callback): void
  get(key: string, options: Record<string, unknown>, cb: (err: Error | null | undefined, value?: string) => void): void
  batch(ops: RawOp[], options: Record<string, unknown>, cb: Callback): void
  getMany(keys: string[], options: Record<string, unknown>, cb: (err: Error | null | undefined, values?: (string | undefined)[]) => void): void
  iterator(options: Record<string, unknown>): Iterator
}

/** A write to the LevelDB store under a database, outside PouchDB's sublevels (keys must start with '\xff' and a name PouchDB does not use). */
export type RawOp = { type: 'put'; key: string; value: string } | { type: 'del'; key: string }

const levels = new Map<string, LevelDownLike>()

/** leveldown, remembered by location so Tresor can reach the store under a PouchDB database. */
function TresorLevelDOWN(location: string): LevelDownLike {
  const db = (leveldown as unknown as (loc: string) => LevelDownLike)(location)
  levels.set(location, db)
  return db
}

function levelOf(db: Db): LevelDownLike {
  const level = levels.get(db.name)
  if (!level) throw new Error(`no LevelDB handle for ${db.name}`)
  return level
}

// Outside every PouchDB sublevel (those are keyed '\xff<name>\xff…'), so PouchDB never sees it.
const BARRIER_KEY = '\xfftresor-barrier\xff'

/** Make every write to `db` so far durable: one fsync'd LevelDB write covers the log before it. */
export function syncBarrier(db: Db): Promise<void> {
  return new Promise((resolve, reject) =>
    levelOf(db).put(BARRIER_KEY, String(Date.now()), { sync: true }, (err) => (err ? reject(err) : resolve())))
}

/** Atomic write of raw keys beside PouchDB's data (one LevelDB batch; durable with `sync` or a later barrier). */
export function rawBatch(db: Db, ops: RawOp[], sync = false): Promise<void> {
  if (ops.length === 0) return Promise.resolve()
  return new Promise((resolve, reject) => levelOf(db).batch(ops, { sync }, (err) => (err ? reject(err) : resolve())))
}

/** A raw key's value, or null. */
export function rawGet(db: Db, key: string): Promise<string | null> {
  return new Promise((resolve, reject) => levelOf(db).get(key, { asBuffer: false }, (err, value) => {
    if (err) return /notfound/i.test(err.message) ? resolve(null) : reject(err)
    resolve(value ?? null)
  }))
}

/** Several raw keys' values in one request (null where absent). */
export function rawGetMany(db: Db, keys: string[]): Promise<(string | null)[]> {
  if (keys.length === 0) return Promise.resolve([])
  return new Promise((resolve, reject) => levelOf(db).getMany(keys, { asBuffer: false }, (err, values) =>
    (err ? reject(err) : resolve((values ?? []).map((v) => v ?? null)))))
}

/** Raw entries with keys in (gt, lt), in key order (or reversed), in pages. */
export async function * rawRange(db: Db, range: { gt: string; lt: string; reverse?: boolean; limit?: number }, pageSize = 1000): AsyncGenerator<[string, string][]> {
  const it = levelOf(db).iterator({ ...range, limit: range.limit ?? -1, keyAsBuffer: false, valueAsBuffer: false, highWaterMark: 1 << 20 })
  const next = () => new Promise<[string, string] | null>((resolve, reject) =>
    it.next((err, key, value) => (err ? reject(err) : resolve(key === undefined ? null : [key, value!]))))
  try {
    for (;;) {
      const page: [string, string][] = []
      while (page.length < pageSize) {
        const entry = await next()
        if (entry === null) break
        page.push(entry)
      }
      if (page.length > 0) yield page
      if (page.length < pageSize) return
    }
  } finally {
    await new Promise<void>((resolve) => it.end(() => resolve()))
  }
}

// pouchdb-adapter-leveldb keeps document bodies in this sublevel, keyed by update sequence.
const BY_SEQ_LO = '\xffby-sequence\xff'
const BY_SEQ_HI = '\xffby-sequence\xff\xff'

function parseBody(value: string): Doc {
  try {
    return JSON.parse(value) as Doc
  } catch {
    return { _id: '', _unreadable: true } // reported by the verifier as a stray document
  }
}

/**
 * Every document body PouchDB stored for `db`, oldest first, in pages: each
 * revision ever written (a rewritten document appears twice), deletions as
 * bodies with `_deleted`. Reads a snapshot; concurrent writes are not seen.
 */
export async function * storedBodies(db: Db, pageSize = 1000): AsyncGenerator<Doc[]> {
  for await (const page of rawRange(db, { gt: BY_SEQ_LO, lt: BY_SEQ_HI }, pageSize)) yield page.map(([, value]) => parseBody(value))
}

PouchDB.plugin(LevelAdapter)

export { PouchDB }

/** The part of PouchDB's database API that Tresor uses (typed here, not by @types/pouchdb, whose globals clash with Node's Buffer). */
export interface Doc { _id: string; _rev?: string; _deleted?: boolean; [field: string]: unknown }
export interface AllDocsOptions { startkey?: string; endkey?: string; descending?: boolean; limit?: number; skip?: number; include_docs?: boolean; keys?: string[] }
export interface AllDocsRow { id: string; key: string; value: { rev: string; deleted?: boolean }; doc?: Doc; error?: string }
export interface ChangesResult { results: { id: string; seq: number | string; deleted?: boolean; doc?: Doc }[]; last_seq: number | string }
export interface WriteResult { ok?: boolean; id: string; rev?: string; error?: string | boolean; status?: number; reason?: string }
export interface Db {
  name: string
  info(): Promise<{ doc_count: number; update_seq: number | string }>
  get(id: string): Promise<Doc>
  put(doc: Doc): Promise<WriteResult>
  remove(id: string, rev: string): Promise<WriteResult>
  bulkDocs(docs: Doc[], options?: { new_edits?: boolean }): Promise<WriteResult[]>
  allDocs(options: AllDocsOptions): Promise<{ rows: AllDocsRow[]; total_rows: number }>
  changes(options: { since: number | string; limit?: number; include_docs?: boolean }): Promise<ChangesResult>
  close(): Promise<void>
  destroy(): Promise<void>
}

/** Open (or create) a device database at `path` (LevelDB). Writes are durable after `syncBarrier`. */
export function openDb(path: string): Db {
  return new PouchDB(path, { adapter: 'leveldb', db: TresorLevelDOWN }) as Db
}
