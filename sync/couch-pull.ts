/**
 * The server's documents read straight from its changes feed, for the ingestion gate (sync/couch-sync.ts), instead of
 * replicated into staging first: each page goes to the gate as it arrives while the next one is on its way, and only
 * what the gate cannot judge yet (events waiting for a predecessor) is written to staging. A pulled event is written
 * once, by the gate, to the log.
 *
 * Where to resume is this device's own point in the server's feed, kept twice as PouchDB's replicator keeps its
 * checkpoints: in the sync state and as a `_local` document on the server. A point the server does not confirm (a
 * server restored from a backup, replaced, or simply another database at the same address) is not trusted: the
 * feed is read from the start again and the gate finds what it already holds (duplicates cost a read, not a write).
 * Nothing here decides what is taken in: a forged point only costs a re-read.
 */
import { randomBytes } from 'node:crypto'
import { LIMITS, REMOTE_REFUSED, type Db, type Doc } from '../core/index.js'

/** Where this device is in one server's changes feed. */
export interface PullPoint {
  /** Random, per device and server: names the `_local` document the server keeps the point in. */
  session: string
  seq: number | string
  /** Whether the server holds the point too (a user without write rights cannot keep `_local` documents). */
  confirmed: boolean
}

export const PULL_PAGE = 500

const localId = (session: string) => `_local/tresor-pull-${session}`
/** The counter a CouchDB sequence starts with (CouchDB 2+: `N-opaque`; PouchDB servers: a number). */
const counterOf = (seq: number | string): number => (typeof seq === 'number' ? seq : Number.parseInt(seq, 10))
/** Sequences are numbers or strings (isSeq); a server may answer a number asked for as text. */
const sameSeq = (a: number | string, b: unknown) => String(a) === String(b)

/**
 * Where to read the server's feed from: this device's point if the server confirms it (its `_local` document names
 * the same sequence) and has not gone back behind it, else from the start under a new session.
 */
/** A new session: names the `_local` document a point is kept in on the server. */
export const newSession = () => randomBytes(12).toString('hex')

export async function resumePoint(remote: Db, point: PullPoint | undefined): Promise<PullPoint> {
  const fresh: PullPoint = { session: newSession(), seq: 0, confirmed: false }
  if (!point || !isSeq(point.seq) || typeof point.session !== 'string' || !/^[0-9a-f]{24}$/.test(point.session))
    return fresh
  const info = await remote.info()
  if (counterOf(info.update_seq) < counterOf(point.seq)) return fresh // it serves fewer changes than we read
  if (!point.confirmed) return point
  const held = await remote.get(localId(point.session)).catch(() => null)
  return held && isSeq(held.seq) && sameSeq(point.seq, held.seq) ? point : fresh
}

/**
 * Keep the point on the server. `confirmed` is false when the server refuses (no write rights), which leaves the point
 * this device's alone; `rev` is the `_local` document's revision, for the next write without a read.
 */
export async function keepPoint(
  remote: Db,
  session: string,
  seq: number | string,
  rev?: string
): Promise<{ confirmed: boolean; rev?: string }> {
  const id = localId(session)
  const write = async (r: string | undefined) => remote.put({ _id: id, ...(r ? { _rev: r } : {}), seq })
  try {
    const res = await write(rev).catch(async (err: { status?: number }) => {
      if (err.status !== 409) throw err
      return write(((await remote.get(id).catch(() => null)) as Doc | null)?._rev) // the revision moved: read it
    })
    return { confirmed: true, ...(typeof res.rev === 'string' ? { rev: res.rev } : {}) }
  } catch (err) {
    const status = (err as { status?: number }).status
    if (status === 401 || status === 403) return { confirmed: false }
    throw err
  }
}

export interface FeedPage {
  /** Every live leaf of each document served, and deletions (the gate quarantines those of events). */
  docs: Doc[]
  /** Rows that are not a document at all (no id or revision): what the server served, for quarantine. */
  malformed: unknown[]
  lastSeq: number | string
}

/**
 * Read the feed after `since` a page at a time, the next page requested while `onPage` handles this one. Ends at a
 * short page, or when the server stops advancing its sequence (a server serving one page over and over).
 */
