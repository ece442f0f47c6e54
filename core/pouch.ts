/**
 * PouchDB assembled from the plugins Tresor needs: LevelDB on the device.
 * Tresor keeps a handle on the LevelDB store under each database for two
 * things PouchDB does not offer: a sync barrier (one fsync'd write makes every
 * earlier write durable, since LevelDB appends them all to one log) and a
 * sequential scan of every stored document body for the full self-check.
 */
import type PouchDBCore from 'pouchdb-core'
import { createRequire, Module } from 'node:module'
import { lazyPackage } from './lazy.js'
import { mkdirSync } from 'node:fs'
import {
  dropOpenCopy,
  inspectLevelDir,
  keepBeforeOpen,
  keepOpenCopy,
  registerDb,
  storageFailure,
  undoOpen,
  unregisterDb,
  type Damageable
} from './storage.js'
import { INTERNAL, STORAGE_DAMAGED, VaultError } from './errors.js'

const requireHere = createRequire(import.meta.url)

type Callback = (err?: Error | null) => void
interface Iterator {
  next(cb: (err: Error | null | undefined, key?: string, value?: string) => void): void
  end(cb: Callback): void
}
type GetCallback = (err: Error | null | undefined, value?: string) => void
interface LevelDownLike {
  put(key: string, value: string, options: Record<string, unknown>, cb: Callback): void
  get(key: string, options: Record<string, unknown>, cb: GetCallback): void
  batch(ops: RawOp[], options: Record<string, unknown>, cb: Callback): void
  getMany(
    keys: string[],
    options: Record<string, unknown>,
    cb: (err: Error | null | undefined, values?: (string | undefined)[]) => void
  ): void
  iterator(options: Record<string, unknown>): Iterator
  close(cb: Callback): void
}

/**
 * A write to the LevelDB store under a database, outside PouchDB's sublevels (keys must start with '\xff' and a name
 * PouchDB does not use).
 */
export type RawOp = { type: 'put'; key: string; value: string } | { type: 'del'; key: string }

const levels = new Map<string, LevelDownLike>()

/** leveldown, remembered by location so Tresor can reach the store under a PouchDB database. */
function TresorLevelDOWN(location: string): LevelDownLike {
  const db = (leveldown() as unknown as (loc: string) => LevelDownLike)(location)
  skipUnchangedInstanceId(db)
  coalesceGets(db)
  levels.set(location, db)
  return db
}

/** Where PouchDB's LevelDB adapter keeps its instance id (its meta sublevel, as sublevel-pouchdb names keys). */
const INSTANCE_ID_KEY = '\xffmeta-store\xff_local_uuid'

/**
 * pouchdb-adapter-leveldb-core writes its instance id at every open, the same value each time. That one write left
 * LevelDB's log non-empty, so the next open turned it into a new table (a file, four disk syncs) and every few opens
 * a compaction rewrote megabytes: a supervisor's `tresor status` every few seconds wore the flash for nothing. A batch
 * that is exactly that put, of the value already stored, is answered without writing; any other write (or that key
 * with another value, or in another shape) goes to LevelDB as it came.
 */
function skipUnchangedInstanceId(db: LevelDownLike): void {
  const batch = db.batch
  db.batch = function (this: LevelDownLike, ...args: Parameters<LevelDownLike['batch']>) {
    const [ops, options, cb] = args as unknown as [RawOp[], Record<string, unknown> | Callback, Callback | undefined]
    const callback = typeof options === 'function' ? options : cb
    const op = Array.isArray(ops) && ops.length === 1 ? ops[0]! : null
    if (!callback || op?.type !== 'put' || op.key !== INSTANCE_ID_KEY || typeof op.value !== 'string')
      return batch.apply(this, args)
    db.get(INSTANCE_ID_KEY, { asBuffer: false }, (err, stored) => {
      if (!err && stored === op.value) callback()
      else batch.call(this, ops, typeof options === 'function' ? {} : options, callback)
    })
  }
}

/**
 * leveldown's NotFound error, without the stack trace: nothing reads it (PouchDB turns it into its own not_found), and
 * capturing one was most of what answering a missing key cost — a pull asks for every new event's missing tree.
 */
function notFound(): Error {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return new Error('NotFound: ')
  } finally {
    Error.stackTraceLimit = limit
  }
}

