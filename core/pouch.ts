/**
 * PouchDB assembled from the plugins Tresor needs: LevelDB on the device, every
 * write synced to disk before its callback (durable appends). Tresor keeps a
 * handle on the LevelDB store under each database so the full self-check can
 * read every stored document body (all revisions, in write order) in one
 * sequential scan instead of one lookup per document.
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
  _batch(ops: unknown[], options: Record<string, unknown>, cb: Callback): void
  _put(key: unknown, value: unknown, options: Record<string, unknown>, cb: Callback): void
  _del(key: unknown, options: Record<string, unknown>, cb: Callback): void
  iterator(options: Record<string, unknown>): Iterator
}

const levels = new Map<string, LevelDownLike>()

/** leveldown whose writes are fsync'd: an append that returned survives a crash or power loss. */
function SyncLevelDOWN(location: string): LevelDownLike {
  const db = (leveldown as unknown as (loc: string) => LevelDownLike)(location)
  const batch = db._batch.bind(db)
  const put = db._put.bind(db)
  const del = db._del.bind(db)
  db._batch = (ops, options, cb) => batch(ops, { ...options, sync: true }, cb)
  db._put = (key, value, options, cb) => put(key, value, { ...options, sync: true }, cb)
  db._del = (key, options, cb) => del(key, { ...options, sync: true }, cb)
  levels.set(location, db)
  return db
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
  const level = levels.get(db.name)
  if (!level) throw new Error(`no LevelDB handle for ${db.name}`)
  const it = level.iterator({ gt: BY_SEQ_LO, lt: BY_SEQ_HI, keyAsBuffer: false, valueAsBuffer: false, highWaterMark: 1 << 20 })
  const next = () => new Promise<string | null>((resolve, reject) =>
    it.next((err, key, value) => (err ? reject(err) : resolve(key === undefined ? null : value!))))
  try {
    for (;;) {
      const page: Doc[] = []
      while (page.length < pageSize) {
        const value = await next()
        if (value === null) break
        page.push(parseBody(value))
      }
      if (page.length > 0) yield page
      if (page.length < pageSize) return
    }
  } finally {
    await new Promise<void>((resolve) => it.end(() => resolve()))
  }
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

/** Open (or create) a device database at `path` (LevelDB, synced writes). */
export function openDb(path: string): Db {
  return new PouchDB(path, { adapter: 'leveldb', db: SyncLevelDOWN }) as Db
}
