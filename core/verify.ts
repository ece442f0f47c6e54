/**
 * The boot self-check. Full mode reads every stored event; incremental mode
 * starts from a signed verified point and checks only what PouchDB's change
 * feed says was written since (new appends, and any rewrite or deletion behind
 * the vault's back). Both name each failing document and why.
 */
import {
  checkUnknown,
  knownCheck,
  storedEventProblem,
  type BodiesCheck,
  type BodyItem,
  type EventCheck
} from './check-events.js'
import { checkerFor, type EventChecker } from './verify-pool.js'
import { EVENT_PREFIX, FORK_PREFIX, eventDocId, parseEventDocId, type EventDoc, type LogStore } from './store.js'
import { GENESIS_TYPE } from './envelope.js'
import { isGovernanceType } from './governance/fold.js'
import type { VerifiedPoint } from './verified-point.js'
import { storedBodies, storedBodyTexts } from './pouch.js'
import { CHECKPOINT_TYPE, checkCheckpointNotes, checkCheckpointPayload } from './proofs/checkpoint.js'
import { sha256Hex, toHex } from './bytes.js'
import { VERIFY_FAILED } from './errors.js'

export type { FeedHead, VerifyIssue, VerifyReport } from './verify-report.js'
import type { FeedHead, ForkRecord, IssueCode, VerifyIssue, VerifyReport } from './verify-report.js'

export interface VerifyOptions {
  store: LogStore
  vaultId: string
  isKnownAuthor: (author: string) => boolean
  /** Incremental start: a verified point whose signature the caller has checked. */
  point?: VerifiedPoint | null
  onProgress?: (done: number, total: number) => void
  checker?: EventChecker
  /**
   * Incremental checks only: ids of events whose exact bytes this process judged under the same policy before it
   * wrote them (the ingestion gate's admissions). Stored bytes that hash to one of them are not checked again (see
   * knownCheck); anything else on disk, changed bytes included, is.
   */
  known?: ReadonlySet<string>
}

interface Walk {
  author: string
  length: number
  head: string
  broken: boolean
  /** Events that arrived ahead of their predecessor, waiting for it. */
  pending: Map<number, { doc: EventDoc; check: EventCheck }>
}

const MAX_PENDING = 100_000

class Run {
  readonly issues: VerifyIssue[] = []
  readonly feeds = new Map<string, Walk>()
  readonly forks = new Map<string, ForkRecord>()
  readonly forkDocs: EventDoc[] = []
  /** Documents in the event range that are not event slots, and whether their last body is a deletion. */
  private readonly strays = new Map<string, boolean>()
  /** Slots of governance events whose chain verified. */
  readonly gov = new Set<string>()
  /**
   * Full mode: each feed's event ids in order, laid end to end in pieces (a run's ids arrive as one), and each
   * author's latest checkpoint, to check its roots. The roots are hashed from the ids in the verify pool, only for
   * the feeds a checkpoint covers and only as far as it covers them.
   */
  private readonly ids = new Map<string, string[]>()
  readonly checkpoints = new Map<string, { docId: string; seq: number; raw: string }>()
  checked = 0
  genesisSeen = false

  /** `inOrder`: events must come in feed order (an export file); otherwise they may come in any order. */
  constructor(
    readonly opts: Omit<VerifyOptions, 'store'> & { store?: LogStore },
    private readonly inOrder = false,
    private readonly merkle = false
  ) {}

