/**
 * The boot self-check. Full mode reads every stored event; incremental mode
 * starts from a signed verified point and checks only what PouchDB's change
 * feed says was written since (new appends, and any rewrite or deletion behind
 * the vault's back). Both name each failing document and why.
 */
import type { EventCheck } from './check-events.js'
import { checkerFor, type EventChecker } from './verify-pool.js'
import { EVENT_PREFIX, FORK_PREFIX, parseEventDocId, type EventDoc, type LogStore } from './store.js'
import { GENESIS_TYPE } from './envelope.js'
import { sha256Hex } from './bytes.js'
import type { VerifiedPoint } from './verified-point.js'

export type IssueCode =
  | 'MALFORMED' | 'NON_CANONICAL' | 'OVERSIZED' | 'TOO_DEEP' | 'BAD_SIGNATURE' | 'WEAK_KEY' | 'WRONG_VAULT'
  | 'MISPLACED' | 'INDEX_MISMATCH' | 'REWRITTEN' | 'DELETED' | 'GAP' | 'BROKEN_LINK' | 'UNKNOWN_AUTHOR'
  | 'TRUNCATED' | 'NO_GENESIS' | 'STRAY_DOC' | 'BAD_FORK_EVIDENCE'

export interface VerifyIssue { code: IssueCode; docId: string; author?: string; seq?: number; eventId?: string; message: string }
export interface FeedHead { length: number; head: string }
export interface ForkRecord { author: string; seq: number; ids: string[] }

export interface VerifyReport {
  ok: boolean
  mode: 'full' | 'incremental'
  /** Events whose bytes and signature were checked in this run. */
  checked: number
  /** Verified events in the log (trusted feed lengths summed). */
  total: number
  feeds: Record<string, FeedHead>
  forks: ForkRecord[]
  issues: VerifyIssue[]
  updateSeq: number
  durationMs: number
  verifiedAt: string
}

export interface VerifyOptions {
  store: LogStore
  vaultId: string
  isKnownAuthor: (author: string) => boolean
  /** Incremental start: a verified point whose signature the caller has checked. */
  point?: VerifiedPoint | null
  onProgress?: (done: number, total: number) => void
  checker?: EventChecker
}

interface Walk { author: string; length: number; head: string; broken: boolean }

class Run {
  readonly issues: VerifyIssue[] = []
  readonly feeds = new Map<string, Walk>()
  readonly forks = new Map<string, ForkRecord>()
  checked = 0
  genesisSeen = false

  constructor(readonly opts: Omit<VerifyOptions, 'store'> & { store?: LogStore }) {}

  issue(code: IssueCode, docId: string, message: string, extra: Partial<VerifyIssue> = {}): void {
    if (this.issues.length < 10_000) this.issues.push({ code, docId, message, ...extra })
  }

  walk(author: string): Walk {
    let w = this.feeds.get(author)
    if (!w) this.feeds.set(author, (w = { author, length: 0, head: '', broken: false }))
    return w
  }

