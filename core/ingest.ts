/**
 * The ingestion gate: one judge for everything that arrives from outside
 * (bundles, sync peers). For each incoming event it decides:
 *   ADMIT      verified, continues its feed, and governance can place it
 *   DUPLICATE  this exact event is already held
 *   QUARANTINE malformed, forged, for another vault, refused by governance,
 *              or a fork (kept as evidence: code FORK)
 *   WAIT       fine so far, but something it needs is not here yet: its
 *              feed's predecessor, an event it cites, the commit that makes
 *              its author a member, or its time (signed ahead of this clock)
 * A governance event is admitted only once every event it cites is held
 * (closed before admission), so nothing is ever taken on trust.
 * The caller supplies the vault's heads, held slots and governance fold, and
 * applies the plan (committing or rolling back the fold).
 */
import { GENESIS_TYPE, decodeEvent, type DecodedEvent } from './envelope.js'
import { INTERNAL, MALFORMED, MISPLACED, VaultError } from './errors.js'
import { GovFold, isGovernanceType, type GovEvent } from './governance/fold.js'
import { everKeys, type GovState } from './governance/state.js'
import { LIMITS } from './limits.js'
import { eventDocId, parseEventDocId } from './store.js'

export type Decision = 'ADMIT' | 'DUPLICATE' | 'QUARANTINE' | 'WAIT'
export interface Verdict {
  docId: string
  eventId: string
  decision: Decision
  code: string
  reason: string
}

export interface GateInput {
  vaultId: string
  heads: Map<string, { length: number; head: string }>
  /** The vault's governance fold; extended in a transaction when the new events come after it. */
  fold: GovFold
  /** Fork evidence held: event id → its slot. */
  /** Fork evidence held: event id → its slot and prev. */
  evidence: Map<string, { author: string; seq: number; prev?: string | null }>
  /**
   * Ids of events held in the slots that incoming v1 `seen` heads name (non-governance ones the fold does not hold).
   */
  heldCited: Set<string>
  /** This device's clock (ms), for events signed ahead of it. */
  now: number
  /** Incoming documents: their slot id and raw bytes, or their already checked decoding. */
  incoming: Incoming[]
  /** For each incoming document, the id of the event this vault holds in that slot (or null). */
  held: (string | null)[]
  /**
   * For each incoming document, the id of the event this vault holds in its feed at the seq before (or null). An
   * event whose `prev` is another proves its key signed a second event there: the fork is at that seq, whichever
   * path the event takes through the gate, so every device freezes the key at the same position.
   */
  before?: (string | null)[]
}

/** An incoming document; `checked` is set when its bytes and signature were already checked (in parallel). */
export interface Incoming {
  docId: string
  raw: unknown
  checked?: DecodedEvent | { code: string; reason: string }
}

export interface GatePlan {
  verdicts: Verdict[]
  admit: DecodedEvent[]
  /** Valid events that disagree with a held event, or continue such a branch: kept as evidence. */
  forks: DecodedEvent[]
  heads: Map<string, { length: number; head: string }>
  /** The fold to keep: the vault's own (extended; `extended` true: commit or roll back) or a new one. */
  fold: GovFold
  extended: boolean
  state: GovState
}

/** Decode what can be decoded; anything else is quarantined with its reason. */
export function decodeIncoming(vaultId: string, docId: string, raw: unknown): DecodedEvent | Verdict {
  try {
    if (typeof raw !== 'string') throw MALFORMED('document carries no signed event bytes')
    const d = decodeEvent(raw, vaultId)
    const slot = parseEventDocId(docId)
    if (!slot || slot.author !== d.event.author || slot.seq !== d.event.seq)
      throw MISPLACED('event is stored under another slot id')
    return d
  } catch (err) {
    const code = err instanceof VaultError ? err.code : 'MALFORMED'
    return { docId, eventId: '', decision: 'QUARANTINE', code, reason: (err as Error).message }
  }
}

function slotMatches(docId: string, d: DecodedEvent): boolean {
  const slot = parseEventDocId(docId)
  return slot !== null && slot.author === d.event.author && slot.seq === d.event.seq
}

const slotId = (d: DecodedEvent) => eventDocId(d.event.author, d.event.seq)
const govOf = (d: DecodedEvent): GovEvent => ({ id: d.id, event: d.event })

