/**
 * The deterministic fold: governance events → state.
 *
 * Graph. Every governance event cites its causal predecessors by hash: v2
 * `deps` (the tips its author held, and always its own previous governance
 * event, as Automerge changes do), and the events its payload names
 * (an approval's proposal, a commit's approvals). v1 events keep their `seen`
 * heads that name held governance events, their `prev`, and their feed's
 * previous governance event. A
 * gate admits an event only once it holds everything it cites, so the graph is
 * closed and acyclic by construction: an event can only cite what existed when
 * it was signed.
 *
 * Order. Events are placed in the greedy topological order that takes, among
 * the events whose predecessors are all placed, the smallest event id (the
 * genesis first). The order depends only on the set of events, and its
 * restriction to any causal past is that past's own order.
 *
 * Validity is causal. Whether an event counts is decided by its own causal
 * past alone: the authority (members, keys, policy) its past establishes, the
 * proposal it names, the closing events in its past and its vault time. No
 * event that arrives later can change that verdict: a commit that was valid
 * where it was signed stays valid. What the order decides is only how valid
 * actions combine: the first commit of a proposal closes it, a commit stands
 * over a rejection it had not seen, and register actions apply in order (one
 * that no longer fits fails, e.g. a second concurrent addition of one member).
 *
 * Forks. A key that signed two different events at one seq is frozen from
 * that seq: its events there and after count only if an event by another,
 * unforked key cites them (an acknowledgement made before the fork was known
 * is final), and nothing it signs afterwards counts.
 *
 * Time. No device clock is trusted. An event's vault time is the largest
 * author timestamp in itself and its causal past; a v2 event may not be
 * earlier than what it cites, so its vault time is its own timestamp. An
 * approval or commit counts only at a vault time at or before the proposal's
 * expiry. Gates hold events signed more than LIMITS.maxFutureMs ahead of
 * their own clock until then.
 */
import type { Json } from '../canonical.js'
import { GENESIS_TYPE, type SignedEvent } from '../envelope.js'
import { isHex } from '../bytes.js'
import { own } from '../dict.js'
import { LIMITS } from '../limits.js'
import {
  applyAuthority,
  applyRegisters,
  checkActionShape,
  checkAuthority,
  checkRegisters,
  isAuthorityAction,
  type Action
} from './actions.js'
import { isEligibleChecker, missingApprovals, rulesFor } from './policy.js'
import {
  authorOf,
  brokenState,
  genesisAuthority,
  genesisState,
  type Authority,
  type GovState,
  type ProposalState
} from './state.js'
import { Versions, type Version } from './versions.js'

export interface GovEvent {
  id: string
  event: SignedEvent
}

export const GOV_TYPES = [
  GENESIS_TYPE,
  'gov.propose',
  'gov.approve',
  'gov.reject',
  'gov.withdraw',
  'gov.commit'
] as const

export function isGovernanceType(type: string): boolean {
  return (GOV_TYPES as readonly string[]).includes(type)
}

export interface FoldContext {
  /** Keys known (from held evidence) to have signed two events at one seq: the lowest such seq. */
  forks?: ReadonlyMap<string, number>
  /**
   * Fork evidence held: the other branches of forks. They take part like
   * arriving events (what cannot count is left out, as a gate would leave it
   * out of a feed), so a device holds the same graph whichever branch of a
   * fork it happens to keep in its feed.
   */
  evidence?: readonly GovEvent[]
}

/**
 * What became of an event:
 *   ok       it counts
 *   ignored  valid, but it changes nothing (e.g. a second approval by one member)
 *   frozen   valid, but its key forked and no other key acknowledged it
 *   refused  it can never count (bad author, self-approval, invalid action…): a gate quarantines it
 *   invalid  a commit that breaks governance (no quorum…): a gate quarantines it; held, it fails verification
 *   waiting  it cites an event that is not held: a gate keeps it waiting
 */
export type OutcomeKind = 'ok' | 'ignored' | 'frozen' | 'refused' | 'invalid' | 'waiting'
export interface Outcome {
  kind: OutcomeKind
  reason: string
}

const OK: Outcome = { kind: 'ok', reason: '' }
const TS_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

interface ProposalInfo {
  action: Action
  proposer: string
  expiresAt: string
}

interface Node {
  i: number
  id: string
  e: SignedEvent
  /** Arriving from outside: if it cannot count it is left out (with everything citing it) instead of being recorded. */
  candidate: boolean
  parents: number[]
  children: number[]
  /** A cited id that is not held. */
  missing: string | null
  /** A structural reason it can never count. */
  bad: string | null
  pending: number
  pos: number
  vt: string
  ver: Version | null
  outcome: Outcome | null
  proposal: ProposalInfo | null
  action: Action | null
  acked: boolean
}

