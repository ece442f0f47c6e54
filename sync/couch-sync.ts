/**
 * Sync with a CouchDB (or any CouchDB-protocol server). The server is not
 * trusted: a round reads the server's changes feed and only what the ingestion
 * gate admits reaches the vault; what waits for a predecessor is kept in a
 * staging database (where a follower's replication writes too, sync/couch-
 * follow.ts); each decision leaves a receipt, quarantined input is kept with
 * its reason. Pushes that the server refuses are reported and
 * retried by comparing heads. A server that serves less than it served before
 * (rollback, truncation) is reported and nothing of it is applied.
 */
import { join } from 'node:path'
import {
  EVENT_PREFIX,
  eventDocId,
  gateSlices,
  idRange,
  INTERNAL,
  isEventLikeId,
  makeIncident,
  parseEventDocId,
  REMOTE_REFUSED,
  sha256Hex,
  sharedChecker,
  type Db,
  type Doc,
  type EventChecker,
  type IncidentMark,
  type Vault,
  type Verdict
} from '../core/index.js'
import { ensureDesignDoc } from './design-doc.js'
import { openDb, remoteDb, type Credentials, type Denied } from './remote.js'
import { keepPoint, newSession, readFeed, resumePoint } from './couch-pull.js'
import { freshState, loadSyncState, saveSyncState, type SyncState } from './sync-state.js'

import { bookOf, reportIncidents } from './incidents.js'
import { oneRevisionEach, withLeaves } from './leaves.js'
import { pushBlobs, takeBlobs, type BlobRound } from './couch-blobs.js'

/** Sync status as every host shows it. Served by sync's host extension (sync/methods.ts). */
export interface SyncStatus {
  url: string | null
  user: string | null
  online: boolean
  /** Local events the server is not known to hold. */
  pendingUp: number
  /** Pulled events waiting in staging for a predecessor or a membership commit. */
  pendingDown: number
  quarantine: number
  lastSuccess: string | null
  lastError: string | null
  lastRollback: { at: string; message: string } | null
  denied: { id: string; reason: string }[]
  design: string | null
  /** While a follower holds the connection (serve --sync, the app): what it is doing; null when syncing by rounds. */
  live?: LiveStatus | null
}

/** What a device's signed status says of its sync (core/devices.ts). */
export const syncStanding = (s: SyncStatus) => ({
  online: s.online,
  pendingUp: s.pendingUp,
  pendingDown: s.pendingDown,
  lastSuccess: s.lastSuccess
})

/** What a follower is doing (sync/couch-follow.ts). */
export interface LiveStatus {
  /** starting: the first round; following: on the changes feed; retrying: the server is unreachable. */
  phase: 'starting' | 'following' | 'retrying' | 'stopped'
  since: string
  /** When the next attempt is due while retrying. */
  retryAt: string | null
  error: string | null
  /** Events taken in and sent since the follower started. */
  admitted: number
  pushed: number
  lastChange: string | null
}

export const STAGING_DB = 'staging.db'

/** The event slots a server served in one round's pull (not deletions), per feed, and how far each is served whole. */
class Served {
  private readonly slots = new Map<string, Set<number>>()

  add(docs: Doc[]): void {
    for (const d of docs) {
      const slot = d._deleted ? null : parseEventDocId(d._id)
      if (!slot) continue
      const seqs = this.slots.get(slot.author)
      if (seqs) seqs.add(slot.seq)
      else this.slots.set(slot.author, new Set([slot.seq]))
    }
  }

  /** The largest K with slots 1..K of the feed all served. */
  prefix(author: string): number {
    const seqs = this.slots.get(author)
    let k = 0
    while (seqs?.has(k + 1)) k++
    return k
  }
}
export const INGEST_DB = 'ingest.db'

export interface SyncRound {
  pulled: number
  admitted: number
  duplicates: number
  quarantined: number
  waiting: number
  pushed: number
  denied: Denied[]
  rollback: string | null
  /** Ids of the sync.incident events this round signed (a rollback seen now, or one that waited for the key). */
  incidents: string[]
  design: string
  /** Document blobs: taken in from staging through the blob gate, sent, quarantined. */
  blobs: BlobRound
}

export interface GateCounts {
  admitted: number
  duplicates: number
  quarantined: number
  waiting: number
}

