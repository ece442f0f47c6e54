/**
 * The deterministic fold: governance events → state.
 *
 * Order. Event b is causally after a when a is earlier in b's feed, or b's
 * `seen` heads (merged along b's own feed) include a's position. The fold
 * takes events in a topological order of that relation, breaking ties by the
 * smallest event id, so the order depends only on the set of events, never on
 * the order they arrived in. (Should forged `seen` heads ever form a cycle, the
 * smallest id among the stuck events goes first: still deterministic.)
 *
 * Time. No device clock is trusted. An event's vault time is the largest
 * author timestamp among itself and the governance events in its causal past;
 * it never goes backwards along causal order. An approval or commit counts
 * only if its vault time is at or before the proposal's expiry: a device with
 * a slow or lying clock cannot revive a proposal once it has seen any
 * governance event from after the expiry, and a fast clock can only make
 * proposals expire sooner.
 */
import type { Json } from '../canonical.js'
import { GENESIS_TYPE, type SignedEvent } from '../envelope.js'
import { applyAction, checkAction, type Action } from './actions.js'
import { isEligibleChecker, missingApprovals, rulesFor } from './policy.js'
import { brokenState, genesisState, keyOwner, type GovState, type ProposalState } from './state.js'

export interface GovEvent { id: string; event: SignedEvent }

export const GOV_TYPES = [GENESIS_TYPE, 'gov.propose', 'gov.approve', 'gov.reject', 'gov.withdraw', 'gov.commit'] as const

export function isGovernanceType(type: string): boolean {
  return (GOV_TYPES as readonly string[]).includes(type)
}

type Vc = Map<string, number>

export interface Ordering {
  ordered: GovEvent[]
  vaultTime: Map<string, string>
  /** The highest seq of `author`'s feed that event `e` had seen. */
  seenUpTo: (e: GovEvent, author: string) => number
}

/** Causal order with deterministic tie-break; genesis first; each event's vault time. */
export function orderGovernance(vaultId: string, events: GovEvent[]): Ordering {
  const unique = [...new Map(events.map((e) => [e.id, e])).values()]
  const byFeed = new Map<string, GovEvent[]>()
  for (const e of unique) {
    const list = byFeed.get(e.event.author) ?? []
    list.push(e)
    byFeed.set(e.event.author, list)
  }
  // Knowledge vector of each event: its seen heads, merged along its own feed.
  const vc = new Map<string, Vc>()
  for (const list of byFeed.values()) {
    list.sort((a, b) => a.event.seq - b.event.seq)
    let acc: Vc = new Map()
    for (const e of list) {
      acc = new Map(acc)
      for (const h of e.event.seen) acc.set(h.author, Math.max(acc.get(h.author) ?? 0, h.seq))
      vc.set(e.id, acc)
    }
  }
  const before = (a: GovEvent, b: GovEvent) => a.event.author === b.event.author
    ? a.event.seq < b.event.seq
    : (vc.get(b.id)!.get(a.event.author) ?? 0) >= a.event.seq
  const n = unique.length
  const indeg = new Array<number>(n).fill(0)
  const out: number[][] = unique.map(() => [])
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (i !== j && before(unique[i]!, unique[j]!)) { out[i]!.push(j); indeg[j]!++ }
    }
  }
  const isGenesis = (e: GovEvent) => e.id === vaultId
  const key = (i: number) => (isGenesis(unique[i]!) ? '' : unique[i]!.id)
  const done = new Array<boolean>(n).fill(false)
  let ready = unique.map((_, i) => i).filter((i) => indeg[i] === 0)
  const ordered: GovEvent[] = []
  const vaultTime = new Map<string, string>()
  const preds: string[][] = unique.map(() => [])
  while (ordered.length < n) {
    if (ready.length === 0) ready = [unique.map((_, i) => i).filter((i) => !done[i]).sort((a, b) => (key(a) < key(b) ? -1 : 1))[0]!]
    ready.sort((a, b) => (key(a) < key(b) ? -1 : 1))
    const i = ready.shift()!
    if (done[i]) continue
    done[i] = true
    const e = unique[i]!
    ordered.push(e)
    const vt = [e.event.ts, ...preds[i]!].reduce((m, t) => (t > m ? t : m))
    vaultTime.set(e.id, vt)
    for (const j of out[i]!) {
      preds[j]!.push(vt)
      if (--indeg[j]! === 0 && !done[j]) ready.push(j)
    }
  }
  const seenUpTo = (e: GovEvent, author: string) => (author === e.event.author ? e.event.seq - 1 : vc.get(e.id)?.get(author) ?? 0)
  return { ordered, vaultTime, seenUpTo }
}

/** Fold governance events (any order, duplicates allowed) into the vault's state. */
export function foldGovernance(vaultId: string, events: GovEvent[]): GovState {
  const { ordered, vaultTime, seenUpTo } = orderGovernance(vaultId, events)
  const genesis = ordered.find((e) => e.id === vaultId)
  if (!genesis || genesis.event.type !== GENESIS_TYPE) return brokenState(vaultId, 'the genesis event is missing')
  let state: GovState
  try {
    state = genesisState(vaultId, genesis.event.payload)
  } catch (err) {
    return brokenState(vaultId, `the genesis event is invalid: ${(err as Error).message}`)
  }
  const fold = new Fold(state, vaultTime, seenUpTo)
  for (const e of ordered) if (e !== genesis) fold.apply(e)
  return state
}