interface ApprovalRecord {
  proposal: number
  key: string
}

/** Fold governance events (any order, duplicates allowed) into the vault's state. */
export function foldGovernance(vaultId: string, events: GovEvent[], ctx: FoldContext = {}): GovState {
  return GovFold.build(vaultId, events, [], ctx).state
}

/**
 * A folded governance graph that can grow: `extend` places events that come
 * after everything already placed (a device's own next event, or a peer's
 * that cites this device's latest) without folding again; anything else is a
 * new `build`. Changes made inside `begin()` can be taken back with
 * `rollback()`.
 */
export class GovFold {
  readonly state: GovState
  private readonly nodes: Node[] = []
  private readonly index = new Map<string, number>()
  private readonly byAuthor = new Map<string, number[]>()
  private readonly order: number[] = []
  private readonly tips = new Set<number>()
  private readonly approvals = new Map<number, ApprovalRecord>()
  private readonly closes = new Map<number, number[]>()
  private readonly forks: Map<string, number>
  private readonly evidence = new Set<string>()
  private readonly versions: Versions | null
  /** The action of each authority commit, in the vault's order. */
  private readonly acActions: Action[] = []
  private auth: Authority | null
  private stamp: number[] = []
  private stampGen = 0
  private journal: (() => void)[] | null = null
  /** The last committed proposal (in fold order) that set each flag (`flag:NAME`) or setting (`setting:NAME`). */
  private readonly lastSetter = new Map<string, string>()
  private readonly outcomes = new Map<string, Outcome>()

  private constructor(
    readonly vaultId: string,
    genesis: GovEvent | undefined,
    ctx: FoldContext
  ) {
    this.forks = new Map(ctx.forks ?? [])
    let state: GovState
    let auth: Authority | null = null
    if (!genesis || genesis.event.type !== GENESIS_TYPE) {
      state = brokenState(vaultId, 'the genesis event is missing')
    } else {
      try {
        auth = genesisAuthority(genesis.event.payload)
        state = genesisState(vaultId, genesis.event.payload, auth)
      } catch (err) {
        state = brokenState(vaultId, `the genesis event is invalid: ${(err as Error).message}`)
        auth = null
      }
    }
    this.state = state
    this.auth = auth
    this.versions = auth ? new Versions(auth, (ac) => this.acActions[ac]!) : null
    state.height = 0
  }

  /** Fold `held` (already in the log) and `candidates` (arriving; left out when they cannot count). */
  static build(vaultId: string, held: GovEvent[], candidates: GovEvent[], ctx: FoldContext = {}): GovFold {
    const genesis = held.find((e) => e.id === vaultId) ?? candidates.find((e) => e.id === vaultId)
    const fold = new GovFold(vaultId, genesis, ctx)
    fold.addNodes(held, false, false)
    const evidence = (ctx.evidence ?? []).filter((e) => !fold.index.has(e.id))
    for (const e of evidence) fold.evidence.add(e.id)
    fold.addNodes([...evidence, ...candidates], true, false)
    // Citations are resolved once every event is known, whichever list it came in.
    for (const n of fold.nodes) fold.resolve(n)
    fold.detectForks()
    fold.place(fold.nodes.map((n) => n.i))
    return fold
  }

  /** What the fold made of an event it was given (null if it was never given). */
  outcome(id: string): Outcome | null {
    return this.outcomes.get(id) ?? null
  }

  /** The governance events placed, in order. */
  placed(): GovEvent[] {
    return this.order.map((i) => ({ id: this.nodes[i]!.id, event: this.nodes[i]!.e }))
  }

  /** Held events of feeds (not evidence), as given, also those left unplaced; candidates once placed. */
  events(): GovEvent[] {
    return this.nodes
      .filter((n) => !this.evidence.has(n.id) && (!n.candidate || n.pos >= 0))
      .map((n) => ({ id: n.id, event: n.e }))
  }

  /** Fork evidence given to this fold (placed or not). */
  evidenceEvents(): GovEvent[] {
    return this.nodes.filter((n) => this.evidence.has(n.id)).map((n) => ({ id: n.id, event: n.e }))
  }

  /** The context to fold these events again with. */
  context(): FoldContext {
    return { forks: this.forks, evidence: this.evidenceEvents() }
  }

  has(id: string): boolean {
    const i = this.index.get(id)
    return i !== undefined && this.nodes[i]!.pos >= 0
  }

  get forked(): ReadonlyMap<string, number> {
    return this.forks
  }

  /** The ids of the placed events in `id`'s causal past (itself excluded). */
  ancestors(id: string): Set<string> {
    const out = new Set<string>()
    const start = this.index.get(id)
    const stack = start === undefined ? [] : [...this.nodes[start]!.parents]
    while (stack.length > 0) {
      const n = this.nodes[stack.pop()!]!
      if (out.has(n.id)) continue
      out.add(n.id)
      stack.push(...n.parents)
    }
    return out
  }