/**
 * PouchDB reads one key at a time: the revision tree of every document a write or a revsDiff names, each a native
 * call, a thread-pool job and a callback, ~6 µs of the main thread per key, which a pull pays three times per event
 * (staging's revsDiff and write, the log's write). The reads asked in one turn of the event loop go to LevelDB as one
 * getMany instead (~1 µs a key), read from one snapshot taken no earlier than each get was asked. Each caller gets
 * what its own get would have given: the value, or leveldown's NotFound error; where the getMany fails, each key is
 * read on its own and gets its own answer. A close flushes what is queued first, so no read is asked after it.
 */
function coalesceGets(db: LevelDownLike): void {
  const get = db.get
  const close = db.close
  let queued: { key: string; cb: GetCallback }[] = []
  const alone = (q: { key: string; cb: GetCallback }) => get.call(db, q.key, { asBuffer: false }, q.cb)
  const flush = () => {
    const batch = queued
    queued = []
    if (batch.length === 0) return
    if (batch.length === 1) return alone(batch[0]!)
    db.getMany(
      batch.map((q) => q.key),
      { asBuffer: false },
      (err, values) => {
        if (err || !values || values.length !== batch.length) return batch.forEach(alone)
        batch.forEach((q, i) => (values[i] === undefined ? q.cb(notFound()) : q.cb(null, values[i])))
      }
    )
  }
  db.get = function (this: LevelDownLike, key: string, options: Record<string, unknown>, cb: GetCallback) {
    // Only the plain shape PouchDB uses (a string key, string values, the cache filled) is queued.
    if (
      typeof key !== 'string' ||
      typeof cb !== 'function' ||
      options?.asBuffer !== false ||
      options.fillCache === false
    )
      return get.call(this, key, options, cb)
    if (queued.length === 0) process.nextTick(flush)
    queued.push({ key, cb })
  }
  db.close = function (this: LevelDownLike, cb: Callback) {
    flush()
    return close.call(this, cb)
  }
}

function levelOf(db: Db): LevelDownLike {
  const damage = (db as Partial<GuardedDb>).damage
  if (damage) throw damage
  const level = levels.get(db.name)
  if (!level) throw INTERNAL(`no LevelDB handle for ${db.name}`)
  return level
}

const noop = (): void => undefined

/** Raw LevelDB calls go through the database's guard too, when it has one. */
function guarded<T>(db: Db, run: () => Promise<T>, write = false): Promise<T> {
  return db instanceof GuardedDb ? db.guard(run, write) : run()
}

// Outside every PouchDB sublevel (those are keyed '\xff<name>\xff…'), so PouchDB never sees it.
const BARRIER_KEY = '\xfftresor-barrier\xff'

/** Make every write to `db` so far durable: one fsync'd LevelDB write covers the log before it. */
export function syncBarrier(db: Db): Promise<void> {
  return guarded(
    db,
    () =>
      new Promise((resolve, reject) =>
        levelOf(db).put(BARRIER_KEY, String(Date.now()), { sync: true }, (err) => (err ? reject(err) : resolve()))
      ),
    true
  )
}

/** Atomic write of raw keys beside PouchDB's data (one LevelDB batch; durable with `sync` or a later barrier). */
export function rawBatch(db: Db, ops: RawOp[], sync = false): Promise<void> {
  if (ops.length === 0) return Promise.resolve()
  return guarded(
    db,
    () => new Promise((resolve, reject) => levelOf(db).batch(ops, { sync }, (err) => (err ? reject(err) : resolve()))),
    true
  )
}

/** A raw key's value, or null. */
export function rawGet(db: Db, key: string): Promise<string | null> {
  return guarded(
    db,
    () =>
      new Promise((resolve, reject) =>
        levelOf(db).get(key, { asBuffer: false }, (err, value) => {
          if (err)
            return /^NotFound/i.test(err.message) && !/\.(ldb|log|sst)\b/.test(err.message)
              ? resolve(null)
              : reject(err)
          resolve(value ?? null)
        })
      )
  )
}

/** Several raw keys' values in one request (null where absent). */
export function rawGetMany(db: Db, keys: string[]): Promise<(string | null)[]> {
  if (keys.length === 0) return Promise.resolve([])
  return guarded(
    db,
    () =>
      new Promise((resolve, reject) =>
        levelOf(db).getMany(keys, { asBuffer: false }, (err, values) =>
          err ? reject(err) : resolve((values ?? []).map((v) => v ?? null))
        )
      )
  )
}

/** Raw entries with keys in (gt, lt), in key order (or reversed), in pages. */
export function rawRange(
  db: Db,
  range: { gt: string; lt: string; reverse?: boolean; limit?: number },
  pageSize = 1000
): AsyncGenerator<[string, string][]> {
  return rawPages(db, range, pageSize, true, (key, value): [string, string] => [key, value])
}

