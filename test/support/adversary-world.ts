/**
 * The world of the adversarial governance model (test/governance-adversary.test.ts):
 * three honest devices and mallory, who holds one member's key.
 */
import { expect } from 'vitest'
import fc from 'fast-check'
import nacl from 'tweetnacl'
import { canonicalize, type Json } from '../../core/canonical.js'
import { signEvent, type Cite, type DecodedEvent, type UnsignedEvent } from '../../core/envelope.js'
import { signDetached } from '../../core/ed25519.js'
import { signingBytes } from '../../core/envelope.js'
import { toHex } from '../../core/bytes.js'
import { GovFold, isGovernanceType } from '../../core/governance/fold.js'
import { stateHash, type GovState } from '../../core/governance/state.js'
import { ledgerBalances, type LedgerEntry } from '../../core/governance/registers.js'
import { viewProposal } from '../../core/api.js'
import { own } from '../../core/dict.js'
import { eventDocId } from '../../core/store.js'
import { GovSim, simMember } from './gov-sim.js'
import { ModelDevice } from './model-device.js'

const alice = simMember('alice', ['operator'], 0xa1)
const bob = simMember('bob', ['chain', 'operator'], 0xb0)
const carol = simMember('carol', ['auditor'], 0xc0)
const mallory = simMember('mallory', ['auditor', 'operator'], 0x66)
const honest = [alice, bob, carol]
const FLAGS = ['finance_enabled', 'streaming_enabled', 'proof_anchoring_enabled', 'reputation_enabled']
const WEEK = 7 * 86_400_000

export type Cmd =
  | { t: 'honest'; who: number; op: number; n: number }
  | { t: 'sync'; from: number; to: number; seed: number; dup: boolean }
  | { t: 'attack'; variant: number; n: number; view: number; to: number }

export const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({ t: fc.constant('honest' as const), who: fc.nat(2), op: fc.nat(7), n: fc.nat(1000) })
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('sync' as const),
      from: fc.nat(2),
      to: fc.nat(2),
      seed: fc.nat(),
      dup: fc.boolean()
    })
  },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('attack' as const),
      variant: fc.nat(11),
      n: fc.nat(1000),
      view: fc.nat(3),
      to: fc.nat(3)
    })
  }
)

