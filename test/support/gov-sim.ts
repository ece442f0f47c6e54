/**
 * Builds signed governance events by hand (fixed keys, chosen timestamps and
 * seen heads), for fold tests that need events no honest vault would write.
 */
import nacl from 'tweetnacl'
import { signEvent, GENESIS_TYPE, type DecodedEvent, type SeenHead } from '../../core/envelope.js'
import { toHex } from '../../core/bytes.js'
import type { Json } from '../../core/canonical.js'
import type { GovEvent } from '../../core/governance/fold.js'

export interface SimMember { name: string; roles: string[]; kp: nacl.SignKeyPair; key: string }

export function simMember(name: string, roles: string[], seedByte: number): SimMember {
  const kp = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(seedByte))
  return { name, roles, kp, key: toHex(kp.publicKey) }
}

export class GovSim {
  readonly events: DecodedEvent[] = []
  readonly heads = new Map<string, { seq: number; id: string }>()
  vaultId = ''
  private clock = Date.parse('2026-06-01T00:00:00.000Z')

  constructor(readonly members: SimMember[], extraKeys: Record<string, SimMember[]> = {}, policy?: Json) {
    const founder = members[0]!
    const g = signEvent({
      v: 1, vault: null, author: founder.key, seq: 1, prev: null, ts: this.tick(), type: GENESIS_TYPE,
      payload: {
        name: 'Sim vault',
        members: members.map((m) => ({ name: m.name, roles: m.roles, keys: [m.key, ...(extraKeys[m.name] ?? []).map((x) => x.key)] })) as unknown as Json,
        ...(policy ? { policy } : {})
      },
      seen: []
    }, founder.kp.secretKey)
    this.vaultId = g.id
    this.events.push(g)
    this.heads.set(founder.key, { seq: 1, id: g.id })
  }

  tick(ms = 1000): string {
    this.clock += ms
    return new Date(this.clock).toISOString()
  }

  /** Sign the next event of `who`'s feed. `seen` defaults to every other feed's head ("fully synced"). */
  emit(who: SimMember, type: string, payload: Record<string, Json>, opts: { ts?: string; seen?: SeenHead[] } = {}): DecodedEvent {
    const head = this.heads.get(who.key)
    const seen = opts.seen ?? [...this.heads.entries()].filter(([a]) => a !== who.key).sort(([a], [b]) => (a < b ? -1 : 1)).map(([author, h]) => ({ author, seq: h.seq, id: h.id }))
    const d = signEvent({
      v: 1, vault: this.vaultId, author: who.key, seq: (head?.seq ?? 0) + 1, prev: head?.id ?? this.vaultId,
      ts: opts.ts ?? this.tick(), type, payload, seen
    }, who.kp.secretKey)
    this.heads.set(who.key, { seq: d.event.seq, id: d.id })
    this.events.push(d)
    return d
  }

  gov(): GovEvent[] {
    return this.events.map((d) => ({ id: d.id, event: d.event }))
  }
}