  /** Each author's latest checkpoint must state the roots the log actually has. */
  async checkCheckpoints(checker: EventChecker): Promise<void> {
    const roots = new Map<string, Promise<string>>()
    const rootOf = (author: string, length: number) => {
      const key = `${author}:${length}`
      let root = roots.get(key)
      if (!root) roots.set(key, (root = checker.root(this.idText(author).slice(0, length * 64)).then(toHex)))
      return root
    }
    for (const cp of this.checkpoints.values()) {
      try {
        const event = JSON.parse(cp.raw) as { payload: unknown; author: string }
        const payload = checkCheckpointPayload(event.payload)
        checkCheckpointNotes(payload, this.opts.vaultId, event.author)
        for (const f of payload.feeds) {
          const held = this.idText(f.author).length / 64
          if (held < f.length)
            throw VERIFY_FAILED(
              `it covers ${f.length} events of feed ${f.author.slice(0, 8)}… but the log holds ${held}`
            )
          if ((await rootOf(f.author, f.length)) !== f.root)
            throw VERIFY_FAILED(`its root for feed ${f.author.slice(0, 8)}… does not match the log`)
        }
      } catch (err) {
        this.issue('CHECKPOINT_MISMATCH', cp.docId, `checkpoint does not match the log: ${(err as Error).message}`)
      }
    }
  }

  /** A feed's linked event ids end to end (its pieces joined once). */
  private idText(author: string): string {
    const pieces = this.ids.get(author)
    if (!pieces) return ''
    if (pieces.length > 1) pieces.splice(0, pieces.length, pieces.join(''))
    return pieces[0] ?? ''
  }

  private pushIds(author: string, ids: string): void {
    const pieces = this.ids.get(author)
    if (pieces) pieces.push(ids)
    else this.ids.set(author, [ids])
  }

  issue(code: IssueCode, docId: string, message: string, extra: Partial<VerifyIssue> = {}): void {
    if (this.issues.length < 10_000) this.issues.push({ code, docId, message, ...extra })
  }

  walk(author: string): Walk {
    let w = this.feeds.get(author)
    if (!w) this.feeds.set(author, (w = { author, length: 0, head: '', broken: false, pending: new Map() }))
    return w
  }

  /** Take one stored body (any order); event bodies are checked against their feed's chain. */
  accept(doc: EventDoc, check: EventCheck): void {
    this.checked++
    const slot = parseEventDocId(doc._id)
    if (!slot) {
      this.strays.set(doc._id, doc._deleted === true)
      return
    }
    const w = this.walk(slot.author)
    if (w.broken) return
    if (doc._deleted) return this.fail(w, doc, 'DELETED', 'an event document was deleted')
    if (!doc._rev?.startsWith('1-'))
      return this.fail(w, doc, 'REWRITTEN', `event document was rewritten (revision ${doc._rev})`)
    if (slot.seq <= w.length || w.pending.has(slot.seq))
      return this.fail(w, doc, 'REWRITTEN', 'a second body was stored for an event slot')
    // What can be said of an event on its own is said at once, even if it arrived early.
    const invalid = this.validate(doc, check)
    if (invalid) return this.fail(w, doc, invalid.code, invalid.message, check.id || undefined)
    if (slot.seq > w.length + 1) {
      if (this.inOrder || w.pending.size >= MAX_PENDING)
        return this.fail(w, doc, 'GAP', `events ${w.length + 1}..${slot.seq - 1} of this feed are missing`)
      w.pending.set(slot.seq, { doc, check })
      return
    }
    if (!this.link(w, doc, check)) return
    for (let next = w.pending.get(w.length + 1); next; next = w.pending.get(w.length + 1)) {
      w.pending.delete(w.length + 1)
      if (!this.link(w, next.doc, next.check)) return
    }
  }

  /** A worker's verdict on one stored body, or on a run of them (see BodyItem). */
  acceptItem(item: BodyItem): void {
    if (!item.run) return this.accept(item.doc, item.check)
    const { author, seq, prev, ids, count } = item
    const w = this.walk(author)
    // Already broken, or the feed's next events, named as such, by a key of the vault: the run is taken whole, as
    // accept would take each of its events.
    if (
      w.broken ||
      (w.pending.size === 0 &&
        seq === w.length + 1 &&
        prev === (seq === 1 ? this.opts.vaultId : w.head) &&
        this.opts.isKnownAuthor(author))
    ) {
      this.checked += count
      if (w.broken) return
      w.length = seq + count - 1
      w.head = ids.slice(-64)
      if (this.merkle) this.pushIds(author, ids)
      return
    }
    // Out of order, or not linking: judged one event at a time. A run's events passed every check that needs no
    // other event; their types are none the walk treats specially.
    for (let k = 0; k < count; k++) {
      const id = ids.slice(k * 64, k * 64 + 64)
      const at = seq + k
      this.accept(
        { _id: eventDocId(author, at), _rev: '1-', raw: '', id, type: '', ts: '' },
        { ok: true, id, author, seq: at, prev: k === 0 ? prev : ids.slice(k * 64 - 64, k * 64), type: '', ts: '' }
      )
    }
  }

