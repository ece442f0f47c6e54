/**
 * Builds signed governance events by hand (fixed keys, chosen timestamps and
 * citations), for fold tests that need events no honest vault would write.
 * `emit` writes envelope v2: by default an event cites the tips of the
 * governance events its author knows (everything, unless a `view` is given)
 * and its own previous governance event, as a vault does. `emitV1` writes the
 * old envelope (seen = every other feed's head), for the pinned v1 fixture.
 */
import nacl from 'tweetnacl'
import {
  signEvent,
  compareCites,
  GENESIS_TYPE,
  type Cite,
  type DecodedEvent,
  type SeenHead
} from '../../core/envelope.js'
import { toHex } from '../../core/bytes.js'
import type { Json } from '../../core/canonical.js'
import { isGovernanceType, type GovEvent } from '../../core/governance/fold.js'

export interface SimMember {
  name: string
  roles: string[]
  kp: nacl.SignKeyPair
  key: string
}

export function simMember(name: string, roles: string[], seedByte: number): SimMember {
  const kp = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(seedByte))
  return { name, roles, kp, key: toHex(kp.publicKey) }
}

export interface EmitOptions {
  ts?: string
  /** Exactly these citations (v2). */
  deps?: Cite[]
  /** Cite the tips of these governance events only (an author who knows just these). */
  view?: ReadonlySet<string>
  /** Sign at this position instead of the feed's next one (a fork); `prev` then names the event before it. */
  at?: { seq: number; prev: string }
}

export class GovSim {
  readonly events: DecodedEvent[] = []
  readonly heads = new Map<string, { seq: number; id: string }>()
  vaultId = ''
  private clock = Date.parse('2026-06-01T00:00:00.000Z')
  private readonly parents = new Map<string, string[]>()

  constructor(
    readonly members: SimMember[],
    extraKeys: Record<string, SimMember[]> = {},
    policy?: Json,
    version: 1 | 2 = 2
  ) {
    const founder = members[0]!
    const body = {
      vault: null,
      author: founder.key,
      seq: 1,
      prev: null,
      ts: this.tick(),
      type: GENESIS_TYPE,
      payload: {
        name: 'Sim vault',
        members: members.map((m) => ({
          name: m.name,
          roles: m.roles,
          keys: [m.key, ...(extraKeys[m.name] ?? []).map((x) => x.key)]
        })) as unknown as Json,
        ...(policy ? { policy } : {})
      }
    }
    const g =
      version === 1
        ? signEvent({ v: 1, ...body, seen: [] }, founder.kp.secretKey)
        : signEvent({ v: 2, ...body, deps: [] }, founder.kp.secretKey)
    this.vaultId = g.id
    this.record(g, [])
  }

  tick(ms = 1000): string {
    this.clock += ms
    return new Date(this.clock).toISOString()
  }

  private record(d: DecodedEvent, parents: string[]): void {
    this.events.push(d)
    const head = this.heads.get(d.event.author)
    if (!head || d.event.seq > head.seq) this.heads.set(d.event.author, { seq: d.event.seq, id: d.id })
    if (isGovernanceType(d.event.type)) this.parents.set(d.id, parents)
  }

  /** The governance events of `who` (latest last). */
  private ownGov(who: string, before = Infinity): DecodedEvent[] {
    return this.events.filter((e) => e.event.author === who && e.event.seq < before && isGovernanceType(e.event.type))
  }

  /** Tips of the governance events in `view` (all by default): those no other event in it cites. */
  tips(view?: ReadonlySet<string>): DecodedEvent[] {
    const inView = this.events.filter((e) => isGovernanceType(e.event.type) && (!view || view.has(e.id)))
    const cited = new Set(inView.flatMap((e) => this.parents.get(e.id) ?? []))
    return inView.filter((e) => !cited.has(e.id))
  }

  /** The governance events `id` has in its causal past, itself included (a view for an author who knows just that). */
  pastOf(...ids: string[]): Set<string> {
    const out = new Set<string>()
    const stack = [...ids]
    while (stack.length > 0) {
      const id = stack.pop()!
      if (out.has(id)) continue
      out.add(id)
      stack.push(...(this.parents.get(id) ?? []))
    }
    return out
  }

  /** Sign the next (v2) event of `who`'s feed. */
  emit(who: SimMember, type: string, payload: Record<string, Json>, opts: EmitOptions = {}): DecodedEvent {
    const head = this.heads.get(who.key)
    const seq = opts.at?.seq ?? (head?.seq ?? 0) + 1
    const prev = opts.at?.prev ?? head?.id ?? this.vaultId
    const gov = isGovernanceType(type)
    let deps: Cite[] = opts.deps ?? []
    if (!opts.deps && gov) {
      const mine = this.ownGov(who.key, seq)
        .filter((e) => !opts.view || opts.view.has(e.id))
        .at(-1)
      const cite = (e: DecodedEvent): Cite => ({ author: e.event.author, seq: e.event.seq, id: e.id })
      const others = this.tips(opts.view)
        .filter((e) => e.event.author !== who.key)
        .slice(0, mine ? 15 : 16)
      deps = [...(mine ? [cite(mine)] : []), ...others.map(cite)].sort(compareCites)
    }
    const d = signEvent(
      { v: 2, vault: this.vaultId, author: who.key, seq, prev, ts: opts.ts ?? this.tick(), type, payload, deps },
      who.kp.secretKey
    )
    this.record(d, gov ? this.parentIds(d) : [])
    return d
  }

  /** A v1 event: `seen` defaults to every other feed's head ("fully synced"). */
  emitV1(
    who: SimMember,
    type: string,
    payload: Record<string, Json>,
    opts: { ts?: string; seen?: SeenHead[] } = {}
  ): DecodedEvent {
    const head = this.heads.get(who.key)
    const seen =
      opts.seen ??
      [...this.heads.entries()]
        .filter(([a]) => a !== who.key)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([author, h]) => ({ author, seq: h.seq, id: h.id }))
    const d = signEvent(
      {
        v: 1,
        vault: this.vaultId,
        author: who.key,
        seq: (head?.seq ?? 0) + 1,
        prev: head?.id ?? this.vaultId,
        ts: opts.ts ?? this.tick(),
        type,
        payload,
        seen
      },
      who.kp.secretKey
    )
    const own = this.ownGov(who.key, d.event.seq).at(-1)
    this.record(
      d,
      [...seen.map((h) => h.id), ...(own ? [own.id] : []), ...this.payloadRefs(d)].filter((id) => this.parents.has(id))
    )
    return d
  }

  private payloadRefs(d: DecodedEvent): string[] {
    const p = d.event.payload
    return [
      ...(typeof p.proposal === 'string' ? [p.proposal] : []),
      ...(Array.isArray(p.approvals) ? (p.approvals as string[]) : [])
    ]
  }

  private parentIds(d: DecodedEvent): string[] {
    const e = d.event
    const deps = e.v === 2 ? e.deps.map((c) => c.id) : []
    return [...new Set([...deps, ...this.payloadRefs(d)])].filter((id) => this.parents.has(id))
  }

  gov(): GovEvent[] {
    return this.events.filter((d) => isGovernanceType(d.event.type)).map((d) => ({ id: d.id, event: d.event }))
  }
}