export interface QuarantineEntry {
  _id: string
  at: string
  source: string
  docId: string
  eventId: string
  code: string
  reason: string
  doc: unknown
}

const isEventLike = isEventLikeId

/** The slot a staged document speaks for (fork evidence speaks for the slot it forks). */
function slotOf(doc: Doc): string | null {
  if (doc._id.startsWith(EVENT_PREFIX)) return parseEventDocId(doc._id) ? doc._id : null
  const m = /^fork!([0-9a-f]{64})!(\d{12})!/.exec(doc._id)
  return m ? eventDocId(m[1]!, Number(m[2])) : null
}

export class CouchSync {
  private readonly staging: Db
  private readonly ingestDb: Db
  private readonly stagingHandle: SharedDb
  private readonly ingestHandle: SharedDb
  private state: SyncState
  private online = false
  private liveStatus: LiveStatus | null = null
  /** Rounds on one instance run one after another (the daemon's loop and a round asked for through the API). */
  private rounds: Promise<unknown> = Promise.resolve()
  /** Blob revisions the gate refused (quarantined once), and blobs the server was seen to hold. */
  private readonly blobsJudged = new Set<string>()
  private readonly blobsOnServer = new Set<string>()
  /** How far a follower's replication has written the server's feed into staging, not yet kept as the point. */
  private followed: number | string | null = null
  private pointRev: string | undefined

  private constructor(
    private readonly vault: Vault,
    private readonly remote: Db,
    private readonly options: { url: string; credentials?: Credentials; admin?: boolean },
    state: SyncState
  ) {
    this.stagingHandle = shareDb(join(vault.dir, STAGING_DB))
    this.ingestHandle = shareDb(join(vault.dir, INGEST_DB))
    this.staging = this.stagingHandle.db
    this.ingestDb = this.ingestHandle.db
    this.state = state
  }

  static async open(
    vault: Vault,
    options: { url: string; credentials?: Credentials; admin?: boolean }
  ): Promise<CouchSync> {
    const prior = await loadSyncState(vault.dir)
    const state = prior && prior.url === options.url ? prior : freshState(options.url, null)
    state.user = options.credentials?.username ?? null
    return new CouchSync(vault, remoteDb(options.url, options.credentials), options, state)
  }

  /** The server this instance syncs with. */
  get url(): string {
    return this.options.url
  }

  /** One round: check for rollback, pull into staging, gate, push, retry refused pushes, record. */
  async syncOnce(): Promise<SyncRound> {
    return this.exclusive(() => this.recordedRound())
  }