  private fail(w: Walk, doc: EventDoc, code: IssueCode, message: string, eventId?: string): void {
    const slot = parseEventDocId(doc._id)!
    w.broken = true
    w.pending.clear()
    this.issue(code, doc._id, `${message}; later events of this feed are not trusted`, {
      author: slot.author,
      seq: slot.seq,
      ...(eventId ? { eventId } : {})
    })
  }

  /** Bytes, slot, index hints and author: everything but the chain. */
  private validate(doc: EventDoc, check: EventCheck): { code: IssueCode; message: string } | null {
    const slot = parseEventDocId(doc._id)!
    const problem = storedEventProblem(doc, check, slot)
    if (problem) return problem as { code: IssueCode; message: string }
    if (!this.opts.isKnownAuthor(slot.author))
      return { code: 'UNKNOWN_AUTHOR', message: 'author key is not a key of this vault' }
    return null
  }

  /** The next event of a feed: its prev must name the feed's head. */
  private link(w: Walk, doc: EventDoc, check: EventCheck): boolean {
    if (!check.ok) return false
    const expectedPrev = check.seq === 1 ? (check.type === GENESIS_TYPE ? null : this.opts.vaultId) : w.head
    if (check.prev !== expectedPrev) {
      this.fail(w, doc, 'BROKEN_LINK', 'prev does not name the hash of the previous event', check.id)
      return false
    }
    if (check.type === GENESIS_TYPE) this.genesisSeen = true
    if (isGovernanceType(check.type)) this.gov.add(doc._id)
    if (this.merkle) {
      this.pushIds(w.author, check.id)
      if (check.type === CHECKPOINT_TYPE && check.seq > (this.checkpoints.get(w.author)?.seq ?? 0))
        this.checkpoints.set(w.author, { docId: doc._id, seq: check.seq, raw: doc.raw })
    }
    w.length = check.seq
    w.head = check.id
    return true
  }

  /** Whatever is still waiting for a predecessor, and planted documents still present, are failures. */
  finish(): void {
    for (const w of this.feeds.values()) {
      if (w.broken || w.pending.size === 0) continue
      const first = Math.min(...w.pending.keys())
      this.fail(w, w.pending.get(first)!.doc, 'GAP', `events ${w.length + 1}..${first - 1} of this feed are missing`)
    }
    for (const [docId, deleted] of this.strays) {
      if (!deleted) this.issue('STRAY_DOC', docId, 'document in the event range with an invalid id')
    }
  }

  report(mode: VerifyReport['mode'], updateSeq: number, started: number): VerifyReport {
    const feeds: Record<string, FeedHead> = {}
    let total = 0
    for (const w of [...this.feeds.values()].sort((a, b) => (a.author < b.author ? -1 : 1))) {
      if (w.length === 0) continue
      // A fork does not shorten the feed: the slot chain verified as it is, and governance decides what a forked key's
      // events count for.
      feeds[w.author] = { length: w.length, head: w.head }
      total += w.length
    }
    const trusted = (docId: string) => {
      const slot = parseEventDocId(docId)!
      return slot.seq <= (feeds[slot.author]?.length ?? 0)
    }
    return {
      ok: this.issues.length === 0,
      mode,
      checked: this.checked,
      total,
      feeds,
      forks: [...this.forks.values()],
      issues: this.issues,
      gov: [...this.gov].filter(trusted).sort(),
      updateSeq,
      durationMs: Math.round(performance.now() - started),
      verifiedAt: new Date().toISOString()
    }
  }
}

/** Pages checked at once: enough to keep every worker busy while the main thread reads and links. */
const IN_FLIGHT = 6