export function planIngest(input: GateInput): GatePlan {
  const verdicts: Verdict[] = []
  const forks: DecodedEvent[] = []
  const fresh = new Map<string, DecodedEvent[]>()
  const seen = new Set<string>()
  const newForks = new Map<string, number>()
  // Positions where this vault already keeps fork evidence: any other event for them is evidence too.
  const contested = new Set([...input.evidence.values()].map((e) => `${e.author}:${e.seq}`))
  input.incoming.forEach(({ docId, raw, checked }, i) => {
    const d =
      checked === undefined
        ? decodeIncoming(input.vaultId, docId, raw)
        : 'code' in checked
          ? { docId, eventId: '', decision: 'QUARANTINE' as const, code: checked.code, reason: checked.reason }
          : slotMatches(docId, checked)
            ? checked
            : {
                docId,
                eventId: checked.id,
                decision: 'QUARANTINE' as const,
                code: 'MISPLACED',
                reason: 'event is stored under another slot id'
              }
    if ('decision' in d) return verdicts.push(d)
    const held = input.held[i]
    if (held === d.id || input.evidence.has(d.id))
      return verdicts.push({ docId, eventId: d.id, decision: 'DUPLICATE', code: 'DUPLICATE', reason: 'already held' })
    if (seen.has(d.id)) return
    seen.add(d.id)
    // Signed ahead of this clock: it waits, whatever it is (evidence too), so no device acts on it before the others
    // can.
    if (isGovernanceType(d.event.type) && Date.parse(d.event.ts) > input.now + LIMITS.maxFutureMs) {
      return verdicts.push({
        docId: slotId(d),
        eventId: d.id,
        decision: 'WAIT',
        code: 'FROM_THE_FUTURE',
        reason: `signed at ${d.event.ts}, ahead of this device's clock: it waits until then`
      })
    }
    // Its prev is not the event held at the seq before: a second event there (the earlier fork point).
    const prior = input.before?.[i] ?? null
    if (prior !== null && d.event.seq > 1 && d.event.prev !== prior) {
      const at = newForks.get(d.event.author)
      if (at === undefined || d.event.seq - 1 < at) newForks.set(d.event.author, d.event.seq - 1)
    }
    if (held || contested.has(`${d.event.author}:${d.event.seq}`)) {
      forks.push(d)
      const at = newForks.get(d.event.author)
      if (at === undefined || d.event.seq < at) newForks.set(d.event.author, d.event.seq)
      return verdicts.push({
        docId,
        eventId: d.id,
        decision: 'QUARANTINE',
        code: 'FORK',
        reason: `a second event for ${d.event.author.slice(0, 8)}…#${d.event.seq} (fork): kept as evidence; the key is frozen from there`
      })
    }
    const list = fresh.get(d.event.author) ?? []
    list.push(d)
    fresh.set(d.event.author, list)
  })
  for (const list of fresh.values()) {
    const at = new Map<number, number>()
    for (const d of list) at.set(d.event.seq, (at.get(d.event.seq) ?? 0) + 1)
    for (const [seq, n] of at) {
      const author = list[0]!.event.author
      if (n > 1 && seq < (newForks.get(author) ?? Infinity)) newForks.set(author, seq)
    }
  }
  const knownForks = new Map(input.fold.forked)
  for (const [author, seq] of newForks) if (seq < (knownForks.get(author) ?? Infinity)) knownForks.set(author, seq)
  let forksChanged = [...newForks].some(([author, seq]) => seq < (input.fold.forked.get(author) ?? Infinity))

  // Settle: chains, then governance, until nothing new is held back.
  const blocked = new Map<string, Verdict>()
  for (let round = 0; round < 16; round++) {
    const { chained, branch, heads, waiting, linkForks } = chain(input, fresh, blocked, forks, knownForks)
    for (const [author, seq] of linkForks) {
      forksChanged ||= seq < (input.fold.forked.get(author) ?? Infinity)
      if (seq < (knownForks.get(author) ?? Infinity)) knownForks.set(author, seq)
    }
    const candidates = chained.filter((d) => isGovernanceType(d.event.type))
    const evidence = [...forks, ...branch].filter((d) => isGovernanceType(d.event.type)).map(govOf)
    const known = new Set([...chained, ...branch, ...forks].map((d) => d.id))
    for (const d of candidates) {
      const missing = uncitable(d, input, known)
      if (missing)
        blocked.set(d.id, {
          docId: slotId(d),
          eventId: d.id,
          decision: 'WAIT',
          code: 'CITES_MISSING',
          reason: `cites ${missing.slice(0, 12)}…, which this device does not hold yet`
        })
    }
    const ready = candidates.filter((d) => !blocked.has(d.id)).map(govOf)
    if (ready.length !== candidates.length) continue
    const { fold, extended } = foldWith(input, ready, evidence, knownForks, forksChanged)
    let more = false
    for (const d of candidates) {
      const o = fold.outcome(d.id)
      if (!o || o.kind === 'ok' || o.kind === 'ignored' || o.kind === 'frozen') continue
      more = true
      blocked.set(
        d.id,
        o.kind === 'waiting'
          ? { docId: slotId(d), eventId: d.id, decision: 'WAIT', code: 'CITES_MISSING', reason: o.reason }
          : {
              docId: slotId(d),
              eventId: d.id,
              decision: 'QUARANTINE',
              code: o.kind === 'invalid' ? 'INVALID_COMMIT' : 'REFUSED',
              reason: `breaks governance: ${o.reason}`
            }
      )
    }
    const keys = everKeys(fold.state)
    for (const d of chained) {
      if (isGovernanceType(d.event.type) || keys.has(d.event.author)) continue
      more = true
      blocked.set(d.id, {
        docId: slotId(d),
        eventId: d.id,
        decision: 'WAIT',
        code: 'UNKNOWN_AUTHOR',
        reason: 'author is not (yet) a key of this vault'
      })
    }
    if (more) {
      if (extended) fold.rollback()
      continue
    }
    for (const d of chained)
      verdicts.push({ docId: slotId(d), eventId: d.id, decision: 'ADMIT', code: 'ADMIT', reason: 'verified' })
    for (const d of branch)
      verdicts.push({
        docId: slotId(d),
        eventId: d.id,
        decision: 'QUARANTINE',
        code: 'FORK',
        reason: 'continues a forked branch of its feed: kept as evidence'
      })
    const kept = new Set(branch.map((d) => d.id))
    for (const v of blocked.values()) if (!kept.has(v.eventId)) verdicts.push(v)
    for (const v of waiting) verdicts.push(v) // a loop, not a spread: a batch can hold 100,000 waiting events
    return { verdicts, admit: chained, forks: [...forks, ...branch], heads, fold, extended, state: fold.state }
  }
  throw INTERNAL('ingestion did not settle')
}