/**
 * Pages of what `entry` makes of each raw entry in the range. A page is read in one request (LevelDB's iterator
 * hands entries over from its own batches), not one promise an entry; without `keys` the key is ''.
 */
async function* rawPages<T>(
  db: Db,
  range: { gt: string; lt: string; reverse?: boolean; limit?: number },
  pageSize: number,
  keys: boolean,
  entry: (key: string, value: string) => T
): AsyncGenerator<T[]> {
  const it = levelOf(db).iterator({
    ...range,
    limit: range.limit ?? -1,
    keys,
    keyAsBuffer: false,
    valueAsBuffer: false,
    highWaterMark: 1 << 20
  })
  // An open iterator keeps LevelDB from being closed under it (that crashes the addon), damaged or not.
  const done = db instanceof GuardedDb ? db.track() : () => undefined
  const nextPage = () =>
    guarded(
      db,
      () =>
        new Promise<T[]>((resolve, reject) => {
          const page: T[] = []
          const step = (err: Error | null | undefined, key?: string, value?: string): void => {
            if (err) return reject(err)
            if (key === undefined) return resolve(page) // the end of the range
            page.push(entry(key, value!))
            if (page.length >= pageSize) return resolve(page)
            it.next(step)
          }
          it.next(step)
        })
    )
  try {
    for (;;) {
      const page = await nextPage()
      if (page.length > 0) yield page
      if (page.length < pageSize) return
    }
  } finally {
    await new Promise<void>((resolve) => it.end(() => resolve()))
    done()
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
 * With `afterSeq`, only the bodies written after that update sequence.
 */
export async function* storedBodies(db: Db, pageSize = 1000, afterSeq = 0): AsyncGenerator<Doc[]> {
  for await (const page of storedBodyTexts(db, pageSize, afterSeq)) yield page.map(parseBody)
}

/** storedBodies as the JSON text PouchDB stored, unparsed (the verify workers parse it). */
export function storedBodyTexts(db: Db, pageSize = 1000, afterSeq = 0): AsyncGenerator<string[]> {
  // The adapter's sequence keys: 16 digits, zero-padded (pouchdb-adapter-leveldb-core's formatSeq).
  const gt = afterSeq > 0 ? BY_SEQ_LO + String(afterSeq).padStart(16, '0') : BY_SEQ_LO
  return rawPages(db, { gt, lt: BY_SEQ_HI }, pageSize, false, (_, value) => value)
}

// Loaded when the first database opens: a CLI call that asks a running daemon never loads PouchDB or LevelDB.
const leveldown = lazyPackage<unknown>('leveldown')
const pouchCore = lazyPackage<typeof PouchDBCore>('pouchdb-core')
const levelAdapter = lazyPackage<unknown>('pouchdb-adapter-leveldb')
let plugged: typeof PouchDBCore | null = null
/** PouchDB with the LevelDB adapter (hosts add their plugins to it: sync adds HTTP and replication). */
export function pouchDB(): typeof PouchDBCore {
  if (!plugged) {
    deferPouchFetch()
    deferLevel()
  }
  return (plugged ??= pouchCore().plugin(levelAdapter()))
}

/** Puts `exports` in Node's documented require.cache as the module at `path`, so a require of it loads nothing. */
function standIn(path: string, exports: unknown): void {
  const stand = new Module(path)
  stand.filename = path
  stand.loaded = true
  stand.exports = exports
  requireHere.cache[path] = stand
}

/**
 * pouchdb-adapter-leveldb 9.0.0 requires `level` at load (level-packager, encoding-down, a second levelup and a second
 * native leveldown, ~15 ms of every local open) and calls it in one place only: migrating a database from PouchDB's
 * pre-2014 layout, found by a `<name>.uuid` file beside it. It is registered as a function that loads the real
 * package on its first call and hands it the same arguments. Any other adapter version is left to load as it is.
 */
function deferLevel(): void {
  const adapter = requireHere.resolve('pouchdb-adapter-leveldb')
  const fromAdapter = createRequire(adapter)
  const path = fromAdapter.resolve('level')
  if (requireHere.cache[path]) return
  const version = (fromAdapter('../package.json') as { version?: string }).version
  if (version !== '9.0.0') return
  let real: ((...args: unknown[]) => unknown) | null = null
  standIn(path, function level(...args: unknown[]) {
    if (!real) {
      delete requireHere.cache[path] // the stand-in steps aside for the package itself
      real = fromAdapter('level') as (...args: unknown[]) => unknown
    }
    return real(...args)
  })
}

/**
 * pouchdb-core requires pouchdb-fetch at load, which loads node-fetch and fetch-cookie (with tough-cookie and psl):
 * ~90 ms of every local vault open, for an HTTP client only sync uses. pouchdb-core and the HTTP adapter read its
 * `fetch` and `Headers` only when they make a request, so the module is registered (Node's documented require.cache)
 * as the same two exports built the same way — fetch-cookie over node-fetch, exactly pouchdb-fetch 9.0.0's own code —
 * on first use instead of at load. Any other pouchdb-fetch version is left to load as it is.
 */
function deferPouchFetch(): void {
  const fromCore = createRequire(requireHere.resolve('pouchdb-core'))
  const path = fromCore.resolve('pouchdb-fetch')
  if (requireHere.cache[path]) return
  const fromFetch = createRequire(path)
  const version = (fromFetch('../package.json') as { version?: string }).version
  if (version !== '9.0.0') return
  const interop = (m: unknown) =>
    m !== null && typeof m === 'object' && 'default' in m ? (m as { default: unknown }).default : m
  let real: { fetch: unknown; Headers: unknown } | null = null
  const load = () => {
    if (!real) {
      const nodeFetch = fromFetch('node-fetch') as { Headers: unknown }
      const fetchCookie = interop(fromFetch('fetch-cookie')) as (f: unknown) => unknown
      real = { fetch: fetchCookie(interop(nodeFetch)), Headers: nodeFetch.Headers }
    }
    return real
  }
  standIn(
    path,
    Object.defineProperties(
      {},
      {
        __esModule: { value: true },
        fetch: { enumerable: true, get: () => load().fetch },
        Headers: { enumerable: true, get: () => load().Headers }
      }
    )
  )
}

/**
 * The part of PouchDB's database API that Tresor uses (typed here, not by @types/pouchdb, whose globals clash with
 * Node's Buffer).
 */
export interface Doc {
  _id: string
  _rev?: string
  _deleted?: boolean
  [field: string]: unknown
}
export interface AllDocsOptions {
  startkey?: string
  endkey?: string
  descending?: boolean
  limit?: number
  skip?: number
  include_docs?: boolean
  keys?: string[]
  /** With include_docs: each document's other live leaf revisions, as `_conflicts`. */
  conflicts?: boolean
}
export interface AllDocsRow {
  id: string
  key: string
  value: { rev: string; deleted?: boolean }
  doc?: Doc
  error?: string
}
export interface ChangesOptions {
  since: number | string
  limit?: number
  include_docs?: boolean
  /** With include_docs: each document's other live leaf revisions, as `_conflicts`. */
  conflicts?: boolean
}
export interface ChangesResult {
  results: { id: string; seq: number | string; deleted?: boolean; doc?: Doc }[]
  last_seq: number | string
}
export interface WriteResult {
  ok?: boolean
  id: string
  rev?: string
  error?: string | boolean
  status?: number
  reason?: string
}
export interface Db {
  name: string
  info(): Promise<{ doc_count: number; update_seq: number | string }>
  /** The winning revision, or with `rev` that revision. */
  get(id: string, options?: { rev: string }): Promise<Doc>
  put(doc: Doc): Promise<WriteResult>
  remove(id: string, rev: string): Promise<WriteResult>
  bulkDocs(docs: Doc[], options?: { new_edits?: boolean }): Promise<WriteResult[]>
  allDocs(options: AllDocsOptions): Promise<{ rows: AllDocsRow[]; total_rows: number }>
  changes(options: ChangesOptions): Promise<ChangesResult>
  close(): Promise<void>
  destroy(): Promise<void>
}

/**
 * Open a device database at `path` (LevelDB), or create it when the folder is
 * absent or empty; a folder that holds a database is opened as it is, never
 * created over (and a broken one is not opened at all: the returned database
 * is damaged from the start). Writes are durable after `syncBarrier`. Every
 * call is guarded (core/storage.ts).
 */
export function openDb(
  path: string,
  opts: {
    mustExist?: boolean
    /** a reopen of a database this process just had open, undamaged: no copy first */ again?: boolean
  } = {}
): GuardedDb {
  let state: 'new' | 'existing'
  try {
    state = inspectLevelDir(path)
    // A database that should be there (a vault's log) is never made anew under it: that would be an empty history.
    if (state === 'new' && opts.mustExist)
      throw STORAGE_DAMAGED(
        `${path} is missing or empty, though the vault file says a vault lives here; nothing was created or changed: \`tresor recover\` rebuilds the vault from the journal and peers`
      )
  } catch (err) {
    return GuardedDb.damaged(path, err as VaultError)
  }
  let before: string[] | null = null
  try {
    before = state === 'existing' && !opts.again ? keepBeforeOpen(path) : null
  } catch (err) {
    // No copy, no open: an open that could not be undone is not risked (a full disk lets LevelDB write nothing either).
    dropOpenCopy(path)
    return GuardedDb.damaged(
      path,
      storageFailure(err, path) ??
        STORAGE_DAMAGED(`${path} could not be prepared for opening: ${(err as Error).message}; nothing was changed`)
    )
  }
  if (!before) mkdirSync(path, { recursive: true, mode: 0o700 }) // LevelDB would make it with the process's umask
  return new GuardedDb(
    path,
    new (pouchDB())(path, { adapter: 'leveldb', db: TresorLevelDOWN, createIfMissing: state === 'new' }) as Db,
    before
  )
}

/**
 * A database whose calls turn storage failures into a state: once damaged,
 * every pending and later call fails with the same STORAGE_DAMAGED error and
 * `onDamage` listeners hear of it. A full disk (STORAGE_FULL) fails the call
 * and nothing more: the next one tries again.
 */
export class GuardedDb implements Db, Damageable {
  private failure: VaultError | null = null
  private readonly pending = new Set<(err: VaultError) => void>()
  private readonly listeners: ((err: VaultError) => void)[] = []
  /** Calls in flight (they keep the process alive; closing waits a while for them). */
  private inflight = 0
  private drained: (() => void)[] = []
  /** Raw iterators Tresor holds open: LevelDB is never closed under one (using it after would crash the addon). */
  private iterators = 0
  private iteratorsDone: (() => void)[] = []

  /**
   * Whether anything was written since the open (then an open that found damage is not undone: the writes matter more).
   */
  private wrote = false
  private closing: Promise<void> | null = null

  /** `before`: the folder's files before this open, when it opened an existing database. */
  constructor(
    readonly name: string,
    private pouch: Db | null,
    private readonly before: string[] | null = null
  ) {
    registerDb(this)
  }

  /**
   * Close and open the database again (after a write failed for lack of
   * space: LevelDB refuses every later write until it is reopened). Nothing
   * happens to a damaged database.
   */
  async reopen(): Promise<void> {
    if (this.failure || !this.pouch) return
    await this.closeNative(true)
    if (this.pouch) return // an iterator is still open: try again later
    const fresh = openDb(this.name, { again: true })
    unregisterDb(fresh)
    if (fresh.failure) {
      this.markDamaged(fresh.failure)
      return
    }
    this.pouch = fresh.pouch
  }

  static damaged(path: string, err: VaultError): GuardedDb {
    const db = new GuardedDb(path, null)
    db.failure = err
    return db
  }

  /** The PouchDB instance (replication needs the real one). */
  get raw(): Db {
    if (!this.pouch) throw this.failure ?? STORAGE_DAMAGED(`${this.name} is closed`)
    return this.pouch
  }

  get damage(): VaultError | null {
    return this.failure
  }
  get busy(): boolean {
    return this.pending.size > 0
  }

  onDamage(fn: (err: VaultError) => void): void {
    this.listeners.push(fn)
    if (this.failure) fn(this.failure)
  }

  markDamaged(err: VaultError): void {
    if (this.failure) return
    this.failure = err
    for (const reject of [...this.pending]) reject(err)
    this.pending.clear()
    // Every caller has its answer; a call LevelDB never finishes must not keep the process alive.
    if (this.alive) clearInterval(this.alive)
    this.alive = null
    for (const fn of this.listeners) fn(err)
    // Stop LevelDB's own work on the damaged files (its close ends the iterators PouchDB left open) once ours are
    // ended,
    // and put the folder back as this open found it.
    this.closing ??= this.closeNative(false)
  }

  /**
   * Close the PouchDB database (and LevelDB under it) once Tresor's own
   * iterators have ended; a call stuck on a damaged file gets a short grace
   * and then its answer from the closed database. Also ends PouchDB's cache
   * entry for the path, so a database made there later (recovery) is a new one.
   */
  private async closeNative(keepAlive: boolean): Promise<void> {
    const pouch = this.pouch
    if (!pouch) return
    await this.settled(this.failure ? 1_000 : 30_000, keepAlive)
    if (this.iterators > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 10_000)
        if (!keepAlive) timer.unref()
        this.iteratorsDone.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
    if (this.iterators > 0) return // left to the process's exit rather than closed under
    if (this.pouch === pouch) this.pouch = null
    const closed = await pouch.close().then(
      () => true,
      () => false
    )
    if (!this.before) return
    try {
      if (this.failure?.code !== 'STORAGE_DAMAGED') {
        if (closed) keepOpenCopy(this.name)
      }
      // Closed: the folder goes back as this open found it. Not closed (the open itself failed): LevelDB changed
      // nothing but its info log.
      else if (!this.wrote) {
        if (closed) undoOpen(this.name, this.before)
        else dropOpenCopy(this.name)
      }
      // Damage found after writes: the copy from this open stays beside the other for recovery.
    } catch {
      /* the copies stay beside the database for recovery */
    }
  }

  /** Whether every call LevelDB was running has come back within `ms` (one whose stream died never does). */
  private settled(ms: number, keepAlive = false): Promise<boolean> {
    if (this.inflight === 0) return Promise.resolve(true)
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms)
      if (!keepAlive) timer.unref()
      this.drained.push(() => {
        clearTimeout(timer)
        resolve(true)
      })
    })
  }

  private call<T>(run: (db: Db) => Promise<T>, write = false): Promise<T> {
    if (this.failure || !this.pouch) return Promise.reject(this.failure ?? INTERNAL(`${this.name} is closed`))
    if (write) this.wrote = true
    const db = this.pouch
    return new Promise<T>((resolve, reject) => {
      const fail = (err: VaultError) => {
        this.pending.delete(fail)
        reject(err)
      }
      this.pending.add(fail)
      this.hold()
      const ran = run(db)
      void ran.then(
        () => this.settle(),
        () => this.settle()
      )
      ran.then(
        (value) => {
          this.pending.delete(fail)
          resolve(value)
        },
        (err) => {
          this.pending.delete(fail)
          const failure = storageFailure(err, this.name)
          if (failure?.code === 'STORAGE_DAMAGED') this.markDamaged(failure)
          reject(failure ?? err)
        }
      )
    })
  }

  info() {
    return this.call((db) => db.info())
  }
  get(id: string, options?: { rev: string }) {
    return this.call((db) => (options ? db.get(id, options) : db.get(id)))
  }
  put(doc: Doc) {
    return this.call((db) => db.put(doc), true)
  }
  remove(id: string, rev: string) {
    return this.call((db) => db.remove(id, rev), true)
  }
  bulkDocs(docs: Doc[], options?: { new_edits?: boolean }) {
    return this.call((db) => db.bulkDocs(docs, options), true)
  }
  allDocs(options: AllDocsOptions) {
    return this.call((db) => db.allDocs(options))
  }
  changes(options: ChangesOptions) {
    return this.call((db) => db.changes(options))
  }
  destroy() {
    return this.call((db) => db.destroy(), true)
  }

  /** Count an open raw iterator (a call in flight too) until the returned function is called. */
  track(): () => void {
    this.hold()
    this.iterators++
    let once = false
    return () => {
      if (once) return
      once = true
      if (--this.iterators === 0) for (const fn of this.iteratorsDone.splice(0)) fn()
      this.settle()
    }
  }

  /**
   * A call in flight keeps the process alive: LevelDB reports some failures
   * (a damaged table under a changes feed) only after the event loop would
   * otherwise have emptied, and a process that ended then would end
   * mid-command with nothing said.
   */
  private hold(): void {
    if (this.inflight++ === 0 && !this.failure) this.alive = setInterval(noop, 60_000)
  }

  private alive: ReturnType<typeof setInterval> | null = null

  private settle(): void {
    if (--this.inflight > 0) return
    if (this.alive) clearInterval(this.alive)
    this.alive = null
    for (const fn of this.drained.splice(0)) fn()
  }

  /** Closing always returns, damaged or not (see closeNative). */
  async close(): Promise<void> {
    unregisterDb(this)
    this.closing ??= this.closeNative(true)
    // a close begun by markDamaged waits on unref'd timers: the caller of close waits for it
    const alive = setInterval(noop, 1_000)
    try {
      await this.closing
    } finally {
      clearInterval(alive)
    }
  }

  /** Run a raw LevelDB operation under the same guard (`write`: it changes the database). */
  guard<T>(run: () => Promise<T>, write = false): Promise<T> {
    return this.call(() => run(), write)
  }
}