/** Pages submitted for checking as they are read, the answers applied in read order, at most IN_FLIGHT out. */
async function inOrder<P, R>(
  pages: AsyncIterable<P[]> | Iterable<P[]>,
  submit: (page: P[]) => Promise<R>,
  apply: (result: R, page: P[]) => void
): Promise<void> {
  const queue: { page: P[]; result: Promise<R> }[] = []
  const applyOldest = async () => {
    const { page, result } = queue.shift()!
    apply(await result, page)
  }
  for await (const page of pages) {
    const result = submit(page)
    result.catch(() => undefined) // awaited in order below; avoid an unhandled rejection meanwhile
    queue.push({ page, result })
    if (queue.length >= IN_FLIGHT) await applyOldest()
  }
  while (queue.length > 0) await applyOldest()
}

/**
 * Route bodies: event slots are checked (in parallel), fork evidence is kept for later. Results are applied in read
 * order.
 */
async function checkPages(
  run: Run,
  pages: AsyncIterable<EventDoc[]> | Iterable<EventDoc[]>,
  checker: EventChecker,
  total: number
): Promise<void> {
  let done = 0
  await inOrder(
    pages,
    async (page) => {
      const events: EventDoc[] = []
      for (const doc of page) {
        if (doc._id.startsWith(FORK_PREFIX)) run.forkDocs.push(doc)
        else if (doc._id.startsWith(EVENT_PREFIX) || doc._id === '') events.push(doc)
      }
      const raws = events.map((d) => (d._deleted ? '' : d.raw))
      return { events, checks: await checkStored(raws, checker, run.opts.vaultId, run.opts.known) }
    },
    ({ events, checks }, page) => {
      events.forEach((doc, i) => run.accept(doc, checks[i]!))
      done += page.length
      run.opts.onProgress?.(done, Math.max(total, done))
    }
  )
}

/**
 * checkPages for the store's own bodies, as the text PouchDB stored: the workers parse and check them and answer
 * with runs (see BodiesCheck), so the main thread neither parses a body nor walks a healthy feed event by event.
 */
async function checkBodyPages(run: Run, pages: AsyncIterable<string[]>, checker: EventChecker, total: number) {
  let done = 0
  await inOrder(
    pages,
    (page) => checker.checkBodies(page, run.opts.vaultId),
    ({ items, forks }: BodiesCheck, page) => {
      for (const item of items) run.acceptItem(item)
      run.forkDocs.push(...forks)
      done += page.length
      run.opts.onProgress?.(done, Math.max(total, done))
    }
  )
}

/** checker.check for the raws whose bytes are not known ones (see knownCheck); the known ones read back only. */
function checkStored(
  raws: unknown[],
  checker: EventChecker,
  vault: string,
  known: ReadonlySet<string> | undefined
): Promise<EventCheck[]> {
  if (!known || known.size === 0) return checker.check(raws, vault)
  const answers = raws.map((raw) => (typeof raw === 'string' && raw !== '' ? knownCheck(raw, known) : null))
  return checkUnknown(raws, answers, (ask) => checker.check(ask, vault))
}

async function checkForkEvidence(run: Run, checker: EventChecker): Promise<void> {
  const docs = run.forkDocs.filter((d) => !d._deleted)
  if (docs.length === 0) return
  const results = await checker.check(
    docs.map((d) => d.raw),
    run.opts.vaultId
  )
  for (let i = 0; i < docs.length; i++) {
    const doc = docs[i]!,
      r = results[i]!
    if (!r.ok) {
      run.issue('BAD_FORK_EVIDENCE', doc._id, `fork evidence does not verify: ${r.message}`)
      continue
    }
    const slot = await run.opts.store!.get(r.author, r.seq)
    if (!slot || slot.id === r.id) continue
    const prior = run.forks.get(r.author)
    if (!prior || r.seq < prior.seq)
      run.forks.set(r.author, { author: r.author, seq: r.seq, ids: [slot.id, r.id].sort() })
  }
}