/** The vault's fold extended by the ready events when they come after it, else a new fold over everything. */
function foldWith(
  input: GateInput,
  ready: GovEvent[],
  evidence: GovEvent[],
  forks: Map<string, number>,
  forksChanged: boolean
): { fold: GovFold; extended: boolean } {
  if (!forksChanged && evidence.length === 0) {
    input.fold.begin()
    if (input.fold.extend(ready, true)) return { fold: input.fold, extended: true }
    input.fold.rollback()
  }
  return {
    fold: GovFold.build(input.vaultId, input.fold.events(), ready, {
      forks,
      evidence: [...input.fold.evidenceEvents(), ...evidence]
    }),
    extended: false
  }
}

/** The first id a governance event cites that neither this vault nor the input holds (v1 `seen` heads included). */
function uncitable(d: DecodedEvent, input: GateInput, incoming: Set<string>): string | null {
  const e = d.event
  const holds = (id: string) =>
    input.fold.has(id) || incoming.has(id) || input.evidence.has(id) || input.heldCited.has(id)
  const cites = e.v === 2 ? e.deps : e.seen
  for (const c of cites) if (!holds(c.id)) return c.id
  if (e.type !== 'gov.propose' && e.type !== GENESIS_TYPE) {
    const p = e.payload
    if (typeof p.proposal === 'string' && !holds(p.proposal)) return p.proposal
    if (Array.isArray(p.approvals)) for (const a of p.approvals) if (typeof a === 'string' && !holds(a)) return a
  }
  return null
}

/**
 * Extend each feed from the vault's head with the incoming events that
 * continue it. Anything else that proves a fork is evidence, kept and never
 * a reason to stop the feed: an event that continues a forked branch (its
 * `prev` is evidence), a second event for a position another incoming event
 * takes, and an event whose `prev` is not the event held at the position
 * before it. A key known to have forked takes no new events into its feed
 * from the fork on: whatever it signed there is evidence, on every device
 * alike, whichever branch a device happens to hold in its feed.
 */