  /** Check one stored event, in feed order, against its feed's chain so far. */
  accept(doc: EventDoc, check: EventCheck): void {
    this.checked++
    const slot = parseEventDocId(doc._id)
    if (!slot) return this.issue('STRAY_DOC', doc._id, 'document in the event range with an invalid id')
    const w = this.walk(slot.author)
    if (w.broken) return
    const at = { author: slot.author, seq: slot.seq }
    const fail = (code: IssueCode, message: string, eventId?: string) => {
      w.broken = true
      this.issue(code, doc._id, `${message}; later events of this feed are not trusted`, { ...at, ...(eventId ? { eventId } : {}) })
    }
    if (!doc._rev?.startsWith('1-')) return fail('REWRITTEN', `event document was rewritten (revision ${doc._rev})`)
    if (!check.ok) return fail(check.code as IssueCode, check.message, check.id || undefined)
    if (check.author !== slot.author || check.seq !== slot.seq) return fail('MISPLACED', `event claims ${check.author.slice(0, 8)}…#${check.seq} but is stored in another slot`, check.id)
    if (doc.id !== check.id || doc.type !== check.type || doc.ts !== check.ts) return fail('INDEX_MISMATCH', 'stored index fields do not match the signed bytes', check.id)
    if (!this.opts.isKnownAuthor(slot.author)) return fail('UNKNOWN_AUTHOR', 'author key is not a key of this vault', check.id)
    if (slot.seq !== w.length + 1) return fail('GAP', `events ${w.length + 1}..${slot.seq - 1} of this feed are missing`, check.id)
    const expectedPrev = slot.seq === 1 ? (check.type === GENESIS_TYPE ? null : this.opts.vaultId) : w.head
    if (check.prev !== expectedPrev) return fail('BROKEN_LINK', 'prev does not name the hash of the previous event', check.id)
    if (check.type === GENESIS_TYPE) this.genesisSeen = true
    w.length = slot.seq
    w.head = check.id
  }

  report(mode: VerifyReport['mode'], updateSeq: number, started: number): VerifyReport {
    const feeds: Record<string, FeedHead> = {}
    let total = 0
    for (const w of [...this.feeds.values()].sort((a, b) => (a.author < b.author ? -1 : 1))) {
      if (w.length === 0) continue
      const fork = this.forks.get(w.author)
      const length = fork ? Math.min(w.length, fork.seq - 1) : w.length
      feeds[w.author] = { length, head: w.head }
      total += length
    }
    return {
      ok: this.issues.length === 0, mode, checked: this.checked, total, feeds,
      forks: [...this.forks.values()], issues: this.issues, updateSeq,
      durationMs: Math.round(performance.now() - started), verifiedAt: new Date().toISOString()
    }
  }
}

async function checkPages(run: Run, pages: AsyncIterable<EventDoc[]> | Iterable<EventDoc[]>, checker: EventChecker, total: number): Promise<void> {
  const it = (Symbol.asyncIterator in pages ? pages[Symbol.asyncIterator]() : (pages as Iterable<EventDoc[]>)[Symbol.iterator]()) as AsyncIterator<EventDoc[]>
  let next = it.next()
  let done = 0
  for (;;) {
    const page = await next
    if (page.done) return
    next = it.next() // read the next page while this one is checked
    const results = await checker.check(page.value.map((d) => d.raw), run.opts.vaultId)
    page.value.forEach((doc, i) => run.accept(doc, results[i]!))
    done += page.value.length
    run.opts.onProgress?.(done, total)
  }
}

async function checkForkEvidence(run: Run, docs: EventDoc[], checker: EventChecker): Promise<void> {
  if (docs.length === 0) return
  const results = await checker.check(docs.map((d) => d.raw), run.opts.vaultId)
  for (let i = 0; i < docs.length; i++) {
    const doc = docs[i]!, r = results[i]!
    if (!r.ok) { run.issue('BAD_FORK_EVIDENCE', doc._id, `fork evidence does not verify: ${r.message}`); continue }
    const slot = await run.opts.store!.get(r.author, r.seq)
    if (!slot || slot.id === r.id) continue
    const key = r.author
    const prior = run.forks.get(key)
    if (!prior || r.seq < prior.seq) run.forks.set(key, { author: r.author, seq: r.seq, ids: [slot.id, r.id].sort() })
  }
}

