/**
 * The ingestion gate: one judge for everything that arrives from outside
 * (bundles, sync peers). For each incoming event it decides:
 *   ADMIT      verified, continues its feed, counts under governance
 *   DUPLICATE  this exact event is already held
 *   QUARANTINE malformed, forged, for another vault, a fork, breaks governance
 *   WAIT       fine so far, but its predecessor (or the commit that makes its
 *              author a member) has not arrived yet
 * Pure: the caller supplies the vault's current heads, held slots and
 * governance events, and applies the plan.
 */
import { decodeEvent, type DecodedEvent } from './envelope.js'
import { VaultError } from './errors.js'
import { foldGovernance, isGovernanceType, type GovEvent } from './governance/fold.js'
import { everKeys, type GovState } from './governance/state.js'
import { parseEventDocId } from './store.js'

export type Decision = 'ADMIT' | 'DUPLICATE' | 'QUARANTINE' | 'WAIT'
export interface Verdict { docId: string; eventId: string; decision: Decision; code: string; reason: string }

export interface GateInput {
  vaultId: string
  heads: Map<string, { length: number; head: string }>
  govEvents: GovEvent[]
  govIssues: number
  /** Incoming documents: their slot id and raw bytes, or their already checked decoding. */
  incoming: Incoming[]
  /** For each incoming document, the id of the event this vault holds in that slot (or null). */
  held: (string | null)[]
}

/** An incoming document; `checked` is set when its bytes and signature were already checked (in parallel). */
export interface Incoming { docId: string; raw: unknown; checked?: DecodedEvent | { code: string; reason: string } }

export interface GatePlan {
  verdicts: Verdict[]
  admit: DecodedEvent[]
  /** Valid events that disagree with a held event: keep as fork evidence. */
  forks: DecodedEvent[]
  heads: Map<string, { length: number; head: string }>
  state: GovState
  govEvents: GovEvent[]
}

/** Decode what can be decoded; anything else is quarantined with its reason. */
export function decodeIncoming(vaultId: string, docId: string, raw: unknown): DecodedEvent | Verdict {
  try {
    if (typeof raw !== 'string') throw new VaultError('MALFORMED', 'document carries no signed event bytes')
    const d = decodeEvent(raw, vaultId)
    const slot = parseEventDocId(docId)
    if (!slot || slot.author !== d.event.author || slot.seq !== d.event.seq) throw new VaultError('MISPLACED', 'event is stored under another slot id')
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

export function planIngest(input: GateInput): GatePlan {
  const verdicts: Verdict[] = []
  const forks: DecodedEvent[] = []
  const fresh = new Map<string, DecodedEvent[]>()
  const seen = new Set<string>()
  input.incoming.forEach(({ docId, raw, checked }, i) => {
    const d = checked === undefined ? decodeIncoming(input.vaultId, docId, raw)
      : 'code' in checked ? { docId, eventId: '', decision: 'QUARANTINE' as const, code: checked.code, reason: checked.reason }
        : slotMatches(docId, checked) ? checked : { docId, eventId: checked.id, decision: 'QUARANTINE' as const, code: 'MISPLACED', reason: 'event is stored under another slot id' }
    if ('decision' in d) return verdicts.push(d)
    const held = input.held[i]
    if (held === d.id) return verdicts.push({ docId, eventId: d.id, decision: 'DUPLICATE', code: 'DUPLICATE', reason: 'already held' })
    if (held) {
      forks.push(d)
      return verdicts.push({ docId, eventId: d.id, decision: 'QUARANTINE', code: 'FORK', reason: `a second event for ${d.event.author.slice(0, 8)}…#${d.event.seq} (fork): kept as evidence` })
    }
    if (seen.has(d.id)) return
    seen.add(d.id)
    const list = fresh.get(d.event.author) ?? []
    list.push(d)
    fresh.set(d.event.author, list)
  })
  // Settle to a fixpoint: chains first, then governance decides who may write and which commits count.
  const blocked = new Map<string, Verdict>()
  for (let round = 0; round < 64; round++) {
    const { chained, heads, waiting } = chain(input, fresh, blocked)
    const govEvents = [...input.govEvents, ...chained.filter((d) => isGovernanceType(d.event.type)).map((d) => ({ id: d.id, event: d.event }))]
    const state = foldGovernance(input.vaultId, govEvents)
    const known = everKeys(state)
    const chainedIds = new Set(chained.map((d) => d.id))
    const newIssues = state.issues.slice(input.govIssues).filter((i) => chainedIds.has(i.id))
    const strangers = chained.filter((d) => !known.has(d.event.author))
    if (newIssues.length === 0 && strangers.length === 0) {
      for (const d of chained) verdicts.push({ docId: slotId(d), eventId: d.id, decision: 'ADMIT', code: 'ADMIT', reason: 'verified' })
      verdicts.push(...blocked.values(), ...waiting)
      return { verdicts, admit: chained, forks, heads, state, govEvents }
    }
    for (const issue of newIssues) {
      const d = chained.find((x) => x.id === issue.id)!
      blocked.set(d.id, { docId: slotId(d), eventId: d.id, decision: 'QUARANTINE', code: issue.code, reason: `breaks governance: ${issue.message}` })
    }
    for (const d of strangers) {
      blocked.set(d.id, { docId: slotId(d), eventId: d.id, decision: 'WAIT', code: 'UNKNOWN_AUTHOR', reason: 'author is not (yet) a key of this vault' })
    }
  }
  throw new VaultError('INTERNAL', 'ingestion did not settle')
}

function slotId(d: DecodedEvent): string {
  return `ev!${d.event.author}!${String(d.event.seq).padStart(12, '0')}`
}

/** Extend each feed from the vault's head with the incoming events that continue it. */
function chain(input: GateInput, fresh: Map<string, DecodedEvent[]>, blocked: Map<string, Verdict>) {
  const heads = new Map(input.heads)
  const chained: DecodedEvent[] = []
  const waiting: Verdict[] = []
  for (const [author, list] of fresh) {
    const sorted = [...list].sort((a, b) => a.event.seq - b.event.seq)
    let stop: string | null = null
    for (const d of sorted) {
      if (blocked.has(d.id)) { stop ??= 'an earlier event of this feed was not admitted'; continue }
      const head = heads.get(author) ?? { length: 0, head: '' }
      const expectedPrev = d.event.seq === 1 ? (d.id === input.vaultId ? null : input.vaultId) : head.head
      if (stop || d.event.seq !== head.length + 1) {
        waiting.push({ docId: slotId(d), eventId: d.id, decision: 'WAIT', code: 'PREDECESSOR_MISSING', reason: stop ?? `waiting for events ${head.length + 1}..${d.event.seq - 1} of this feed` })
        continue
      }
      if (d.event.prev !== expectedPrev) {
        blocked.set(d.id, { docId: slotId(d), eventId: d.id, decision: 'QUARANTINE', code: 'BROKEN_LINK', reason: 'prev does not name the hash of the event before it' })
        stop = 'an earlier event of this feed was not admitted'
        continue
      }
      heads.set(author, { length: d.event.seq, head: d.id })
      chained.push(d)
    }
  }
  return { chained, heads, waiting }
}