function shuffled<T>(list: T[], seed: number): T[] {
  const out = [...list]
  let x = seed >>> 0 || 1
  for (let i = out.length - 1; i > 0; i--) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    const j = x % (i + 1)
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

/** Sign with mallory's key, bypassing every check signEvent makes (for malformed envelopes). */
function rawSigned(unsigned: UnsignedEvent, kp: nacl.SignKeyPair): string {
  return canonicalize({
    ...unsigned,
    sig: toHex(signDetached(kp.secretKey, signingBytes(unsigned)))
  } as unknown as Json)
}

export class World {
  readonly sim = new GovSim([alice, bob, carol, mallory])
  readonly genesis = this.sim.events[0]!
  now = Date.parse('2026-06-02T00:00:00.000Z')
  readonly devices = honest.map((m) => new ModelDevice(this.sim.vaultId, this.genesis, m, () => this.now))
  /** Everything anyone signed: what mallory knows. */
  readonly all = new Map<string, { docId: string; raw: string; d: DecodedEvent | null }>()
  /** Mallory's main chain. */
  readonly chain: DecodedEvent[] = []
  readonly honestCommits: { id: string; proposal: string }[] = []
  /** Mallory's events an honest member built on while they counted. */
  readonly acknowledged = new Set<string>()
  private extraKey = 0

  constructor() {
    this.keep(this.genesis)
  }

  keep(d: DecodedEvent): void {
    this.all.set(d.id, { docId: eventDocId(d.event.author, d.event.seq), raw: d.raw, d })
  }

  tick(): void {
    this.now += 1000
  }

  /** Mallory's view of the graph: everything signed, folded. */
  knowledge(): GovFold {
    const gov = [...this.all.values()].flatMap((x) =>
      x.d && isGovernanceType(x.d.event.type) ? [{ id: x.d.id, event: x.d.event }] : []
    )
    return GovFold.build(this.sim.vaultId, gov, [])
  }

  honestStep(c: Extract<Cmd, { t: 'honest' }>): void {
    const dev = this.devices[c.who]!
    const s = dev.fold.state
    const open = Object.values(s.proposals).filter((p) => p.status === 'open')
    const pick = <T>(list: T[]) => list[c.n % Math.max(1, list.length)]
    const expiresAt = new Date(this.now + WEEK).toISOString()
    const me = honest[c.who]!.name
    let d: DecodedEvent | null = null
    switch (c.op) {
      case 0: {
        const flag = FLAGS[c.n % FLAGS.length]!
        d = dev.write('gov.propose', {
          action: { kind: 'flag.set', args: { flag, value: own(s.flags, flag) !== true } },
          reason: 'model',
          expiresAt
        })
        break
      }
      case 1: {
        // Honest members approve honest proposals, and mallory's only when they are harmless.
        const p = pick(
          open.filter(
            (p) =>
              p.proposer !== me &&
              (p.proposer !== 'mallory' || ['flag.set', 'vault.settings', 'register.append'].includes(p.action.kind))
          )
        )
        if (p) d = dev.write('gov.approve', { proposal: p.id })
        break
      }
      case 2: {
        const p = pick(open)
        if (p) d = dev.write('gov.commit', { proposal: p.id, approvals: p.approvals.map((a) => a.id) })
        if (d) this.honestCommits.push({ id: d.id, proposal: p!.id })
        break
      }
      case 3: {
        const p = pick(open.filter((p) => p.proposer === 'mallory'))
        if (p) d = dev.write('gov.reject', { proposal: p.id, reason: 'no' })
        break
      }
      case 4: {
        const p = pick(open.filter((p) => p.proposer === me))
        if (p) d = dev.write('gov.withdraw', { proposal: p.id })
        break
      }
      case 5: {
        const key = toHex(nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(0x20 + (this.extraKey++ % 200))).publicKey)
        const actions: Json[] = [
          { kind: 'member.add', args: { name: 'constructor', roles: ['agent'], keys: [key] } },
          {
            kind: 'vault.settings',
            args: { settings: { constructor: 1, toString: 'x', valueOf: true, hasOwnProperty: 2 } }
          },
          {
            kind: 'policy.set',
            args: {
              policy: {
                default: { minMembers: 2, clauses: [] },
                actions: {},
                flags: {
                  ...Object.fromEntries(Object.entries(s.policy.flags)),
                  constructor: { criterion: 'a flag named constructor', minMembers: 2, clauses: [] }
                }
              }
            }
          },
          { kind: 'flag.set', args: { flag: 'constructor', value: true } },
          { kind: 'key.revoke', args: { member: 'mallory', key: mallory.key } },
          { kind: 'member.remove', args: { name: 'mallory' } }
        ]
        d = dev.write('gov.propose', { action: pick(actions)!, reason: 'model', expiresAt })
        break
      }
      case 6: {
        const account = ['constructor', 'tostring', 'valueof', 'cash'][c.n % 4]!
        const entry = {
          id: `e-${c.n}`,
          memo: 'm',
          postings: [
            { account, side: 'debit', amount: 5, currency: 'EUR' },
            { account: 'revenue', side: 'credit', amount: 5, currency: 'EUR' }
          ]
        }
        d = dev.write('gov.propose', {
          action: { kind: 'register.append', args: { register: 'ledger', entry } },
          reason: 'model',
          expiresAt
        })
        break
      }
      default: {
        const entry = {
          stream: 'constructor',
          version: 1 + (c.n % 3),
          fields: { valueOf: 'number', toString: 'string?' }
        }
        d = dev.write('gov.propose', {
          action: { kind: 'register.append', args: { register: 'streams', entry } },
          reason: 'model',
          expiresAt
        })
      }
    }
    if (!d) return
    this.keep(d)
    const past = dev.fold.ancestors(d.id)
    for (const id of past) {
      const x = this.all.get(id)?.d
      const o = dev.fold.outcome(id)
      if (x?.event.author === mallory.key && o && (o.kind === 'ok' || o.kind === 'ignored')) this.acknowledged.add(id)
    }
  }

  sync(c: Extract<Cmd, { t: 'sync' }>): void {
    if (c.from === c.to) return
    const docs = this.devices[c.from]!.held()
    const order = shuffled(docs, c.seed)
    this.devices[c.to]!.receive(c.dup ? [...order, ...order.slice(0, 3)] : order)
  }

  /** Sign one of mallory's events; `at` signs at an earlier position of her chain (a fork). */
  private mal(
    type: string,
    payload: Record<string, Json>,
    opts: { deps?: Cite[]; ts?: string; at?: number; v1Seen?: Cite[] } = {}
  ): DecodedEvent | string | null {
    const seq = opts.at ?? this.chain.length + 1
    const prev = seq === 1 ? this.sim.vaultId : this.chain[seq - 2]!.id
    const ts = opts.ts ?? new Date(this.now).toISOString()
    try {
      const d = opts.v1Seen
        ? signEvent(
            { v: 1, vault: this.sim.vaultId, author: mallory.key, seq, prev, ts, type, payload, seen: opts.v1Seen },
            mallory.kp.secretKey
          )
        : signEvent(
            { v: 2, vault: this.sim.vaultId, author: mallory.key, seq, prev, ts, type, payload, deps: opts.deps ?? [] },
            mallory.kp.secretKey
          )
      if (seq === this.chain.length + 1) this.chain.push(d)
      this.keep(d)
      return d
    } catch {
      return null
    }
  }

  attack(c: Extract<Cmd, { t: 'attack' }>): void {
    const k = this.knowledge()
    const view = c.view < 3 ? this.devices[c.view]!.fold : k
    const prev = this.chain.length === 0 ? this.sim.vaultId : this.chain[this.chain.length - 1]!.id
    const tips = view.citationsFor(mallory.key)
    const proposals = Object.values(k.state.proposals)
    const p = proposals[c.n % Math.max(1, proposals.length)]
    const expiresAt = new Date(this.now + WEEK).toISOString()
    const fake = toHex(nacl.hash(new Uint8Array([c.n & 255, c.n >> 8])).slice(0, 32))
    let out: DecodedEvent | string | null = null
    switch (c.variant) {
      case 0:
        out = this.mal(
          'gov.withdraw',
          { proposal: fake },
          {
            deps: [
              ...tips.filter((t) => t.author < bob.key),
              { author: bob.key, seq: 999_999, id: fake },
              ...tips.filter((t) => t.author > bob.key)
            ]
              .filter((t, i, a) => a.findIndex((x) => x.author === t.author && x.seq === t.seq) === i)
              .sort((a, b) => (a.author < b.author ? -1 : a.author > b.author ? 1 : a.seq - b.seq))
              .slice(0, 16)
          }
        )
        break
      case 1:
        if (p) out = this.mal('gov.approve', { proposal: p.id }, { deps: tips })
        break
      case 2:
        if (p) out = this.mal('gov.reject', { proposal: p.id, reason: 'veto' }, { deps: tips })
        break
      case 3: {
        // a fork: a different event at an earlier position of her chain
        if (this.chain.length === 0) break
        const at = 1 + (c.n % this.chain.length)
        out = this.mal(
          p ? 'gov.approve' : 'gov.propose',
          p
            ? { proposal: p.id }
            : {
                action: { kind: 'flag.set', args: { flag: 'finance_enabled', value: true } },
                reason: 'fork',
                expiresAt
              },
          { deps: [], at }
        )
        break
      }
      case 4:
        if (p) out = this.mal('gov.commit', { proposal: p.id, approvals: [] }, { deps: tips })
        break
      case 5: {
        const actions: Json[] = [
          { kind: 'flag.set', args: { flag: 'constructor', value: true } },
          {
            kind: 'member.add',
            args: { name: '__proto__', roles: ['agent'], keys: [toHex(nacl.sign.keyPair().publicKey)] }
          },
          { kind: 'vault.settings', args: { settings: { __proto__: 1 } } },
          { kind: 'vault.settings', args: { settings: { constructor: 'evil', toString: 1 } } },
          {
            kind: 'register.append',
            args: {
              register: 'ledger',
              entry: {
                id: 'x',
                memo: 'm',
                postings: [
                  { account: 'constructor', side: 'debit', amount: 1, currency: 'EUR' },
                  { account: 'valueof', side: 'credit', amount: 1, currency: 'EUR' }
                ]
              }
            }
          },
          {
            kind: 'policy.set',
            args: {
              policy: {
                default: { minMembers: 2, clauses: [] },
                actions: { constructor: { minMembers: 2, clauses: [] } },
                flags: {}
              }
            }
          },
          { kind: 'member.remove', args: { name: 'alice' } }
        ]
        out = this.mal(
          'gov.propose',
          { action: actions[c.n % actions.length]!, reason: 'x', expiresAt },
          { deps: tips }
        )
        break
      }
      case 6:
        out = this.mal(
          'gov.propose',
          {
            action: { kind: 'flag.set', args: { flag: 'finance_enabled', value: true } },
            reason: 'time',
            expiresAt: '2099-01-01T00:00:00.000Z'
          },
          { deps: tips, ts: c.n % 2 ? '2020-01-01T00:00:00.000Z' : '2030-01-01T00:00:00.000Z' }
        )
        break
      case 7: {
        const deps = Array.from({ length: 17 }, (_, i) => ({
          author: toHex(nacl.hash(new Uint8Array([i])).slice(0, 32)),
          seq: 1,
          id: fake
        })).sort((a, b) => (a.author < b.author ? -1 : 1))
        out = rawSigned(
          {
            v: 2,
            vault: this.sim.vaultId,
            author: mallory.key,
            seq: this.chain.length + 1,
            prev,
            ts: new Date(this.now).toISOString(),
            type: 'gov.approve',
            payload: { proposal: fake },
            deps
          },
          mallory.kp
        )
        break
      }
      case 8: {
        // replays: old events again, out of order
        const old = shuffled([...this.all.values()], c.n).slice(0, 5)
        this.devices[c.to % 3]!.receive(old.map((x) => ({ docId: x.docId, raw: x.raw })))
        return
      }
      case 9: {
        const mine = proposals.find((q) => q.proposer === 'mallory')
        if (mine) out = this.mal('gov.approve', { proposal: mine.id }, { deps: tips })
        else if (p)
          out = this.mal('gov.approve', { proposal: p.id }, { deps: tips.map((t) => ({ ...t, seq: t.seq + 1 })) })
        break
      }
      case 10:
        if (p)
          out = this.mal('gov.approve', { proposal: p.id }, { v1Seen: [{ author: bob.key, seq: 999_999, id: fake }] })
        break
      default: {
        // commit a proposal honest members approved, then fork at that very position
        const ready = proposals.find((q) => q.status === 'open' && q.approvals.length > 0)
        if (!ready) break
        const commit = this.mal(
          'gov.commit',
          { proposal: ready.id, approvals: ready.approvals.map((a) => a.id) },
          { deps: tips }
        )
        if (commit && typeof commit !== 'string') {
          this.deliver(commit, c.to)
          out = this.mal('gov.withdraw', { proposal: ready.id }, { deps: [], at: commit.event.seq })
        }
      }
    }
    if (out) this.deliver(out, c.to)
  }

  private deliver(out: DecodedEvent | string, to: number): void {
    const docs =
      typeof out === 'string'
        ? [{ docId: eventDocId(mallory.key, this.chain.length + 1), raw: out }]
        : [{ docId: eventDocId(out.event.author, out.event.seq), raw: out.raw }]
    for (const i of to < 3 ? [to] : [0, 1, 2]) this.devices[i]!.receive(docs)
  }

  /** Everyone gets everything (honest devices' holdings and all of mallory's events), until nothing changes. */
  fullSync(seed: number): void {
    for (let round = 0; round < 4; round++) {
      const everything = [
        ...new Map(
          [
            ...this.devices.flatMap((d) => d.held()),
            ...[...this.all.values()]
              .filter((x) => x.d?.event.author === mallory.key || !x.d)
              .map((x) => ({ docId: x.docId, raw: x.raw }))
          ].map((x) => [x.raw, x])
        ).values()
      ]
      for (const [i, dev] of this.devices.entries()) dev.receive(shuffled(everything, seed + i + round))
    }
  }

  /** Mallory does her worst against a proposal: veto it with every view she has. */
  interject(proposal: string): void {
    const k = this.knowledge()
    for (const deps of [k.citationsFor(mallory.key), []]) {
      const r = this.mal('gov.reject', { proposal, reason: 'veto' }, { deps })
      if (r) this.deliver(r, 3)
    }
  }
}