/** Read every event and fork record; compare with the last verified point if there is one. */
export async function verifyFull(opts: VerifyOptions): Promise<VerifyReport> {
  const started = performance.now()
  const run = new Run(opts, false, true)
  const updateSeq = await opts.store.updateSeq()
  const total = await opts.store.count()
  const checker = opts.checker ?? checkerFor(total)
  try {
    await checkBodyPages(run, storedBodyTexts(opts.store.db), checker, total)
    run.finish()
    await run.checkCheckpoints(checker)
    await checkForkEvidence(run, checker)
  } finally {
    if (!opts.checker) await checker.close()
  }
  if (!run.genesisSeen) run.issue('NO_GENESIS', '', 'the genesis event of this vault is missing or invalid')
  for (const [author, seen] of Object.entries(opts.point?.feeds ?? {})) {
    const w = run.feeds.get(author)
    if (!w || (w.length < seen.length && !w.broken)) {
      run.issue(
        'TRUNCATED',
        `${EVENT_PREFIX}${author}`,
        `feed holds ${w?.length ?? 0} events but ${seen.length} were verified before: events were removed`,
        { author }
      )
    }
  }
  return run.report('full', updateSeq, started)
}

/**
 * Check only what changed since `point`: every document body PouchDB wrote after
 * the point's update sequence, plus each feed's head at the point.
 */
export async function verifyIncremental(opts: VerifyOptions & { point: VerifiedPoint }): Promise<VerifyReport> {
  const started = performance.now()
  const { store, point } = opts
  const run = new Run(opts)
  run.genesisSeen = true // established by the point's own verification
  for (const f of point.forks) run.forks.set(f.author, f)
  for (const docId of point.gov) run.gov.add(docId)
  // Read before the bodies are: what is written after this is read by the next check, never claimed unread.
  const updateSeq = await store.updateSeq()
  if (updateSeq < point.updateSeq) {
    run.issue('TRUNCATED', '', 'the database is older than the last verified point: it was rolled back or replaced')
  }
  for (const [author, h] of Object.entries(point.feeds)) {
    Object.assign(run.walk(author), { length: h.length, head: h.head })
    const doc = await store.get(author, h.length)
    const problem = !doc
      ? 'TRUNCATED'
      : !doc._rev?.startsWith('1-') || sha256Hex(doc.raw) !== h.head
        ? 'REWRITTEN'
        : null
    if (problem) {
      run.issue(
        problem,
        eventDocId(author, h.length),
        problem === 'TRUNCATED'
          ? 'the verified head of this feed is gone'
          : 'the verified head of this feed was changed',
        { author, seq: h.length }
      )
      run.walk(author).broken = true
    }
  }
  const checker = opts.checker ?? checkerFor(updateSeq - point.updateSeq)
  try {
    // Every body written after the point, as the full check reads them (each revision, deletions included), a page
    // at a time: a second body for a slot is caught whether or not it won, and nothing is held whole in memory.
    const bodies = storedBodies(store.db, 1000, point.updateSeq) as unknown as AsyncIterable<EventDoc[]>
    await checkPages(run, bodies, checker, updateSeq - point.updateSeq)
    run.finish()
    await checkForkEvidence(run, checker)
  } finally {
    if (!opts.checker) await checker.close()
  }
  return run.report('incremental', updateSeq, started)
}

/**
 * Verify events that come from somewhere other than the store (an export file,
 * a bundle): the same per-event and chain rules, in the order given.
 */
export async function verifyDocs(
  opts: Omit<VerifyOptions, 'store' | 'point'>,
  pages: Iterable<EventDoc[]>,
  total: number
): Promise<VerifyReport> {
  const started = performance.now()
  const run = new Run(opts, true)
  const checker = opts.checker ?? checkerFor(total)
  try {
    await checkPages(run, pages, checker, total)
    run.finish()
  } finally {
    if (!opts.checker) await checker.close()
  }
  if (!run.genesisSeen) run.issue('NO_GENESIS', '', 'the genesis event of this vault is missing or invalid')
  return run.report('full', 0, started)
}
