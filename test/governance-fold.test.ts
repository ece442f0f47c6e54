import { describe, expect, it } from 'vitest'
import { foldGovernance, type GovEvent } from '../core/governance/fold.js'
import { GovSim, simMember } from './support/gov-sim.js'
import type { Json } from '../core/canonical.js'

const alice = simMember('alice', ['operator'], 0xa1)
const bob = simMember('bob', ['chain', 'operator'], 0xb0)
const carol = simMember('carol', ['auditor'], 0xc0)
const bob2 = simMember('bob', ['chain', 'operator'], 0xb2) // bob's second device key

const flagOn = (flag: string) =>
  ({
    action: { kind: 'flag.set', args: { flag, value: true } },
    reason: 'test',
    expiresAt: '2026-07-01T00:00:00.000Z'
  }) as Record<string, Json>

function fold(sim: GovSim, events: GovEvent[] = sim.gov()) {
  return foldGovernance(sim.vaultId, events)
}

describe('governance fold', () => {
  it('governance - prepare, approve, commit switches a gated flag on', () => {
    const sim = new GovSim([alice, bob, carol])
    const p = sim.emit(alice, 'gov.propose', flagOn('corepay_enabled'))
    const a = sim.emit(bob, 'gov.approve', { proposal: p.id })
    sim.emit(carol, 'gov.commit', { proposal: p.id, approvals: [a.id] })
    const s = fold(sim)
    expect(s.flags.corepay_enabled).toBe(true)
    expect(s.proposals[p.id]).toMatchObject({ status: 'committed', approvals: [{ member: 'bob' }] })
    expect(s.issues).toEqual([])
  })

  it('governance - self-approval does not count', () => {
    const sim = new GovSim([alice, bob])
    const p = sim.emit(alice, 'gov.propose', flagOn('finance_enabled'))
    const self = sim.emit(alice, 'gov.approve', { proposal: p.id })
    const s = fold(sim)
    expect(s.proposals[p.id]!.approvals).toEqual([])
    expect(s.ignored).toContainEqual({ id: self.id, reason: 'you proposed this; another member must approve' })
  })

  it('governance - a second approval by the same member with another key does not count twice', () => {
    const sim = new GovSim(
      [alice, bob, carol],
      { bob: [bob2] },
      { default: { minMembers: 3, clauses: [] }, actions: {}, flags: {} }
    )
    const p = sim.emit(alice, 'gov.propose', {
      action: { kind: 'vault.settings', args: { settings: { retentionDays: 30 } } },
      reason: 'r',
      expiresAt: '2026-07-01T00:00:00.000Z'
    })
    const a1 = sim.emit(bob, 'gov.approve', { proposal: p.id })
    const a2 = sim.emit(bob2, 'gov.approve', { proposal: p.id })
    const c = sim.emit(alice, 'gov.commit', { proposal: p.id, approvals: [a1.id, a2.id] })
    const s = fold(sim)
    expect(s.ignored).toContainEqual({
      id: a2.id,
      reason: 'bob has already approved (quorums count members, not keys)'
    })
    expect(s.issues).toEqual([
      { id: c.id, code: 'INVALID_COMMIT', message: 'quorum not met: needs 1 more approval(s) from distinct members' }
    ])
    expect(s.settings).toEqual({})
  })

  it('governance - an approval replayed onto another proposal is not a quorum for it', () => {
    const sim = new GovSim([alice, bob])
    const p1 = sim.emit(alice, 'gov.propose', flagOn('finance_enabled'))
    const p2 = sim.emit(alice, 'gov.propose', flagOn('streaming_enabled'))
    const a1 = sim.emit(bob, 'gov.approve', { proposal: p1.id })
    const c = sim.emit(alice, 'gov.commit', { proposal: p2.id, approvals: [a1.id] })
    const s = fold(sim)
    expect(s.flags.streaming_enabled).toBe(false)
    expect(s.issues).toEqual([
      { id: c.id, code: 'INVALID_COMMIT', message: expect.stringContaining('not a counted approval of this proposal') }
    ])
  })

  it('governance - an approval from a key revoked earlier in causal order does not count', () => {
    const sim = new GovSim([alice, bob, carol])
    const revoke = sim.emit(alice, 'gov.propose', {
      action: { kind: 'key.revoke', args: { member: 'carol', key: carol.key } },
      reason: 'laptop lost',
      expiresAt: '2026-07-01T00:00:00.000Z'
    })
    const ok = sim.emit(bob, 'gov.approve', { proposal: revoke.id })
    sim.emit(bob, 'gov.commit', { proposal: revoke.id, approvals: [ok.id] })
    const p = sim.emit(bob, 'gov.propose', flagOn('proof_anchoring_enabled'))
    const late = sim.emit(carol, 'gov.approve', { proposal: p.id }) // carol's lost laptop, after it saw the revocation
    const s = fold(sim)
    expect(s.members.carol!.revokedKeys).toEqual([carol.key])
    expect(s.proposals[p.id]!.approvals).toEqual([])
    expect(s.ignored).toContainEqual({ id: late.id, reason: expect.stringContaining('not an active key') })
  })

  it('governance - an approval or commit after expiry does not count, by vault time, whatever the device clock says', () => {
    const sim = new GovSim([alice, bob, carol])
    const p = sim.emit(alice, 'gov.propose', { ...flagOn('finance_enabled'), expiresAt: '2026-06-01T01:00:00.000Z' })
    // carol acts after the expiry; bob's clock is wrong (backdated) but he has seen carol's event
    sim.emit(carol, 'gov.propose', flagOn('streaming_enabled'), { ts: '2026-06-01T02:00:00.000Z' })
    const backdated = sim.emit(bob, 'gov.approve', { proposal: p.id }, { ts: '2026-06-01T00:30:00.000Z' })
    const late = sim.emit(bob, 'gov.approve', { proposal: p.id }, { ts: '2026-06-01T02:00:01.000Z' })
    const s = fold(sim)
    // v2: an event dated before what it cites is refused outright; dated honestly, it is past the expiry
    expect(s.ignored).toContainEqual({ id: backdated.id, reason: 'signed earlier than an event it cites' })
    expect(s.ignored).toContainEqual({ id: late.id, reason: 'approval came after the proposal expired' })
  })

  it('governance - v1 events keep vault time as the largest timestamp in their causal past', () => {
    const sim = new GovSim([alice, bob, carol], {}, undefined, 1)
    const p = sim.emitV1(alice, 'gov.propose', { ...flagOn('finance_enabled'), expiresAt: '2026-06-01T01:00:00.000Z' })
    sim.emitV1(carol, 'gov.propose', flagOn('streaming_enabled'), { ts: '2026-06-01T02:00:00.000Z' })
    const backdated = sim.emitV1(bob, 'gov.approve', { proposal: p.id }, { ts: '2026-06-01T00:30:00.000Z' })
    expect(fold(sim).ignored).toContainEqual({ id: backdated.id, reason: 'approval came after the proposal expired' })
  })

  it('governance - a commit without quorum is a verification issue and changes nothing', () => {
    const sim = new GovSim([alice, bob, carol])
    const p = sim.emit(alice, 'gov.propose', flagOn('corepay_enabled'))
    const a = sim.emit(carol, 'gov.approve', { proposal: p.id }) // carol is auditor: neither operator nor chain
    const c = sim.emit(carol, 'gov.commit', { proposal: p.id, approvals: [a.id] })
    const s = fold(sim)
    expect(s.flags.corepay_enabled).toBe(false)
    expect(s.issues).toEqual([
      {
        id: c.id,
        code: 'INVALID_COMMIT',
        message: 'quorum not met: needs 1 more approval(s) from role operator; needs 1 more approval(s) from role chain'
      }
    ])
  })

  it('governance - the approvals a commit lists are its causal predecessors: without them held it waits, never counts on trust', async () => {
    const { GovFold } = await import('../core/governance/fold.js')
    const sim = new GovSim([alice, bob])
    const p = sim.emit(alice, 'gov.propose', flagOn('finance_enabled'))
    const a = sim.emit(bob, 'gov.approve', { proposal: p.id })
    const c = sim.emit(alice, 'gov.commit', { proposal: p.id, approvals: [a.id] }, { view: sim.pastOf(p.id) })
    const withoutApproval = sim.gov().filter((e) => e.id !== a.id)
    const f = GovFold.build(sim.vaultId, withoutApproval, [])
    expect(f.outcome(c.id)).toEqual({
      kind: 'waiting',
      reason: expect.stringContaining('which this device does not hold')
    })
    expect(f.state.flags.finance_enabled).toBe(false)
    // Held, the listed approval is in the commit's past by construction: it counts.
    expect(fold(sim).flags.finance_enabled).toBe(true)
  })

  it('governance - a rejection by an eligible checker ends the proposal; an ineligible one is ignored', () => {
    const sim = new GovSim([alice, bob, carol])
    const p = sim.emit(alice, 'gov.propose', flagOn('corepay_enabled'))
    const r1 = sim.emit(carol, 'gov.reject', { proposal: p.id, reason: 'not my call' })
    expect(fold(sim).ignored).toContainEqual({
      id: r1.id,
      reason: 'carol is not an eligible checker for this proposal'
    })
    sim.emit(bob, 'gov.reject', { proposal: p.id, reason: 'simulation failed' })
    const late = sim.emit(bob, 'gov.approve', { proposal: p.id })
    const s = fold(sim)
    expect(s.proposals[p.id]).toMatchObject({
      status: 'rejected',
      rejections: [{ member: 'bob', reason: 'simulation failed' }]
    })
    expect(s.ignored).toContainEqual({ id: late.id, reason: 'proposal is already rejected' })
  })

  it('governance - only the proposer may withdraw', () => {
    const sim = new GovSim([alice, bob])
    const p = sim.emit(alice, 'gov.propose', flagOn('finance_enabled'))
    const w1 = sim.emit(bob, 'gov.withdraw', { proposal: p.id })
    expect(fold(sim).ignored).toContainEqual({ id: w1.id, reason: 'only the proposer may withdraw' })
    sim.emit(alice, 'gov.withdraw', { proposal: p.id })
    expect(fold(sim).proposals[p.id]!.status).toBe('withdrawn')
  })

  it('governance - independent proposals never block each other', () => {
    const sim = new GovSim([alice, bob, carol])
    const p1 = sim.emit(alice, 'gov.propose', flagOn('finance_enabled'))
    const p2 = sim.emit(carol, 'gov.propose', flagOn('streaming_enabled'))
    const a2 = sim.emit(alice, 'gov.approve', { proposal: p2.id })
    sim.emit(carol, 'gov.commit', { proposal: p2.id, approvals: [a2.id] })
    const s = fold(sim)
    expect(s.flags.streaming_enabled).toBe(true)
    expect(s.proposals[p1.id]!.status).toBe('open')
  })

  it('governance - the ledger takes balanced entries once finance is on, and balances are a view', async () => {
    const { ledgerBalances } = await import('../core/governance/registers.js')
    const sim = new GovSim([alice, bob])
    const entry = {
      id: 'inv-1',
      memo: 'invoice 1',
      postings: [
        { account: 'cash', side: 'debit', amount: 1250, currency: 'EUR' },
        { account: 'revenue', side: 'credit', amount: 1250, currency: 'EUR' }
      ]
    }
    // Registers are checked when a commit applies, in the vault's order: an early entry fails then.
    const early = sim.emit(alice, 'gov.propose', {
      action: { kind: 'register.append', args: { register: 'ledger', entry } },
      reason: 'r',
      expiresAt: '2026-07-01T00:00:00.000Z'
    } as Record<string, Json>)
    sim.emit(alice, 'gov.commit', {
      proposal: early.id,
      approvals: [sim.emit(bob, 'gov.approve', { proposal: early.id }).id]
    })
    expect(fold(sim).proposals[early.id]).toMatchObject({
      status: 'failed',
      failure: expect.stringContaining('flag finance_enabled must be switched on first')
    })
    const f = sim.emit(alice, 'gov.propose', flagOn('finance_enabled'))
    sim.emit(alice, 'gov.commit', { proposal: f.id, approvals: [sim.emit(bob, 'gov.approve', { proposal: f.id }).id] })
    const unbalanced = {
      ...entry,
      id: 'inv-2',
      postings: [entry.postings[0]!, { ...entry.postings[1]!, amount: 1000 }]
    }
    const bad = sim.emit(alice, 'gov.propose', {
      action: { kind: 'register.append', args: { register: 'ledger', entry: unbalanced } },
      reason: 'r',
      expiresAt: '2026-07-01T00:00:00.000Z'
    } as Record<string, Json>)
    expect(fold(sim).ignored).toContainEqual({
      id: bad.id,
      reason: 'invalid action: ledger entry does not balance in EUR: debits - credits = 250'
    })
    const good = sim.emit(alice, 'gov.propose', {
      action: { kind: 'register.append', args: { register: 'ledger', entry } },
      reason: 'r',
      expiresAt: '2026-07-01T00:00:00.000Z'
    } as Record<string, Json>)
    sim.emit(bob, 'gov.commit', {
      proposal: good.id,
      approvals: [sim.emit(bob, 'gov.approve', { proposal: good.id }).id]
    })
    const s = fold(sim)
    expect(s.registers.ledger).toHaveLength(1)
    expect(JSON.parse(JSON.stringify(ledgerBalances(s.registers.ledger as never)))).toEqual({
      cash: { EUR: 1250 },
      revenue: { EUR: -1250 }
    })
  })

  it('governance - a policy change is governed by the policy in force', () => {
    const sim = new GovSim([alice, bob, carol])
    const strict = { default: { minMembers: 3, clauses: [] }, actions: {}, flags: {} }
    const p = sim.emit(alice, 'gov.propose', {
      action: { kind: 'policy.set', args: { policy: strict } },
      reason: 'three-eyes',
      expiresAt: '2026-07-01T00:00:00.000Z'
    } as Record<string, Json>)
    sim.emit(alice, 'gov.commit', { proposal: p.id, approvals: [sim.emit(bob, 'gov.approve', { proposal: p.id }).id] })
    const q = sim.emit(alice, 'gov.propose', {
      action: { kind: 'vault.settings', args: { settings: { note: 'x' } } },
      reason: 'r',
      expiresAt: '2026-07-01T00:00:00.000Z'
    })
    const c = sim.emit(alice, 'gov.commit', {
      proposal: q.id,
      approvals: [sim.emit(bob, 'gov.approve', { proposal: q.id }).id]
    })
    const s = fold(sim)
    expect(s.policy.default.minMembers).toBe(3)
    expect(s.issues).toEqual([
      { id: c.id, code: 'INVALID_COMMIT', message: 'quorum not met: needs 1 more approval(s) from distinct members' }
    ])
  })

  it("governance - two concurrent commits that cannot both apply: the later one in the vault's order fails, no issue", () => {
    const sim = new GovSim([alice, bob, carol])
    const dave = simMember('dave', ['agent'], 0xd0)
    const add = {
      action: { kind: 'member.add', args: { name: 'dave', roles: ['agent'], keys: [dave.key] } },
      reason: 'r',
      expiresAt: '2026-07-01T00:00:00.000Z'
    } as Record<string, Json>
    const p1 = sim.emit(alice, 'gov.propose', add)
    const p2 = sim.emit(bob, 'gov.propose', add)
    const a1 = sim.emit(carol, 'gov.approve', { proposal: p1.id })
    const a2 = sim.emit(carol, 'gov.approve', { proposal: p2.id })
    const base = sim.pastOf(a2.id)
    sim.emit(alice, 'gov.commit', { proposal: p1.id, approvals: [a1.id] }, { view: base })
    sim.emit(bob, 'gov.commit', { proposal: p2.id, approvals: [a2.id] }, { view: base })
    const s = fold(sim)
    expect(s.members.dave).toBeDefined()
    expect(s.issues).toEqual([])
    expect([s.proposals[p1.id]!.status, s.proposals[p2.id]!.status].sort()).toEqual(['committed', 'failed'])
  })
})