export function answers(s: GovState): void {
  for (const p of Object.values(s.proposals)) viewProposal(s, p)
  for (const m of Object.values(s.members)) expect(typeof m.name).toBe('string')
  for (const f of Object.keys(s.flags)) expect(typeof own(s.flags, f)).toBe('boolean')
  ledgerBalances(s.registers.ledger as LedgerEntry[])
  JSON.parse(JSON.stringify(s))
  stateHash(s)
}

export function roundTrip(w: World, dev: number, action: Json): string | null {
  const a = w.devices[dev]!
  const p = a.write('gov.propose', { action, reason: 'liveness', expiresAt: new Date(w.now + WEEK).toISOString() })
  if (!p) return null
  w.keep(p)
  w.fullSync(1)
  w.interject(p.id)
  w.fullSync(2)
  const b = w.devices[1 - dev]!
  const ap = b.write('gov.approve', { proposal: p.id })
  expect(ap, `bob approves ${JSON.stringify(action)}: ${JSON.stringify(b.fold.outcome(p.id))}`).not.toBeNull()
  w.keep(ap!)
  w.fullSync(3)
  w.interject(p.id)
  w.fullSync(4)
  const ps = own(a.fold.state.proposals, p.id)!
  const c = a.write('gov.commit', { proposal: p.id, approvals: ps.approvals.map((x) => x.id) })
  expect(c, `alice commits: ${JSON.stringify(ps)}`).not.toBeNull()
  w.keep(c!)
  w.fullSync(5)
  return p.id
}

/** Run a history of commands, then deliver everything everywhere: the world the invariants are checked on. */
export function play(cmds: Cmd[], seed: number): World {
  const w = new World()
  for (const c of cmds) {
    w.tick()
    if (c.t === 'honest') w.honestStep(c)
    else if (c.t === 'sync') w.sync(c)
    else w.attack(c)
  }
  w.fullSync(seed)
  return w
}