export async function readFeed(
  remote: Db,
  since: number | string,
  onPage: (page: FeedPage) => Promise<void>
): Promise<{ read: number; lastSeq: number | string }> {
  let limit = PULL_PAGE
  const fetchPage = async (from: number | string): Promise<FeedPage & { rows: number; asked: number }> => {
    const asked = limit
    const res = await changesPage(remote, from, asked).catch((err: unknown) => {
      // a page of large events: asked again for fewer rows (to one), each answer still within the bound
      if (!(err instanceof PageTooLarge) || asked === 1) throw err
      limit = Math.max(1, Math.floor(asked / 8))
      return null
    })
    if (res === null) return fetchPage(from)
    const rows: unknown[] = Array.isArray(res?.results) ? res.results : []
    const docs: Doc[] = []
    const malformed: unknown[] = []
    for (const row of rows) {
      const doc = (row as { doc?: unknown } | null)?.doc
      if (!isDoc(doc)) {
        malformed.push(row)
        continue
      }
      const { _conflicts: others, ...winner } = doc
      docs.push(winner)
      // the other live leaves, each by revision (rare: only a server holding conflicting revisions lists any); a leaf
      // it lists and will not serve is not there to judge
      if (Array.isArray(others))
        for (const rev of others) {
          if (typeof rev !== 'string') continue
          const leaf = await remote.get(doc._id, { rev }).catch(() => null)
          if (isDoc(leaf) && leaf._id === doc._id && leaf._rev === rev) docs.push(leaf)
        }
    }
    const lastSeq = isSeq(res?.last_seq) ? res.last_seq : from
    return { docs, malformed, lastSeq, rows: rows.length, asked }
  }
  let read = 0
  let at = since
  let next = fetchPage(at)
  for (;;) {
    const page = await next
    const more = page.rows >= page.asked && !sameSeq(page.lastSeq, at)
    if (more) next = fetchPage(page.lastSeq)
    // a page failing while this one is judged ends the read, after this one (its error is the caller's)
    else next = Promise.resolve({ docs: [], malformed: [], lastSeq: page.lastSeq, rows: 0, asked: 0 })
    const judged = onPage(page)
    if (more) next.catch(() => undefined) // awaited below; not unhandled while the page is judged
    await judged
    read += page.rows
    at = page.lastSeq
    if (!more) return { read, lastSeq: at }
  }
}

/**
 * Largest answer read for one page (two can be held at once, one judged and one arriving): 8 MiB, a page of honest
 * events many times over; a page of large events is asked for again with fewer rows, down to one, which the largest
 * event the gate takes fits many times over.
 */
export const MAX_PAGE_BYTES = Math.max(8 * 2 ** 20, 4 * LIMITS.maxEventBytes)

class PageTooLarge extends Error {}

/**
 * One page of the feed, read as the server sent it (not through PouchDB's changes, which would trip over a row that
 * is no object): `{ results, last_seq }` or whatever else the server says, for the caller to take apart.
 */
async function changesPage(
  remote: Db,
  since: number | string,
  limit: number
): Promise<{ results?: unknown; last_seq?: unknown }> {
  const query = `since=${encodeURIComponent(String(since))}&limit=${limit}&include_docs=true&conflicts=true`
  const res = await (remote as unknown as Fetching).fetch(`_changes?${query}`, { method: 'GET' })
  if (!res.ok) throw REMOTE_REFUSED(`the server refused its changes feed (HTTP ${res.status})`)
  // read as it comes, and no further than the bound: a server can send a page of any size
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of res.body ?? []) {
    size += chunk.length
    if (size > MAX_PAGE_BYTES) {
      if (limit > 1) throw new PageTooLarge()
      throw REMOTE_REFUSED(
        `the server sent a changes page of one row of more than ${MAX_PAGE_BYTES} bytes; nothing of it was read`
      )
    }
    chunks.push(Buffer.from(chunk))
  }
  const text = Buffer.concat(chunks).toString('utf8')
  try {
    const page = JSON.parse(text) as unknown
    return typeof page === 'object' && page !== null ? page : {}
  } catch {
    throw REMOTE_REFUSED('the server sent a changes page that is not JSON')
  }
}

/** The HTTP adapter's own request, with the database's address and credentials. */
interface Fetching {
  fetch(
    path: string,
    options: { method: string }
  ): Promise<{ ok: boolean; status: number; body: AsyncIterable<Uint8Array> | null }>
}

function isDoc(doc: unknown): doc is Doc {
  const d = doc as Doc | null
  return (
    typeof d === 'object' &&
    d !== null &&
    typeof d._id === 'string' &&
    typeof d._rev === 'string' &&
    /^\d{1,15}-[0-9a-z]{1,128}$/i.test(d._rev)
  )
}

function isSeq(seq: unknown): seq is number | string {
  return (typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 0) || (typeof seq === 'string' && seq !== '')
}