  /**
   * The latest vault time among the placed events named (''  if none is placed): a new event citing them is dated no
   * earlier.
   */
  timeOf(ids: string[]): string {
    let t = ''
    for (const id of ids) {
      const i = this.index.get(id)
      const n = i === undefined ? undefined : this.nodes[i]!
      if (n && n.pos >= 0 && n.vt > t) t = n.vt
    }
    return t
  }

  /**
   * Place `events` after everything placed so far, if they all come after
   * the last placed event (they cite it, or cite events that do) and no key
   * is forked. Returns false (changing nothing) when they do not: fold again.
   */
  extend(events: GovEvent[], candidate: boolean): boolean {
    if (this.forks.size > 0 || !this.versions) return false
    const last = this.order[this.order.length - 1]
    const fresh = events.filter((e) => !this.index.has(e.id))
    if (fresh.length === 0) return true
    const outer = this.journal
    const undo: (() => void)[] = []
    this.journal = undo
    const first = this.nodes.length
    this.addNodes(fresh, candidate)
    const added = this.nodes.slice(first)
    const after = new Set<number>()
    // Two events in one slot are a fork: that needs the whole graph folded again.
    const ok =
      new Set(added.map((x) => `${x.e.author}:${x.e.seq}`)).size === added.length &&
      !added.some((n) => this.sameSlotHeld(n))
    // In index order a node's new parents come before it only if they were given first; iterate to a fixpoint.
    for (let changed = ok; changed;) {
      changed = false
      for (const n of added) {
        if (after.has(n.i)) continue
        if (n.parents.some((p) => p === last || after.has(p))) {
          after.add(n.i)
          changed = true
        }
      }
    }
    if (!ok || after.size !== added.length) {
      this.journal = outer
      for (const u of undo.reverse()) u()
      return false
    }
    this.place(added.map((n) => n.i))
    this.journal = outer
    if (outer) for (const u of undo) outer.push(u)
    return true
  }

  /** Start recording changes so they can be taken back. */
  begin(): void {
    this.journal = []
  }

  commit(): void {
    this.journal = null
  }

  rollback(): void {
    const undo = this.journal ?? []
    this.journal = null
    for (const u of undo.reverse()) u()
  }

  /**
   * What a new event of `author` should cite: its own latest governance
   * event, the last placed event and the other tips of the graph, oldest
   * first, at most LIMITS.maxDeps in all. Frozen and refused events are never
   * cited: citing a frozen event would acknowledge it.
   */
  citationsFor(author: string): { author: string; seq: number; id: string }[] {
    const out: Node[] = []
    const mine = this.byAuthor.get(author) ?? []
    for (let k = mine.length - 1; k >= 0; k--) {
      const n = this.nodes[mine[k]!]!
      if (n.pos >= 0) {
        out.push(n)
        break
      }
    }
    // The last placed event first (an event citing it extends the fold in place), then the oldest tips (so none is left
    // behind).
    const last = this.nodes[this.order[this.order.length - 1] ?? -1]
    if (last && last.e.author !== author && this.citable(last)) out.push(last)
    const others = [...this.tips]
      .map((i) => this.nodes[i]!)
      .filter((n) => n.e.author !== author && n !== last && this.citable(n))
      .sort((a, b) => a.pos - b.pos)
    out.push(...others.slice(0, LIMITS.maxDeps - out.length))
    return out
      .map((n) => ({ author: n.e.author, seq: n.e.seq, id: n.id }))
      .sort((a, b) => (a.author < b.author ? -1 : a.author > b.author ? 1 : a.seq - b.seq))
  }

  private citable(n: Node): boolean {
    return n.outcome !== null && (n.outcome.kind === 'ok' || n.outcome.kind === 'ignored')
  }

  // ---- building ----

  private addNodes(events: GovEvent[], candidate: boolean, resolve = true): void {
    const first = this.nodes.length
    for (const g of events) {
      if (this.index.has(g.id)) continue
      const i = this.nodes.length
      const n: Node = {
        i,
        id: g.id,
        e: g.event,
        candidate,
        parents: [],
        children: [],
        missing: null,
        bad: null,
        pending: 0,
        pos: -1,
        vt: g.event.ts,
        ver: null,
        outcome: null,
        proposal: null,
        action: null,
        acked: false
      }
      this.nodes.push(n)
      this.index.set(g.id, i)
      const list = this.byAuthor.get(g.event.author) ?? []
      if (list.length === 0) this.byAuthor.set(g.event.author, list)
      let at = list.length
      while (at > 0 && this.nodes[list[at - 1]!]!.e.seq > g.event.seq) at--
      list.splice(at, 0, i)
      this.journal?.push(() => {
        list.splice(list.indexOf(i), 1)
        if (list.length === 0) this.byAuthor.delete(g.event.author)
        this.index.delete(g.id)
        this.outcomes.delete(g.id)
        this.nodes.pop()
      })
    }
    if (resolve) for (let i = first; i < this.nodes.length; i++) this.resolve(this.nodes[i]!)
  }