  /** Rounds, drains and checks run one after another on one instance (they share staging and the marks). */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.rounds.then(fn)
    this.rounds = run.catch(() => undefined) // the caller gets the error; the next one still runs
    return run
  }

  /** Where continuous replication writes (sync/couch-follow.ts): the server's documents, not yet judged. */
  get stagingDb(): Db {
    return this.staging
  }

  get remoteDb(): Db {
    return this.remote
  }

  /**
   * Judge what staging holds that no gate run judged yet (what continuous replication wrote since), then the waiting
   * documents again if anything was admitted. Crash-safe: the gate's mark moves only past what was judged.
   */
  async drainStaging(checker: EventChecker): Promise<GateCounts> {
    return this.exclusive(async () => {
      const counts: GateCounts = { admitted: 0, duplicates: 0, quarantined: 0, waiting: 0 }
      const waiting = new Set(this.state.waiting)
      for (;;) {
        const res = await this.staging.changes({
          since: this.state.gateSeq,
          limit: 500,
          include_docs: true,
          conflicts: true
        })
        if (res.results.length === 0) break
        const docs = res.results.flatMap((c) => (c.doc && isEventLike(c.doc._id) ? [c.doc] : []))
        if (docs.length > 0) await this.judge(await withLeaves(this.staging, docs), checker, counts, waiting)
        this.state.gateSeq = res.last_seq
      }
      if (counts.admitted > 0 && waiting.size > 0) await this.judgeWaiting(checker, counts, waiting)
      this.state.waiting = [...waiting]
      counts.waiting = waiting.size
      counts.quarantined += (await takeBlobs(this.vault, this.staging, this.options.url, this.blobsJudged)).quarantined
      this.markOnline()
      // the server away: the point stays where it was (safe: a later read from it finds what is held as duplicates)
      await this.keepFollowed().catch(() => undefined)
      await saveSyncState(this.vault.dir, this.state)
      return counts
    })
  }

  /**
   * Push what this device holds beyond what the server is known to hold (its high-water marks): this device's appends
   * as they happen, and events it learnt elsewhere. Events the server served itself (in staging, same id) are not
   * sent back. At most `limit` documents per call (`more` says there is more).
   */
  async pushNew(limit = 2000): Promise<{ pushed: number; denied: Denied[]; more: boolean }> {
    await this.vault.flush()
    const slots: { author: string; seq: number }[] = []
    let more = false
    for (const [author, head] of Object.entries(this.vault.heads())) {
      const from = (this.state.highWater[author]?.seq ?? 0) + 1
      for (let seq = from; seq <= head.length; seq++) {
        if (slots.length >= limit) {
          more = true
          break
        }
        slots.push({ author, seq })
      }
    }
    if (slots.length === 0) {
      const blobs = await pushBlobs(this.vault, this.remote, this.blobsOnServer)
      return { pushed: blobs.pushed, denied: blobs.denied, more: false }
    }
    const ids = slots.map((x) => eventDocId(x.author, x.seq))
    const [ours, staged] = await Promise.all([
      this.vault.store.idsAt(slots),
      this.staging.allDocs({ keys: ids, include_docs: true })
    ])
    const send = ids.filter((_, i) => (staged.rows[i]?.doc as { id?: string } | undefined)?.id !== ours[i])
    const denied: Denied[] = []
    const docs = send.length > 0 ? await this.vault.store.docsForPeer(send) : []
    if (docs.length > 0) {
      const results = await this.remote.bulkDocs(docs, { new_edits: false })
      for (const r of results) if (r.error) denied.push({ id: r.id, reason: String(r.reason ?? r.error) })
    }
    // The server now holds each feed up to its first refusal.
    const refused = new Map<string, number>()
    for (const d of denied) {
      const slot = parseEventDocId(d.id)
      if (slot) refused.set(slot.author, Math.min(refused.get(slot.author) ?? Infinity, slot.seq))
    }
    slots.forEach((x, i) => {
      const mark = this.state.highWater[x.author]?.seq ?? 0
      if (x.seq === mark + 1 && x.seq < (refused.get(x.author) ?? Infinity) && ours[i])
        this.state.highWater[x.author] = { seq: x.seq, id: ours[i]! }
    })
    this.state.denied = denied
    this.markOnline()
    // the blobs a new plan or version names go out once its events have
    const blobs = more ? { pushed: 0, denied: [] } : await pushBlobs(this.vault, this.remote, this.blobsOnServer)
    return { pushed: docs.length - denied.length + blobs.pushed, denied: [...denied, ...blobs.denied], more }
  }

  /** The rollback check of a round, on its own (cheap: one read of each feed's marked event). */
  async rolledBack(): Promise<string | null> {
    return this.exclusive(async () => (await this.checkHighWater())?.message ?? null)
  }

  /** Save what a follower learnt (marks, denials, how far it read the feed) without a round. */
  async saveState(): Promise<void> {
    await this.exclusive(async () => {
      await this.keepFollowed()
      await saveSyncState(this.vault.dir, this.state)
    })
  }

  /** Where a follower's replication should start in the server's feed: this device's point, if it has one. */
  get pullSince(): number | string | undefined {
    return this.state.pull?.seq
  }

  /** A follower's replication wrote the server's feed into staging up to `seq` (durably: PouchDB says so after). */
  followedTo(seq: number | string): void {
    this.followed = seq
  }

  /** What the follower staged is kept as the point (on the server first: a point it does not confirm is not used). */
  private async keepFollowed(): Promise<void> {
    const seq = this.followed
    if (seq === null) return
    const session = this.state.pull?.session ?? newSession()
    const kept = await keepPoint(this.remote, session, seq, this.pointRev)
    this.state.pull = { session, seq, confirmed: kept.confirmed }
    this.pointRev = kept.rev
    if (this.followed === seq) this.followed = null
  }

  /** A follower's view of the connection, for status. */
  setLive(live: LiveStatus | null): void {
    this.liveStatus = live
    if (live && live.phase === 'retrying') {
      this.online = false
      this.state.lastError = live.error
    }
  }

  private markOnline(): void {
    this.online = true
    this.state.lastSuccess = new Date().toISOString()
    this.state.lastError = null
  }

  private async recordedRound(): Promise<SyncRound> {
    try {
      const round = await this.round()
      this.online = true
      this.state.lastSuccess = new Date().toISOString()
      this.state.lastError = null
      return round
    } catch (err) {
      this.online = false
      this.state.lastError = (err as Error).message
      throw err
    } finally {
      await saveSyncState(this.vault.dir, this.state)
    }
  }

  private async round(): Promise<SyncRound> {
    const info = (await this.remote.info()) as { error?: string; reason?: string }
    if (info.error) throw REMOTE_REFUSED(`server refused: ${info.reason ?? info.error}`)
    const design = await ensureDesignDoc(this.remote, this.options.admin === true)
    this.state.design = design
    const found = await this.checkHighWater()
    const rollback = found?.message ?? null
    const checker = sharedChecker()
    try {
      // A READ-ONLY vault takes nothing in (the gate would refuse it all), but still pushes: its own signed status
      // is how the other devices learn its check failed. What the server holds stays for a round after the fix.
      const readOnly = this.vault.health.state === 'read-only'
      const served = new Served()
      const { pulled, gate } = readOnly
        ? { pulled: 0, gate: { admitted: 0, duplicates: 0, quarantined: 0, waiting: this.state.waiting.length } }
        : await this.pullThroughGate(checker, served, found !== null)
      // Signed before the push, so the other devices learn of it in this round (the rolled-back server gets it too).
      const book = bookOf(this.state.incidents)
      const incidents = readOnly
        ? []
        : await reportIncidents(
            this.vault,
            book,
            found
              ? [
                  makeIncident({
                    witness: 'couchdb',
                    kind: 'rollback',
                    url: this.options.url,
                    detail: found.message,
                    marks: found.lost,
                    seenAt: new Date().toISOString()
                  })
                ]
              : []
          )
      this.state.incidents = book
      const push = await this.pushMissing(served)
      this.state.denied = push.denied
      await this.raiseHighWater()
      const taken = readOnly ? { pulled: 0, quarantined: 0 } : await this.takeBlobs()
      this.blobsOnServer.clear() // a round asks the server again what it holds
      const sent = await pushBlobs(this.vault, this.remote, this.blobsOnServer)
      const blobs = { ...taken, pushed: sent.pushed, denied: sent.denied }
      return { pulled, ...gate, pushed: push.pushed, denied: push.denied, rollback, incidents, design, blobs }
    } finally {
      await checker.close()
    }
  }

  /**
   * Read the server's changes feed after this device's point in it, each page through the gate while the next one
   * downloads (sync/couch-pull.ts); what waits for a predecessor is written to staging. Before that: whatever staging
   * holds that no round judged yet (what a follower replicated, an interrupted round's) and the waiting documents.
   * `rolledBack`: the server was found serving less than before, so its point in the feed is not trusted either.
   */
  private async pullThroughGate(
    checker: EventChecker,
    served: Served,
    rolledBack: boolean
  ): Promise<{ pulled: number; gate: GateCounts }> {
    const counts: GateCounts = { admitted: 0, duplicates: 0, quarantined: 0, waiting: 0 }
    const judged = new Set<string>()
    const waiting = new Set<string>()
    /** Each revision once a round. */
    const unjudged = (docs: Doc[]) => {
      const fresh = docs.filter((d) => isEventLike(d._id) && !judged.has(`${d._id}@${d._rev}`))
      for (const d of fresh) judged.add(`${d._id}@${d._rev}`)
      return fresh
    }
    const earlier: Doc[] = []
    let gateSeq = this.state.gateSeq
    for (;;) {
      const res = await this.staging.changes({ since: gateSeq, limit: 1000, include_docs: true, conflicts: true })
      if (res.results.length === 0) break
      for (const c of res.results) if (c.doc) earlier.push(c.doc)
      gateSeq = res.last_seq
    }
    const before = unjudged([
      ...(await withLeaves(this.staging, earlier)),
      ...(await this.stagedLeaves(this.state.waiting))
    ])
    if (before.length > 0) await this.judge(before, checker, counts, waiting)
    // Staging is judged up to here; what this round stages below (waiting events) is judged again by the next one.
    this.state.gateSeq = gateSeq
    const point = await resumePoint(this.remote, rolledBack ? undefined : this.state.pull)
    const feed = await readFeed(this.remote, point.seq, async (page) => {
      served.add(page.docs)
      const fresh = unjudged(page.docs)
      const heads = this.vault.heads()
      // only the revisions just read, so the staged leaves of those that wait are added
      if (fresh.length > 0) await this.judge(await this.withWaitingLeaves(fresh, waiting), checker, counts, waiting)
      await this.stage(fresh.filter((d) => waiting.has(d._id) && !d._deleted))
      await this.judgeNext(heads, checker, counts, waiting)
      if (page.malformed.length > 0) counts.quarantined += await this.malformed(page.malformed)
    })
    // What waited for an event this round admitted is taken in this round, not the next.
    if (counts.admitted > 0 && waiting.size > 0) await this.judgeWaiting(checker, counts, waiting)
    this.state.waiting = [...waiting]
    counts.waiting = waiting.size
    // Everything the feed served up to its last sequence is judged or staged: the next round reads after it.
    const kept = await keepPoint(this.remote, point.session, feed.lastSeq)
    this.state.pull = { session: point.session, seq: feed.lastSeq, confirmed: kept.confirmed }
    this.pointRev = kept.rev
    this.followed = null
    return { pulled: feed.read, gate: counts }
  }

  /**
   * Write what waits into staging, where the next gate run finds it: the server's fields, not its underscore ones
   * beyond id and revision (staging refuses those), under the server's revision.
   */
  private async stage(docs: Doc[]): Promise<void> {
    if (docs.length === 0) return
    const kept = docs.map((d) => {
      const doc: Doc = { _id: d._id, _rev: d._rev }
      for (const [k, v] of Object.entries(d)) if (!k.startsWith('_')) doc[k] = v
      return doc
    })
    const results = await this.staging.bulkDocs(kept, { new_edits: false })
    const refused = results.find((r) => r.error)
    if (refused) throw INTERNAL(`staging refused ${refused.id}: ${String(refused.reason ?? refused.error)}`)
  }

  /** Rows of the server's feed that are no document at all, kept in quarantine with their reason. */
  private async malformed(rows: unknown[]): Promise<number> {
    const at = new Date().toISOString()
    const entries = rows.map((row) => {
      const json = JSON.stringify(row) ?? String(row)
      const id = (row as { id?: unknown } | null)?.id
      return {
        _id: `q!malformed!${sha256Hex(json)}`,
        at,
        source: this.options.url,
        docId: typeof id === 'string' ? id : '',
        eventId: '',
        code: 'MALFORMED_DOC',
        reason: 'the server served a change without a document that has an id and a revision',
        doc: row
      }
    })
    return this.record([], entries, at)
  }

  /**
   * The blobs this device lacks, through the blob gate: what a follower staged, then what the server holds (the pull
   * reads events from the server's feed and stages none of its blob documents).
   */
  private async takeBlobs(): Promise<{ pulled: number; quarantined: number }> {
    const staged = await takeBlobs(this.vault, this.staging, this.options.url, this.blobsJudged)
    const served = await takeBlobs(this.vault, this.remote, this.options.url, this.blobsJudged)
    return { pulled: staged.pulled + served.pulled, quarantined: staged.quarantined + served.quarantined }
  }

  /**
   * Where a feed grew since `heads` and its next slot waits, that feed's waiting documents through the gate again now,
   * not at the end of the pull: a server that wrote two batches of one feed in the other order serves the later one
   * first, and half a feed would otherwise wait in staging until the last page.
   */
  private async judgeNext(
    heads: Record<string, { length: number }>,
    checker: EventChecker,
    counts: GateCounts,
    waiting: Set<string>
  ): Promise<void> {
    if (waiting.size === 0) return
    const ready: string[] = []
    for (const [author, head] of Object.entries(this.vault.heads())) {
      if (head.length === (heads[author]?.length ?? 0) || !waiting.has(eventDocId(author, head.length + 1))) continue
      const { startkey, endkey } = idRange(EVENT_PREFIX, author)
      for (const id of waiting) if (id >= startkey && id <= endkey) ready.push(id)
    }
    if (ready.length === 0) return
    const docs = await this.stagedLeaves(ready)
    if (docs.length > 0) await this.judge(docs, checker, counts, waiting)
  }

  /** The waiting documents (every live leaf of each) through the gate again. */
  private async judgeWaiting(checker: EventChecker, counts: GateCounts, waiting: Set<string>): Promise<void> {
    const docs = await this.stagedLeaves([...waiting])
    if (docs.length > 0) await this.judge(docs, checker, counts, waiting)
  }

  /** Every live leaf staging holds of the documents `ids`. */
  private async stagedLeaves(ids: string[]): Promise<Doc[]> {
    if (ids.length === 0) return []
    const res = await this.staging.allDocs({ keys: ids, include_docs: true, conflicts: true })
    return withLeaves(
      this.staging,
      res.rows.flatMap((r) => (r.doc ? [r.doc] : []))
    )
  }

  /**
   * The revisions replication just wrote, and every leaf of the documents among them that wait: a new leaf beside a
   * waiting event, judged alone, would take the id out of waiting and leave the waiting revision unjudged for good.
   */
  private async withWaitingLeaves(docs: Doc[], waiting: Set<string>): Promise<Doc[]> {
    const rejoin = [...new Set(docs.filter((d) => waiting.has(d._id)).map((d) => d._id))]
    if (rejoin.length === 0) return docs
    const seen = new Set(docs.map((d) => `${d._id}@${d._rev}`))
    return [...docs, ...(await this.stagedLeaves(rejoin)).filter((d) => !seen.has(`${d._id}@${d._rev}`))]
  }

  /** One batch through the vault's ingestion gate (every live leaf of each document given); receipts, quarantine. */
  private async judge(staged: Doc[], checker: EventChecker, counts: GateCounts, waiting: Set<string>): Promise<void> {
    const at = new Date().toISOString()
    const source = this.options.url
    const quarantine: QuarantineEntry[] = []
    const incoming: { docId: string; raw: unknown; doc: Doc }[] = []
    for (const doc of staged) {
      const slot = slotOf(doc)
      waiting.delete(doc._id)
      if (!slot || doc._deleted) {
        quarantine.push({
          _id: `q!${doc._id}!${doc._rev}`,
          at,
          source,
          docId: doc._id,
          eventId: '',
          code: doc._deleted ? 'DELETED' : 'STRAY_DOC',
          reason: doc._deleted
            ? 'the server serves a deletion marker for an event; events are never deleted'
            : 'not an event document',
          doc
        })
        continue
      }
      incoming.push({ docId: slot, raw: doc.raw, doc })
    }
    // A verdict names its slot, not the revision it was about: where a server serves two revisions of one slot (an
    // honest event and a forged leaf beside it), each goes to the gate in a call of its own, so a refusal is recorded
    // against the revision refused and never against the one admitted beside it. A revision that waited for an event
    // a later call admitted (or kept as fork evidence) is judged again, as long as that makes progress.
    const verdicts: Verdict[] = []
    let queue = incoming
    while (queue.length > 0) {
      const again: typeof incoming = []
      let progressed = 0
      for (const layer of oneRevisionEach(queue, (x) => x.docId).flatMap(gateSlices)) {
        const bySlot = new Map(layer.map((x) => [x.docId, x]))
        const judged = await this.vault.ingest(
          layer.map(({ docId, raw }) => ({ docId, raw })),
          { checker }
        )
        for (const v of judged) verdicts.push(v) // a loop, not a spread: a layer can hold 100,000 verdicts
        for (const v of judged) {
          const x = bySlot.get(v.docId)
          // progress: an event admitted, or fork evidence kept (what cites it can be judged now)
          if (v.decision === 'ADMIT' || v.code === 'FORK') progressed++
          if (v.decision === 'ADMIT') counts.admitted++
          else if (v.decision === 'DUPLICATE') counts.duplicates++
          else if (v.decision === 'WAIT') {
            if (x) again.push(x)
          } else if (x)
            quarantine.push({
              _id: `q!${x.doc._id}!${x.doc._rev}`,
              at,
              source,
              docId: x.doc._id,
              eventId: v.eventId,
              code: v.code,
              reason: v.reason,
              doc: x.doc
            })
        }
      }
      if (progressed === 0) {
        for (const x of again) waiting.add(x.doc._id)
        break
      }
      queue = again
    }
    counts.quarantined += await this.record(verdicts, quarantine, at)
  }

  /** Every slot the server held before must still be there, unchanged. */
  private async checkHighWater(): Promise<{ message: string; lost: IncidentMark[] } | null> {
    const marks = Object.entries(this.state.highWater)
    if (marks.length === 0) return null
    const res = await this.remote.allDocs({ keys: marks.map(([a, h]) => eventDocId(a, h.seq)), include_docs: true })
    const lost: IncidentMark[] = []
    res.rows.forEach((r, i) => {
      const [author, mark] = marks[i]!
      if (!r.doc || r.value?.deleted || (r.doc as { id?: string }).id !== mark.id)
        lost.push({ author, seq: mark.seq, id: mark.id })
    })
    if (lost.length === 0) return null
    const message = `the server serves less than it served before: ${lost.length} feed(s) lost events (first: ${eventDocId(lost[0]!.author, lost[0]!.seq)}); it was rolled back or replaced. Nothing of it was applied here.`
    this.state.lastRollback = { at: new Date().toISOString(), message }
    return { message, lost }
  }

  /** Receipts (one document per gate run, one line per input) and quarantine entries, kept for inspection. */
  /** Returns how many quarantine entries are new (an input judged again is not counted twice). */
  private async record(verdicts: Verdict[], quarantine: QuarantineEntry[], at: string): Promise<number> {
    const receipt = {
      _id: `r!${at}!${Math.random().toString(36).slice(2, 10)}`,
      at,
      source: this.options.url,
      verdicts: verdicts.map((v) => [v.docId, v.eventId, v.decision, v.reason])
    }
    const existing =
      quarantine.length > 0 ? await this.ingestDb.allDocs({ keys: quarantine.map((q) => q._id) }) : { rows: [] }
    const fresh = quarantine.filter((_, i) => !existing.rows[i]?.value || existing.rows[i]?.error)
    await this.ingestDb.bulkDocs([receipt, ...fresh] as unknown as Doc[])
    return fresh.length
  }

  /**
   * Push by comparing heads: per feed, the server's list of slots against
   * ours; whatever it lacks is sent (with its revision, as replication would).
   * Refusals are reported per document and tried again next round.
   */
  private async pushMissing(served: Served): Promise<{ pushed: number; denied: Denied[] }> {
    await this.vault.flush() // an append acknowledged a moment ago (an incident) is pushed in this round
    const wanted: string[] = []
    for (const [author, head] of Object.entries(this.vault.heads())) {
      // What the server served in this round's pull it holds as surely as what it would list now: only the slots
      // after the feed's first one it did not serve are asked for (a feed pulled whole is not listed again).
      const known = served.prefix(author)
      if (known >= head.length) continue
      const { endkey } = idRange(EVENT_PREFIX, author)
      const startkey = known > 0 ? eventDocId(author, known + 1) : idRange(EVENT_PREFIX, author).startkey
      const remote = await this.remote.allDocs({ startkey, endkey })
      const have = new Set(remote.rows.filter((r) => !r.value?.deleted).map((r) => r.id))
      for (let seq = known + 1; seq <= head.length; seq++)
        if (!have.has(eventDocId(author, seq))) wanted.push(eventDocId(author, seq))
    }
    const forks = await this.vault.store.forkIds()
    if (forks.length > 0) {
      const remote = await this.remote.allDocs({ keys: forks })
      remote.rows.forEach((r) => {
        if (r.error || !r.value) wanted.push(r.key)
      })
    }
    let pushed = 0
    const denied: Denied[] = []
    const send = async (ids: string[]) => {
      const docs = await this.vault.store.docsForPeer(ids)
      const results = await this.remote.bulkDocs(docs, { new_edits: false })
      for (const r of results) {
        if (r.error) denied.push({ id: r.id, reason: String(r.reason ?? r.error) })
      }
      pushed += docs.length - results.filter((r) => r.error).length
    }
    // Two batches out at once: the server writes one while the next is read here and travels, so it never waits on
    // this side (one at a time, it idled an eighth of a 100,000-event push). The first failure ends the push.
    const out = new Set<Promise<void>>()
    let failure: { err: unknown } | null = null
    for (let i = 0; i < wanted.length && failure === null; i += 500) {
      const batch: Promise<void> = send(wanted.slice(i, i + 500))
        .catch((err: unknown) => {
          failure ??= { err }
        })
        .finally(() => out.delete(batch))
      out.add(batch)
      if (out.size >= 2) await Promise.race(out)
    }
    await Promise.all(out)
    if (failure !== null) throw (failure as { err: unknown }).err
    return { pushed, denied }
  }

  /** The server now holds our heads: raise the marks a later rollback is measured against. */
  private async raiseHighWater(): Promise<void> {
    const heads = Object.entries(this.vault.heads())
    if (heads.length === 0) return
    const res = await this.remote.allDocs({ keys: heads.map(([a, h]) => eventDocId(a, h.length)), include_docs: true })
    res.rows.forEach((r, i) => {
      const [author, h] = heads[i]!
      if (r.doc && !r.value?.deleted && (r.doc as { id?: string }).id === h.head)
        this.state.highWater[author] = { seq: h.length, id: h.head }
    })
  }

  async status(): Promise<SyncStatus> {
    return { ...(await statusOf(this.vault, this.state, this.online, this.ingestDb)), live: this.liveStatus }
  }

  async close(): Promise<void> {
    await this.stagingHandle.release()
    await this.ingestHandle.release()
    await this.remote.close()
  }
}

