/**
 * PouchDB assembled from the plugins Tresor needs. On a device: LevelDB with
 * every write synced to disk before the callback (durable appends). The memory
 * adapter exists for unit tests only and is registered by them.
 */
import PouchDB from 'pouchdb-core'
import LevelAdapter from 'pouchdb-adapter-leveldb'
import leveldown from 'leveldown'

type Callback = (err?: Error | null) => void
interface LevelDownLike {
  _batch(ops: unknown[], options: Record<string, unknown>, cb: Callback): void
  _put(key: unknown, value: unknown, options: Record<string, unknown>, cb: Callback): void
  _del(key: unknown, options: Record<string, unknown>, cb: Callback): void
}

/** leveldown whose writes are fsync'd: an append that returned survives a crash or power loss. */
function SyncLevelDOWN(location: string): LevelDownLike {
  const db = (leveldown as unknown as (loc: string) => LevelDownLike)(location)
  const batch = db._batch.bind(db)
  const put = db._put.bind(db)
  const del = db._del.bind(db)
  db._batch = (ops, options, cb) => batch(ops, { ...options, sync: true }, cb)
  db._put = (key, value, options, cb) => put(key, value, { ...options, sync: true }, cb)
  db._del = (key, options, cb) => del(key, { ...options, sync: true }, cb)
  return db
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

/** Open (or create) a device database at `path`. `adapter: 'memory'` is for tests. */
export function openDb(path: string, options: { adapter?: 'leveldb' | 'memory'; durable?: boolean } = {}): Db {
  if (options.adapter === 'memory') return new PouchDB(path, { adapter: 'memory' }) as Db
  const durable = options.durable !== false
  return new PouchDB(path, { adapter: 'leveldb', ...(durable ? { db: SyncLevelDOWN } : {}) }) as Db
}