class Fold {
  private readonly approvalAt = new Map<string, { author: string; seq: number }>()

  constructor(private readonly state: GovState, private readonly vaultTime: Map<string, string>,
    private readonly seenUpTo: (e: GovEvent, author: string) => number) {}

  private ignore(e: GovEvent, reason: string): void {
    this.state.ignored.push({ id: e.id, reason })
  }

  apply(e: GovEvent): void {
    this.state.height++
    const owner = keyOwner(this.state, e.event.author)
    if (!owner || !owner.active) return this.ignore(e, 'author key is not an active key of an active member at this point')
    const member = owner.member
    const p = e.event.payload
    switch (e.event.type) {
      case 'gov.propose': return this.propose(e, member.name, p)
      case 'gov.approve': return this.approve(e, member.name, member.roles, p)
      case 'gov.reject': return this.reject(e, member.name, member.roles, p)
      case 'gov.withdraw': return this.withdraw(e, member.name, p)
      case 'gov.commit': return this.commit(e, p)
      default: return this.ignore(e, `unknown governance event ${e.event.type}`)
    }
  }

  private open(e: GovEvent, p: Record<string, Json>): ProposalState | null {
    const proposal = typeof p.proposal === 'string' ? this.state.proposals[p.proposal] : undefined
    if (!proposal) { this.ignore(e, 'no such proposal in this vault'); return null }
    if (proposal.status !== 'open') { this.ignore(e, `proposal is already ${proposal.status}`); return null }
    return proposal
  }

  private expired(e: GovEvent, proposal: ProposalState): boolean {
    return this.vaultTime.get(e.id)! > proposal.expiresAt
  }

  private propose(e: GovEvent, member: string, p: Record<string, Json>): void {
    let action: Action
    try {
      action = checkAction(this.state, p.action)
    } catch (err) {
      return this.ignore(e, `invalid action: ${(err as Error).message}`)
    }
    const expiresAt = p.expiresAt
    if (typeof expiresAt !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(expiresAt) || expiresAt <= e.event.ts) {
      return this.ignore(e, 'expiresAt must be a UTC time after the proposal')
    }
    this.state.proposals[e.id] = {
      id: e.id, proposer: member, action, reason: String(p.reason ?? ''), createdAt: e.event.ts, expiresAt,
      status: 'open', approvals: [], rejections: [], closedBy: null, failure: null
    }
  }

  private approve(e: GovEvent, member: string, roles: string[], p: Record<string, Json>): void {
    const proposal = this.open(e, p)
    if (!proposal) return
    if (member === proposal.proposer) return this.ignore(e, 'you proposed this; another member must approve')
    if (proposal.approvals.some((a) => a.member === member)) return this.ignore(e, `${member} has already approved (quorums count members, not keys)`)
    if (this.expired(e, proposal)) return this.ignore(e, 'approval came after the proposal expired')
    proposal.approvals.push({ member, key: e.event.author, roles: [...roles], id: e.id })
    this.approvalAt.set(e.id, { author: e.event.author, seq: e.event.seq })
  }

  private reject(e: GovEvent, member: string, roles: string[], p: Record<string, Json>): void {
    const proposal = this.open(e, p)
    if (!proposal) return
    const rules = rulesFor(this.state.policy, proposal.action.kind, proposal.action.args)
    if (!isEligibleChecker(rules, proposal.proposer, { member, roles })) return this.ignore(e, `${member} is not an eligible checker for this proposal`)
    proposal.rejections.push({ member, reason: String(p.reason ?? ''), id: e.id })
    proposal.status = 'rejected'
    proposal.closedBy = e.id
  }

  private withdraw(e: GovEvent, member: string, p: Record<string, Json>): void {
    const proposal = this.open(e, p)
    if (!proposal) return
    if (member !== proposal.proposer) return this.ignore(e, 'only the proposer may withdraw')
    proposal.status = 'withdrawn'
    proposal.closedBy = e.id
  }

  private commit(e: GovEvent, p: Record<string, Json>): void {
    const invalid = (message: string) => { this.state.issues.push({ id: e.id, code: 'INVALID_COMMIT', message }) }
    const proposal = this.open(e, p)
    if (!proposal) return
    if (this.expired(e, proposal)) return invalid('commit after the proposal expired')
    const listed = Array.isArray(p.approvals) ? (p.approvals as string[]) : []
    const approvals = []
    for (const id of new Set(listed)) {
      const a = proposal.approvals.find((x) => x.id === id)
      const at = this.approvalAt.get(id)
      if (!a || !at) return invalid(`commit lists ${String(id).slice(0, 12)}…, which is not a counted approval of this proposal`)
      if (this.seenUpTo(e, at.author) < at.seq) return invalid(`commit lists approval ${id.slice(0, 12)}… that its author had not seen`)
      approvals.push(a)
    }
    const rules = rulesFor(this.state.policy, proposal.action.kind, proposal.action.args)
    const missing = missingApprovals(rules, proposal.proposer, approvals)
    if (missing.length > 0) return invalid(`quorum not met: ${missing.join('; ')}`)
    proposal.closedBy = e.id
    try {
      const action = checkAction(this.state, proposal.action)
      applyAction(this.state, action)
      proposal.status = 'committed'
    } catch (err) {
      proposal.status = 'failed' // e.g. two concurrent proposals added the same member: the later one cannot apply
      proposal.failure = (err as Error).message
    }
  }
}