describe('governance fold - trial application is taken back whole', () => {
  const witnessPolicy = `log ${'ab'.repeat(32)}\nwitness w1 ${'cd'.repeat(32)}\nquorum w1\n`

  it('governance - a commit tried and taken back (a batch that has to wait) leaves no witness policy and no migrated batch behind', async () => {
    const { GovFold } = await import('../core/governance/fold.js')
    const sim = new GovSim([alice, bob])
    const migrate = {
      kind: 'doc.migrate',
      args: {
        batch: `MIG-${'0'.repeat(16)}`,
        zip: { name: 'a.zip', digest: 'e'.repeat(64), size: 10 },
        plan: { digest: 'f'.repeat(64), files: 1, parts: [{ author: alice.key, seq: 1, id: 'a'.repeat(64) }] },
        counts: { MIG_A: 1, MIG_B: 0, MIG_C: 0, refused: 0 }
      }
    }
    const approved = [{ kind: 'witness.policy', args: { policy: witnessPolicy } }, migrate].map((action) => {
      const p = sim.emit(alice, 'gov.propose', { action, reason: 'r', expiresAt: '2026-07-01T00:00:00.000Z' } as never)
      return { p, a: sim.emit(bob, 'gov.approve', { proposal: p.id }) }
    })
    const commits: GovEvent[] = approved.map(({ p, a }) => {
      const c = sim.emit(alice, 'gov.commit', { proposal: p.id, approvals: [a.id] })
      return { id: c.id, event: c.event }
    })
    const ids = new Set(commits.map((c) => c.id))
    const f = GovFold.build(
      sim.vaultId,
      sim.gov().filter((e) => !ids.has(e.id)),
      []
    )
    f.begin()
    expect(f.extend(commits, true)).toBe(true)
    expect([f.state.witnessPolicy, f.state.migrated]).toEqual([witnessPolicy, [migrate.args.batch]])
    f.rollback()
    expect([f.state.witnessPolicy, f.state.migrated]).toEqual([undefined, undefined])
    // tried again, as the gate does once the batch can go in: committed, not "migrated already"
    f.begin()
    expect(f.extend(commits, true)).toBe(true)
    f.commit()
    expect(f.state.migrated).toEqual([migrate.args.batch])
    expect(Object.values(f.state.proposals).map((p) => p.status)).toEqual(['committed', 'committed'])
    expect(f.state).toEqual(fold(sim))
  })
})
