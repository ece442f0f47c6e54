/**
 * PouchDB for talking to a CouchDB-protocol server: the core's PouchDB with
 * the HTTP adapter and replication added (sync builds on core, never the
 * reverse). Credentials go in the request options, never into a URL that
 * could end up in a log or an error message.
 */
import {
  BAD_ARGUMENT,
  GuardedDb,
  lazyPackage,
  openDb,
  pouchDB,
  UNREACHABLE,
  VaultError,
  type Db,
  type Doc
} from '../core/index.js'

export const unwrap = (db: Db): Db => (db instanceof GuardedDb ? db.raw : db)

/** A promise whose `then` without a rejection handler marks the promise it derives as handled (see remoteDb). */
class HandledPromise<T> extends Promise<T> {
  override then<A = T, B = never>(
    onFulfilled?: ((value: T) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null
  ): Promise<A | B> {
    const derived = super.then(onFulfilled, onRejected)
    // the derived promise still rejects for whoever chains on it; only "nobody handled it" is ruled out
    if (!onRejected) Promise.prototype.catch.call(derived, () => undefined)
    return derived
  }
}

const httpAdapter = lazyPackage<unknown>('pouchdb-adapter-http')
const replication = lazyPackage<unknown>('pouchdb-replication')
let plugged: ReturnType<typeof pouchDB> | null = null
/** The core's PouchDB with the HTTP adapter and replication, plugged in the first time a remote is used. */
function remotePouch(): ReturnType<typeof pouchDB> {
  return (plugged ??= pouchDB().plugin(httpAdapter()).plugin(replication()))
}

export interface Credentials {
  username: string
  password: string
}

export interface ReplicationResult {
  ok: boolean
  docs_read: number
  docs_written: number
  doc_write_failures: number
  errors: unknown[]
}

export interface Denied {
  id: string
  reason: string
}

type ReplicateFn = (
  source: unknown,
  target: unknown,
  options: Record<string, unknown>
) => Promise<ReplicationResult> & {
  on(event: 'denied', cb: (err: { id?: string; message?: string; reason?: string }) => void): unknown
  on(event: 'change', cb: (info: { docs?: Doc[] }) => void): unknown
}

/** A handle on a remote database. `url` is the database URL without credentials. */
export function remoteDb(url: string, credentials?: Credentials): Db {
  const parsed = new URL(url)
  if (parsed.username || parsed.password)
    throw BAD_ARGUMENT('put credentials in the credentials option, not in the URL')
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw BAD_ARGUMENT('a CouchDB URL is http: or https:')
  const db = new (remotePouch())(url, {
    adapter: 'http',
    skip_setup: true,
    ...(credentials ? { auth: credentials } : {})
  }) as Db
  // pouchdb-replication 9.0.0 calls `src.info().then(...)` for its progress figures and drops the result: when the
  // server dies mid-replication, the promise that `.then` derives rejects with nobody to handle it, which would end
  // the process (catching `info()`'s own promise does not reach the derived one). info() answers with a promise
  // whose derived promises are marked handled when their caller gave no rejection handler; a caller that awaits or
  // chains still sees the error, as replication's own chains do.
  const info = db.info.bind(db) as (...args: unknown[]) => Promise<unknown>
  ;(db as unknown as { info: typeof info }).info = (...args) => HandledPromise.resolve(info(...args))
  return db
}

/**
 * One-shot replication that reports each refused document instead of skipping
 * it silently; `onBatch` sees each batch of documents as it is written.
 */
export async function replicate(
  source: Db,
  target: Db,
  options: Record<string, unknown> = {},
  onBatch?: (docs: Doc[]) => void
): Promise<{ result: ReplicationResult; denied: Denied[] }> {
  const denied: Denied[] = []
  // Replication drives the PouchDB instances themselves (events, live changes), not the guarded wrappers.
  const run = (remotePouch() as unknown as { replicate: ReplicateFn }).replicate(unwrap(source), unwrap(target), {
    batch_size: 500,
    batches_limit: 4,
    ...options
  })
  run.on('denied', (err) =>
    denied.push({ id: String(err?.id ?? ''), reason: String(err?.reason ?? err?.message ?? 'denied') })
  )
  if (onBatch)
    run.on('change', (info) => {
      if (info.docs?.length) onBatch(info.docs)
    })
  const result = await run
  return { result, denied }
}

type LiveReplication = {
  on(event: 'change', cb: (info: { docs?: Doc[]; last_seq?: number | string }) => void): LiveReplication
  on(event: 'paused', cb: (err?: unknown) => void): LiveReplication
  on(event: 'active', cb: () => void): LiveReplication
  on(event: 'denied', cb: (err: { id?: string; message?: string; reason?: string }) => void): LiveReplication
  on(event: 'error' | 'complete', cb: (err?: unknown) => void): LiveReplication
  cancel(): void
}

/**
 * Continuous replication (the source's changes feed, long-polled, with PouchDB's own retry and backoff): `on.change`
 * after each written batch, `on.state` as it goes idle (caught up), retries after an error, resumes, or ends for
 * good. Returns the stop.
 */
export function replicateLive(
  source: Db,
  target: Db,
  on: {
    /** After each batch is written, with the source's sequence it was written up to. */
    change: (lastSeq: number | string | undefined) => void
    state: (state: 'caught-up' | 'active' | 'retrying' | 'ended', error?: string) => void
    denied: (d: Denied) => void
  },
  backOff: (delay: number) => number,
  /** Where in the source's feed to start (the replication's own checkpoints otherwise). */
  since?: number | string
): () => void {
  const run = (
    remotePouch() as unknown as { replicate: (s: unknown, t: unknown, o: object) => LiveReplication }
  ).replicate(unwrap(source), unwrap(target), {
    live: true,
    retry: true,
    batch_size: 500,
    batches_limit: 4,
    heartbeat: 10_000,
    back_off_function: backOff,
    ...(since !== undefined ? { since } : {})
  })
  const message = (err: unknown) => (err as { message?: string; reason?: string })?.message ?? String(err)
  run
    .on('change', (info) => on.change(info?.last_seq))
    .on('paused', (err) => (err ? on.state('retrying', message(err)) : on.state('caught-up')))
    .on('active', () => on.state('active'))
    .on('denied', (err) =>
      on.denied({ id: String(err?.id ?? ''), reason: String(err?.reason ?? err?.message ?? 'denied') })
    )
    .on('error', (err) => on.state('ended', message(err)))
    .on('complete', () => on.state('ended'))
  return () => run.cancel()
}

export { openDb }

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH'
])

/**
 * Run an exchange with the server at `url`; a failure to reach it (refused, unknown host, timeout, reset) becomes
 * UNREACHABLE naming the server (its address only: credentials never travel in a URL here) instead of an internal
 * error. Anything else passes as it is.
 */
export async function reaching<T>(url: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (err instanceof VaultError) throw err
    const e = err as { code?: unknown; message?: unknown; cause?: { code?: unknown } }
    const code = [e.code, e.cause?.code].find((c) => typeof c === 'string' && NETWORK_CODES.has(c))
    if (code === undefined && !/fetch failed|socket hang up/.test(String(e.message))) throw err
    const where = (() => {
      try {
        return new URL(url).origin
      } catch {
        return 'the server' // not a URL: serverUrl refused it before any exchange
      }
    })()
    throw UNREACHABLE(
      `could not reach ${where} (${String(code ?? e.message)}): nothing was exchanged; try again when it is up`
    )
  }
}