  /** Two events of one key at one seq in the graph itself are a fork too. */
  private detectForks(): void {
    for (const [author, list] of this.byAuthor) {
      for (let k = 1; k < list.length; k++) {
        const seq = this.nodes[list[k]!]!.e.seq
        if (seq === this.nodes[list[k - 1]!]!.e.seq && seq < (this.forks.get(author) ?? Infinity))
          this.forks.set(author, seq)
      }
    }
    this.state.frozen = [...this.forks].map(([key, seq]) => ({ key, seq })).sort((a, b) => (a.key < b.key ? -1 : 1))
  }

  private sameSlotHeld(n: Node): boolean {
    return (this.byAuthor.get(n.e.author) ?? []).some((j) => j !== n.i && this.nodes[j]!.e.seq === n.e.seq)
  }

  /** The author's governance event just before `n` in its feed (for unforked feeds: by seq). */
  private previousOwn(n: Node): Node | null {
    const fork = this.forks.get(n.e.author)
    if (fork !== undefined && n.e.seq >= fork) return null
    // The author's events are kept sorted by seq: binary search for the last one before `n`.
    const list = this.byAuthor.get(n.e.author)!
    let lo = 0,
      hi = list.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.nodes[list[mid]!]!.e.seq < n.e.seq) lo = mid + 1
      else hi = mid
    }
    return lo === 0 ? null : this.nodes[list[lo - 1]!]!
  }

  private resolve(n: Node): void {
    const e = n.e
    n.parents = []
    const gen = ++this.stampGen // dedupe without a Set per event
    if (e.type !== GENESIS_TYPE) {
      if (e.v === 2) {
        // v2: what an event comes after is exactly what it cites (its own previous governance event included), never
        // inferred from what is held.
        for (const d of e.deps) this.cite(n, gen, d.id, true, d)
      } else {
        if (typeof e.prev === 'string') this.cite(n, gen, e.prev, false)
        for (const h of e.seen) this.cite(n, gen, h.id, false, h)
      }
      this.citePayload(n, gen)
      const own = this.previousOwn(n)
      if (own) {
        if (e.v === 1) this.addParent(n, gen, own.i)
        else if (!e.deps.some((d) => d.id === own.id)) n.bad ??= 'does not cite its own previous governance event'
        if (e.v === 2) this.checkMonotone(n, own)
      }
    }
    for (const p of n.parents) {
      const m = this.nodes[p]!
      m.children.push(n.i)
      this.journal?.push(() => {
        m.children.pop()
      })
    }
  }

  private addParent(n: Node, gen: number, j: number): void {
    if (j !== n.i && this.stamp[j] !== gen) {
      this.stamp[j] = gen
      n.parents.push(j)
    }
  }

  /** `n` cites `id` (at `slot`, when the citation names one). Not held: `n` waits for it, if it must be held. */
  private cite(n: Node, gen: number, id: string, required: boolean, slot?: { author: string; seq: number }): void {
    const j = this.index.get(id)
    if (j === undefined) {
      if (required) n.missing ??= id
      return
    }
    const m = this.nodes[j]!
    if (slot && (m.e.author !== slot.author || m.e.seq !== slot.seq))
      n.bad ??= `cites ${id.slice(0, 12)}… at a position it does not hold`
    this.addParent(n, gen, j)
  }

  /** The events the payload names are causal predecessors too: an approval comes after its proposal. */
  private citePayload(n: Node, gen: number): void {
    const p = n.e.payload
    if (n.e.type === 'gov.propose') return
    if (!isHex(p.proposal, 32)) {
      n.bad ??= 'names no proposal'
      return
    }
    this.cite(n, gen, p.proposal, true)
    if (n.e.type !== 'gov.commit') return
    const list = p.approvals
    if (!Array.isArray(list) || list.length > LIMITS.maxApprovals || !list.every((a) => isHex(a, 32))) {
      n.bad ??= `a commit lists at most ${LIMITS.maxApprovals} approvals by event id`
      return
    }
    for (const a of list) this.cite(n, gen, a as string, true)
  }

  /** Cited positions never go backwards along a feed: what its previous event cited of a feed, it cites no earlier. */
  private checkMonotone(n: Node, prior: Node): void {
    if (n.e.v !== 2 || prior.e.v !== 2) return
    // Both lists are sorted by author then seq (the envelope insists): one merge walk.
    const before = prior.e.deps
    let k = 0
    for (const d of n.e.deps) {
      while (k < before.length && before[k]!.author < d.author) k++
      let j = k
      while (j < before.length && before[j]!.author === d.author) {
        if (d.author !== n.e.author && before[j]!.seq > d.seq) {
          n.bad ??= `cites ${d.author.slice(0, 8)}…#${d.seq}, earlier than its own previous event did`
          break
        }
        j++
      }
    }
  }

  // ---- placing ----

  private place(indices: number[]): void {
    const set = new Set(indices)
    for (const i of indices) {
      const n = this.nodes[i]!
      n.pending = n.parents.filter((p) => set.has(p) || this.nodes[p]!.pos < 0).length + (n.missing ? 1 : 0)
    }
    if (this.forks.size > 0) this.computeAcks()
    const heap = new IdHeap(this.vaultId)
    for (const i of indices) if (this.nodes[i]!.pending === 0) heap.push(this.nodes[i]!)
    for (let n = heap.pop(); n; n = heap.pop()) {
      if (!this.process(n)) continue
      for (const c of n.children) {
        const child = this.nodes[c]!
        if (set.has(c) && --child.pending === 0) heap.push(child)
      }
    }
    for (const i of indices) {
      const n = this.nodes[i]!
      if (n.pos >= 0 || n.outcome) continue
      const reason = n.missing
        ? `cites ${n.missing.slice(0, 12)}…, which this device does not hold`
        : n.parents.some((p) => this.nodes[p]!.outcome && this.nodes[p]!.pos < 0)
          ? 'cites an event that was not admitted'
          : 'waits for events it cites'
      this.setOutcome(n, { kind: 'waiting', reason })
      if (!n.candidate) this.push(this.state.ignored, { id: n.id, reason })
    }
  }

  /**
   * A forked key's event is acknowledged when an event of an unforked key (or of a key before its own fork) has it in
   * its past.
   */
  private computeAcks(): void {
    const accepts = (n: Node) => !(this.forks.has(n.e.author) && n.e.seq >= this.forks.get(n.e.author)!)
    const indeg = this.nodes.map((n) => n.parents.length)
    const queue = this.nodes.filter((n) => n.parents.length === 0).map((n) => n.i)
    const topo: number[] = []
    while (queue.length > 0) {
      const i = queue.pop()!
      topo.push(i)
      for (const c of this.nodes[i]!.children) if (--indeg[c]! === 0) queue.push(c)
    }
    for (let k = topo.length - 1; k >= 0; k--) {
      const n = this.nodes[topo[k]!]!
      n.acked = n.children.some((c) => accepts(this.nodes[c]!) || this.nodes[c]!.acked)
    }
  }

  /** Judge and place one event whose predecessors are placed. Returns false when it is left out. */
  private process(n: Node): boolean {
    let vt = n.e.ts
    for (const p of n.parents) if (this.nodes[p]!.vt > vt) vt = this.nodes[p]!.vt
    n.vt = vt
    const past =
      n.e.type === GENESIS_TYPE && n.id === this.vaultId
        ? (this.versions?.root ?? null)
        : (this.versions?.joinAll(n.parents.map((p) => this.nodes[p]!.ver)) ?? null)
    const outcome = this.judge(n, past)
    if (n.candidate && (outcome.kind === 'refused' || outcome.kind === 'invalid')) {
      this.setOutcome(n, outcome)
      return false
    }
    n.pos = this.order.length
    this.push(this.order, n.i)
    this.journal?.push(() => {
      n.pos = -1
      n.ver = null
      n.proposal = null
      n.action = null
    })
    for (const p of n.parents) this.untip(p)
    this.tips.add(n.i)
    this.journal?.push(() => {
      this.tips.delete(n.i)
    })
    this.setOutcome(n, outcome)
    this.state.height++
    this.journal?.push(() => {
      this.state.height--
    })
    n.ver = past
    this.apply(n, outcome, past ? this.versions!.authority(past) : null)
    if (outcome.kind === 'ok' && n.action && isAuthorityAction(n.action.kind)) {
      const versions = this.versions!
      this.acActions.push(n.action)
      const ac = versions.placed(this.auth!)
      this.journal?.push(() => {
        this.acActions.pop()
        versions.unplace()
      })
      n.ver = versions.extend(past!, ac)
    }
    return true
  }

  private untip(i: number): void {
    if (this.tips.delete(i))
      this.journal?.push(() => {
        this.tips.add(i)
      })
  }

  private setOutcome(n: Node, outcome: Outcome): void {
    n.outcome = outcome
    this.outcomes.set(n.id, outcome)
    this.journal?.push(() => {
      n.outcome = null
    })
  }

  private push<T>(list: T[], value: T): void {
    list.push(value)
    this.journal?.push(() => {
      list.pop()
    })
  }

  private set<T extends object, K extends keyof T>(obj: T, key: K, value: T[K]): void {
    const had = Object.prototype.hasOwnProperty.call(obj, key)
    const old = obj[key]
    obj[key] = value
    this.journal?.push(() => {
      if (had) obj[key] = old
      else delete obj[key]
    })
  }

  // ---- judging: causal validity first, then what the order makes of it ----

  private judge(n: Node, past: Version | null): Outcome {
    const outcome = this.validity(n, past)
    if (outcome.kind !== 'ok' && outcome.kind !== 'ignored') return outcome
    const fork = this.forks.get(n.e.author)
    if (fork !== undefined && n.e.seq >= fork && !n.acked) {
      return {
        kind: 'frozen',
        reason: `key ${n.e.author.slice(0, 8)}… forked at seq ${fork}; no other key acknowledged this event`
      }
    }
    return outcome
  }

  private validity(n: Node, past: Version | null): Outcome {
    const refused = (reason: string): Outcome => ({ kind: 'refused', reason })
    const e = n.e
    if (n.bad) return refused(n.bad)
    if (e.type === GENESIS_TYPE) return n.id === this.vaultId ? OK : refused('a second genesis event')
    if (!past) return refused("does not descend from this vault's genesis")
    const fork = this.forks.get(e.author)
    if (e.v === 1 && fork !== undefined && e.seq >= fork) return refused(`a v1 event of a key forked at seq ${fork}`)
    const a = this.versions!.authority(past)
    const owner = authorOf(a, e.author)
    if (!owner?.active)
      return refused("author key is not an active key of an active member in this event's causal past")
    if (e.v === 2 && n.vt !== e.ts) return refused('signed earlier than an event it cites')
    const member = owner.member
    const p = e.payload
    if (e.type === 'gov.propose') return this.judgePropose(n, a)
    const target = this.nodes[this.index.get(p.proposal as string)!]!
    const info = target.proposal
    if (!info || target.pos < 0) return refused('no such proposal in this vault')
    const ps = own(this.state.proposals, target.id)!
    switch (e.type) {
      case 'gov.approve':
        if (member.name === info.proposer) return refused('you proposed this; another member must approve')
        if (n.vt > info.expiresAt) return refused('approval came after the proposal expired')
        if (ps.status !== 'open') return { kind: 'ignored', reason: `proposal is already ${ps.status}` }
        if (ps.approvals.some((x) => x.member === member.name))
          return { kind: 'ignored', reason: `${member.name} has already approved (quorums count members, not keys)` }
        return OK
      case 'gov.reject': {
        const rules = rulesFor(a.policy, info.action.kind, info.action.args)
        if (!isEligibleChecker(rules, info.proposer, { member: member.name, roles: member.roles }))
          return refused(`${member.name} is not an eligible checker for this proposal`)
        if (subjectOf(info.action) === member.name)
          return refused(`${member.name} cannot veto a change of their own membership, roles or keys`)
        return ps.status === 'open' ? OK : { kind: 'ignored', reason: `proposal is already ${ps.status}` }
      }
      case 'gov.withdraw':
        if (member.name !== info.proposer) return refused('only the proposer may withdraw')
        return ps.status === 'open' ? OK : { kind: 'ignored', reason: `proposal is already ${ps.status}` }
      case 'gov.commit': {
        const invalid = this.judgeCommit(n, target, info, a)
        if (invalid) return { kind: 'invalid', reason: invalid }
        return ps.status === 'committed' || ps.status === 'failed'
          ? { kind: 'ignored', reason: `proposal is already ${ps.status}` }
          : OK
      }
      default:
        return refused(`unknown governance event ${e.type}`)
    }
  }

  private judgePropose(n: Node, a: Authority): Outcome {
    const p = n.e.payload
    let action: Action
    try {
      action = checkActionShape(p.action)
      checkAuthority(a, action)
    } catch (err) {
      return { kind: 'refused', reason: `invalid action: ${(err as Error).message}` }
    }
    const expiresAt = p.expiresAt
    if (typeof expiresAt !== 'string' || !TS_RE.test(expiresAt) || expiresAt <= n.e.ts)
      return { kind: 'refused', reason: 'expiresAt must be a UTC time after the proposal' }
    n.proposal = { action, proposer: authorOf(a, n.e.author)!.member.name, expiresAt }
    return OK
  }

  /** Why a commit does not count, judged by its own causal past; null when it does. */
  private judgeCommit(n: Node, target: Node, info: ProposalInfo, a: Authority): string | null {
    if (n.vt > info.expiresAt) return 'commit after the proposal expired'
    for (const c of this.closes.get(target.i) ?? []) {
      const close = this.nodes[c]!
      if (this.reaches(n, close))
        return `commit after the proposal was ${close.e.type === 'gov.reject' ? 'rejected' : 'withdrawn'} (${close.id.slice(0, 12)}…)`
    }
    const signers: { member: string; roles: string[] }[] = []
    const revoked: string[] = []
    for (const id of new Set(n.e.payload.approvals as string[])) {
      const rec = this.approvals.get(this.index.get(id)!)
      if (!rec || rec.proposal !== target.i)
        return `commit lists ${id.slice(0, 12)}…, which is not a counted approval of this proposal`
      const o = authorOf(a, rec.key)
      if (o?.active) signers.push({ member: o.member.name, roles: o.member.roles })
      else revoked.push(id.slice(0, 12))
    }
    const proposer = own(a.members, info.proposer)
    const missing = missingApprovals(
      rulesFor(a.policy, info.action.kind, info.action.args),
      info.proposer,
      signers,
      proposer?.active === true
    )
    if (missing.length === 0) return null
    const note =
      revoked.length > 0 ? ` (approval(s) ${revoked.join(', ')}… are by keys no longer active when committing)` : ''
    return `quorum not met: ${missing.join('; ')}${note}`
  }

  /** Whether `target` is in the causal past of `from` (searching only events placed after it). */
  private reaches(from: Node, target: Node): boolean {
    const gen = ++this.stampGen
    const stack = [...from.parents]
    while (stack.length > 0) {
      const i = stack.pop()!
      if (i === target.i) return true
      if (this.stamp[i] === gen) continue
      this.stamp[i] = gen
      const m = this.nodes[i]!
      if (m.pos <= target.pos) continue
      stack.push(...m.parents)
    }
    return false
  }

  // ---- applying what counts, in order ----

  private apply(n: Node, outcome: Outcome, a: Authority | null): void {
    const kind = outcome.kind
    if (kind !== 'ok') n.proposal = null // only a proposal that counts can be approved or committed
    if (kind === 'invalid') {
      this.push(this.state.issues, { id: n.id, code: 'INVALID_COMMIT', message: outcome.reason })
      return
    }
    if (kind === 'refused' || kind === 'frozen' || kind === 'waiting') {
      this.push(this.state.ignored, { id: n.id, reason: outcome.reason })
      return
    }
    if (n.e.type === GENESIS_TYPE) return
    const e = n.e
    if (e.type === 'gov.propose') {
      if (kind !== 'ok') return
      const info = n.proposal!
      const p = e.payload
      const proposal: ProposalState = {
        id: n.id,
        proposer: info.proposer,
        action: info.action,
        reason: typeof p.reason === 'string' ? p.reason.slice(0, 1000) : '',
        createdAt: e.ts,
        expiresAt: info.expiresAt,
        status: 'open',
        approvals: [],
        rejections: [],
        closedBy: null,
        failure: null,
        overridden: []
      }
      this.set(this.state.proposals, n.id, proposal)
      return
    }
    const target = this.index.get(e.payload.proposal as string)!
    const ps = own(this.state.proposals, this.nodes[target]!.id)!
    const member = authorOf(a!, e.author)!.member
    if (e.type === 'gov.approve') {
      this.approvals.set(n.i, { proposal: target, key: e.author })
      this.journal?.push(() => {
        this.approvals.delete(n.i)
      })
    }
    if (e.type === 'gov.reject' || e.type === 'gov.withdraw') {
      const list = this.closes.get(target) ?? []
      if (list.length === 0) this.closes.set(target, list)
      this.push(list, n.i)
    }
    if (kind === 'ignored') {
      this.push(this.state.ignored, { id: n.id, reason: outcome.reason })
      return
    }
    switch (e.type) {
      case 'gov.approve':
        this.push(ps.approvals, { member: member.name, key: e.author, roles: [...member.roles], id: n.id })
        return
      case 'gov.reject':
        this.push(ps.rejections, {
          member: member.name,
          reason: typeof e.payload.reason === 'string' ? e.payload.reason.slice(0, 1000) : '',
          id: n.id
        })
        this.set(ps, 'status', 'rejected')
        this.set(ps, 'closedBy', n.id)
        return
      case 'gov.withdraw':
        this.set(ps, 'status', 'withdrawn')
        this.set(ps, 'closedBy', n.id)
        return
      case 'gov.commit':
        return this.applyCommit(n, ps, this.nodes[target]!.proposal!.action)
    }
  }

  private applyCommit(n: Node, ps: ProposalState, action: Action): void {
    if (ps.closedBy) this.push(ps.overridden, ps.closedBy)
    this.set(ps, 'status', 'committed')
    this.set(ps, 'closedBy', n.id)
    n.action = action
    try {
      checkAuthority(this.auth!, action)
      if (isAuthorityAction(action.kind)) {
        const next = applyAuthority(this.auth!, action)
        const prior = this.auth
        this.auth = next
        this.journal?.push(() => {
          this.auth = prior
        })
        this.set(this.state, 'members', next.members)
        this.set(this.state, 'policy', next.policy)
        if (action.kind === 'policy.set') {
          for (const flag of Object.keys(next.policy.flags))
            if (own(this.state.flags, flag) === undefined) this.set(this.state.flags, flag, false)
        }
        return
      }
      checkRegisters(this.state, action)
      this.journalRegisters(action)
      applyRegisters(this.state, action, ps.id)
      this.noteSetter(ps, action)
    } catch (err) {
      this.set(ps, 'status', 'failed')
      this.set(ps, 'failure', (err as Error).message)
    }
  }

  /**
   * Concurrent commits that set the same flag or setting both apply, in the one order every device computes: the
   * later one's value stands. The earlier one is marked superseded by it, so every device can say which won.
   */
  private noteSetter(ps: ProposalState, action: Action): void {
    const args = action.args as Record<string, Json>
    const keys =
      action.kind === 'flag.set'
        ? [`flag:${String(args.flag)}`]
        : action.kind === 'vault.settings' && typeof args.settings === 'object' && args.settings !== null
          ? Object.keys(args.settings).map((k) => `setting:${k}`)
          : []
    for (const key of keys) {
      const prev = this.lastSetter.get(key)
      if (prev !== undefined && prev !== ps.id) {
        const earlier = own(this.state.proposals, prev)
        if (earlier && earlier.supersededBy === undefined) this.set(earlier, 'supersededBy', ps.id)
      }
      this.lastSetter.set(key, ps.id)
      this.journal?.push(() => {
        if (prev === undefined) this.lastSetter.delete(key)
        else this.lastSetter.set(key, prev)
      })
    }
  }

  private journalRegisters(action: Action): void {
    const args = action.args as Record<string, Json>
    if (action.kind === 'flag.set') {
      const flags = this.state.flags,
        flag = args.flag as string
      const had = own(flags, flag)
      this.journal?.push(() => {
        if (had === undefined) delete flags[flag]
        else flags[flag] = had
      })
    } else if (action.kind === 'register.append') {
      const list = this.state.registers[args.register as keyof GovState['registers']]
      const length = list.length
      this.journal?.push(() => {
        list.length = length
      })
    } else if (action.kind === 'vault.settings') {
      const { settings, name } = this.state
      const prior = [...Object.keys(args.settings as object)].map((k) => [k, own(settings, k)] as const)
      this.journal?.push(() => {
        for (const [k, v] of prior)
          if (v === undefined) delete settings[k]
          else settings[k] = v
        this.state.name = name
      })
    } else {
      // The fields the other actions replace whole (never change in place): put back as they were.
      const state = this.state
      const kept = REPLACED_FIELDS.map((k) => [k, state[k]] as const)
      this.journal?.push(() => {
        for (const [k, v] of kept)
          if (v === undefined) delete state[k]
          else (state as unknown as Record<string, unknown>)[k] = v
      })
    }
  }
}