interface SharedDb {
  db: Db
  release(): Promise<void>
}
const openDbs = new Map<string, { db: Db; users: number }>()

/**
 * One handle per database folder in this process, shared and counted: PouchDB keeps one LevelDB store per path, so a
 * second handle's close would close it under the first (a status read beside a running sync stopped that sync's
 * next write, with no error, for good). The store closes when its last user releases it.
 */
function shareDb(path: string): SharedDb {
  let entry = openDbs.get(path)
  if (!entry) {
    entry = { db: openDb(path), users: 0 }
    openDbs.set(path, entry)
  }
  entry.users++
  const held = entry
  let released = false
  return {
    db: held.db,
    release: async () => {
      if (released) return
      released = true
      if (--held.users > 0) return
      openDbs.delete(path)
      await held.db.close()
    }
  }
}

async function withIngestDb<T>(vault: Vault, fn: (db: Db) => Promise<T>): Promise<T> {
  const h = shareDb(join(vault.dir, INGEST_DB))
  try {
    return await fn(h.db)
  } finally {
    await h.release()
  }
}

async function statusOf(vault: Vault, state: SyncState | null, online: boolean, ingestDb: Db): Promise<SyncStatus> {
  const local = Object.values(vault.heads()).reduce((n, h) => n + h.length, 0)
  const onServer = Object.entries(vault.heads()).reduce(
    (n, [a]) => n + Math.min(state?.highWater[a]?.seq ?? 0, vault.heads()[a]!.length),
    0
  )
  const q = await ingestDb.allDocs({ startkey: 'q!', endkey: 'q!\uffff' })
  return {
    url: state?.url ?? null,
    user: state?.user ?? null,
    online,
    pendingUp: local - onServer,
    pendingDown: state?.waiting.length ?? 0,
    quarantine: q.rows.length,
    lastSuccess: state?.lastSuccess ?? null,
    lastError: state?.lastError ?? null,
    lastRollback: state?.lastRollback ?? null,
    denied: state?.denied ?? [],
    design: state?.design ?? null
  }
}

/** Sync status from what the device recorded, without contacting the server. */
export async function recordedStatus(vault: Vault): Promise<SyncStatus> {
  return withIngestDb(vault, async (db) => statusOf(vault, await loadSyncState(vault.dir), false, db))
}

/** Quarantined inputs with their reasons, newest first. */
export async function listQuarantine(vault: Vault): Promise<QuarantineEntry[]> {
  return withIngestDb(vault, quarantineOf)
}

async function quarantineOf(ingestDb: Db): Promise<QuarantineEntry[]> {
  const res = await ingestDb.allDocs({ startkey: 'q!', endkey: 'q!\uffff', include_docs: true })
  return res.rows.map((r) => r.doc as unknown as QuarantineEntry).sort((a, b) => (a.at < b.at ? 1 : -1))
}