/** Read every event and fork record; compare with the last verified point if there is one. */
export async function verifyFull(opts: VerifyOptions): Promise<VerifyReport> {
  const started = performance.now()
  const run = new Run(opts)
  const updateSeq = await opts.store.updateSeq()
  const total = await opts.store.count()
  const checker = opts.checker ?? checkerFor(total)
  try {
    await checkPages(run, opts.store.scan({ prefix: EVENT_PREFIX }), checker, total)
    const forkDocs: EventDoc[] = []
    for await (const page of opts.store.scan({ prefix: FORK_PREFIX })) forkDocs.push(...page)
    await checkForkEvidence(run, forkDocs, checker)
  } finally {
    if (!opts.checker) await checker.close()
  }
  if (!run.genesisSeen) run.issue('NO_GENESIS', '', 'the genesis event of this vault is missing or invalid')
  for (const [author, seen] of Object.entries(opts.point?.feeds ?? {})) {
    const w = run.feeds.get(author)
    if (!w || (w.length < seen.length && !w.broken)) {
      run.issue('TRUNCATED', `${EVENT_PREFIX}${author}`, `feed holds ${w?.length ?? 0} events but ${seen.length} were verified before: events were removed`, { author })
    }
  }
  return run.report('full', updateSeq, started)
}

/**
 * Check only what changed since `point`: every document PouchDB wrote after
 * the point's update sequence, plus each feed's head at the point.
 */
export async function verifyIncremental(opts: VerifyOptions & { point: VerifiedPoint }): Promise<VerifyReport> {
  const started = performance.now()
  const { store, point } = opts
  const run = new Run(opts)
  run.genesisSeen = true // established by the point's own verification
  for (const f of point.forks) run.forks.set(f.author, f)
  for (const [author, h] of Object.entries(point.feeds)) {
    Object.assign(run.walk(author), { length: h.length, head: h.head })
    const doc = await store.get(author, h.length)
    if (!doc || !doc._rev?.startsWith('1-') || sha256Hex(doc.raw) !== h.head) {
      run.issue('REWRITTEN', doc?._id ?? `${EVENT_PREFIX}${author}`, 'the verified head of this feed was removed or changed', { author, seq: h.length })
      run.walk(author).broken = true
    }
  }
  const fresh: EventDoc[] = []
  const forkDocs: EventDoc[] = []
  let since: number | string = point.updateSeq
  for (;;) {
    const res = await store.db.changes({ since, limit: 1000, include_docs: true })
    if (res.results.length === 0) break
    for (const change of res.results) {
      const doc = change.doc as unknown as EventDoc
      if (change.id.startsWith(FORK_PREFIX)) { forkDocs.push(doc); continue }
      const slot = parseEventDocId(change.id)
      if (!slot) { if (change.id.startsWith(EVENT_PREFIX)) run.issue('STRAY_DOC', change.id, 'document in the event range with an invalid id'); continue }
      const verified = point.feeds[slot.author]?.length ?? 0
      if (change.deleted) run.issue('DELETED', change.id, 'an event document was deleted', slot)
      else if (slot.seq <= verified) run.issue('REWRITTEN', change.id, `an already verified event was rewritten (revision ${doc._rev})`, slot)
      else fresh.push(doc)
    }
    since = res.last_seq
  }
  fresh.sort((a, b) => (a._id < b._id ? -1 : 1))
  const checker = opts.checker ?? checkerFor(fresh.length)
  try {
    const pages: EventDoc[][] = []
    for (let i = 0; i < fresh.length; i += 1000) pages.push(fresh.slice(i, i + 1000))
    await checkPages(run, pages, checker, fresh.length)
    await checkForkEvidence(run, forkDocs, checker)
  } finally {
    if (!opts.checker) await checker.close()
  }
  return run.report('incremental', typeof since === 'number' ? since : Number(since), started)
}

/**
 * Verify events that come from somewhere other than the store (an export file,
 * a bundle): the same per-event and chain rules, in the order given.
 */
export async function verifyDocs(opts: Omit<VerifyOptions, 'store' | 'point'>, pages: Iterable<EventDoc[]>, total: number): Promise<VerifyReport> {
  const started = performance.now()
  const run = new Run(opts)
  const checker = opts.checker ?? checkerFor(total)
  try {
    await checkPages(run, pages, checker, total)
  } finally {
    if (!opts.checker) await checker.close()
  }
  if (!run.genesisSeen) run.issue('NO_GENESIS', '', 'the genesis event of this vault is missing or invalid')
  return run.report('full', 0, started)
}