function chain(
  input: GateInput,
  fresh: Map<string, DecodedEvent[]>,
  blocked: Map<string, Verdict>,
  forks: DecodedEvent[],
  forked: ReadonlyMap<string, number>
) {
  const heads = new Map(input.heads)
  const chained: DecodedEvent[] = []
  const branch: DecodedEvent[] = []
  const waiting: Verdict[] = []
  const linkForks = new Map<string, number>()
  const branchTips = new Map<string, { author: string; seq: number }>(input.evidence)
  for (const d of forks) branchTips.set(d.id, { author: d.event.author, seq: d.event.seq })
  const evidenceAt = new Set([...branchTips.values()].map((e) => `${e.author}:${e.seq}`))
  // The prevs of the evidence held and arriving, by position (what a newly chained event is compared with).
  const prevsAt = new Map<string, (string | null)[]>()
  const notePrev = (author: string, seq: number, prev: string | null | undefined) => {
    if (prev === undefined) return
    const k = `${author}:${seq}`
    prevsAt.set(k, [...(prevsAt.get(k) ?? []), prev])
  }
  for (const e of input.evidence.values()) notePrev(e.author, e.seq, e.prev)
  for (const d of forks) notePrev(d.event.author, d.event.seq, d.event.prev)
  const keep = (d: DecodedEvent, forkAt?: number) => {
    branch.push(d)
    branchTips.set(d.id, { author: d.event.author, seq: d.event.seq })
    evidenceAt.add(`${d.event.author}:${d.event.seq}`)
    const author = d.event.author
    if (forkAt !== undefined && forkAt >= 1 && forkAt < (linkForks.get(author) ?? Infinity))
      linkForks.set(author, forkAt)
  }
  for (const [author, list] of fresh) {
    const sorted = [...list].sort((a, b) => a.event.seq - b.event.seq || (a.id < b.id ? -1 : 1))
    let stop: string | null = null
    for (let k = 0; k < sorted.length;) {
      const seq = sorted[k]!.event.seq
      const group: DecodedEvent[] = []
      while (k < sorted.length && sorted[k]!.event.seq === seq) group.push(sorted[k++]!)
      const rest: DecodedEvent[] = []
      for (const d of group) {
        const tip = d.event.prev ? branchTips.get(d.event.prev) : undefined
        if (tip && tip.author === author && tip.seq === seq - 1) keep(d)
        else rest.push(d)
      }
      if (rest.length === 0) continue
      const head = heads.get(author) ?? { length: 0, head: '' }
      if (seq >= (forked.get(author) ?? Infinity)) {
        // Frozen from an earlier fork: still evidence, and one that does not follow the feed's last event moves the
        // fork point before it (as it would have, had it arrived before the key froze).
        for (const d of rest)
          keep(d, seq === head.length + 1 && seq > 1 && d.event.prev !== head.head ? seq - 1 : undefined)
        continue
      }
      if (seq !== head.length + 1) {
        // Another event of this key is held at seq - 1, and this one does not follow it: a fork there.
        if (seq > head.length + 1 && evidenceAt.has(`${author}:${seq - 1}`)) {
          for (const d of rest) keep(d, seq - 1)
          continue
        }
        for (const d of rest)
          if (!blocked.has(d.id))
            waiting.push({
              docId: slotId(d),
              eventId: d.id,
              decision: 'WAIT',
              code: 'PREDECESSOR_MISSING',
              reason: stop ?? `waiting for events ${head.length + 1}..${seq - 1} of this feed`
            })
        continue
      }
      const links = (d: DecodedEvent) =>
        d.event.prev === (seq === 1 ? (d.id === input.vaultId ? null : input.vaultId) : head.head)
      // Of several events for one position, the first that can take it does; the others are fork evidence.
      const chosen = stop ? undefined : rest.find((d) => !blocked.has(d.id) && links(d))
      for (const d of rest) if (d !== chosen && (!links(d) || chosen)) keep(d, links(d) ? undefined : seq - 1)
      if (!chosen) {
        // Every event that could take the position is held back (its verdict says why): the feed waits behind it.
        if (rest.some(links)) stop ??= 'an earlier event of this feed was not admitted'
        continue
      }
      heads.set(author, { length: seq, head: chosen.id })
      chained.push(chosen)
      // Evidence already held for the next position that does not follow the event now in this one: the key signed
      // a second event here. The fork point is a function of what is held, whatever order it came in.
      if (
        (prevsAt.get(`${author}:${seq + 1}`) ?? []).some((p) => p !== chosen.id) &&
        seq < (linkForks.get(author) ?? Infinity)
      )
        linkForks.set(author, seq)
    }
  }
  return { chained, branch, heads, waiting, linkForks }
}