/** State fields that actions set by replacing them, absent until first set (so older pinned state hashes stand). */
const REPLACED_FIELDS = [
  'migrated',
  'witnessPolicy',
  'docRules',
  'docActs'
] as const satisfies readonly (keyof GovState)[]

/**
 * The member an action is about, for removals, role changes and key
 * revocations: they may approve it, never veto it, so a stolen key cannot
 * keep itself in the vault.
 */
function subjectOf(action: Action): string | null {
  const args = action.args as Record<string, unknown>
  if (action.kind === 'member.remove' || action.kind === 'member.roles') return args.name as string
  if (action.kind === 'key.revoke') return args.member as string
  return null
}

/** A binary min-heap of nodes by event id, the vault's genesis first. */
class IdHeap {
  private readonly items: Node[] = []
  constructor(private readonly vaultId: string) {}

  private key(n: Node): string {
    return n.id === this.vaultId ? '' : n.id
  }

  push(n: Node): void {
    const a = this.items
    a.push(n)
    let i = a.length - 1
    while (i > 0) {
      const up = (i - 1) >> 1
      if (this.key(a[up]!) <= this.key(a[i]!)) break
      ;[a[up], a[i]] = [a[i]!, a[up]!]
      i = up
    }
  }

  pop(): Node | undefined {
    const a = this.items
    if (a.length === 0) return undefined
    const top = a[0]!
    const last = a.pop()!
    if (a.length > 0) {
      a[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1,
          r = l + 1
        let m = i
        if (l < a.length && this.key(a[l]!) < this.key(a[m]!)) m = l
        if (r < a.length && this.key(a[r]!) < this.key(a[m]!)) m = r
        if (m === i) break
        ;[a[m], a[i]] = [a[i]!, a[m]!]
        i = m
      }
    }
    return top
  }
}
