import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { Vault, ensureDeviceKey } from '../core/vault.js'
import { stateHash } from '../core/governance/state.js'
import { signEvent } from '../core/envelope.js'
import { openKeyFile, readKeyFile } from '../core/keys.js'
import { eventDocId } from '../core/store.js'
import { VaultError } from '../core/errors.js'
import type { Action } from '../core/governance/actions.js'
import { carry, cleanupDirs, FAST_KDF, lengths, PASS, tempDir, withRawDb } from './helpers.js'
import { threeMembers } from './support/members.js'
import { approve, commit, propose, reject, withdraw } from '../core/governance/calls.js'
import { exportBundle, importBundle } from '../core/bundle.js'
import { createHandlers } from '../core/api.js'
import { streamingVaults } from './support/telemetry-vault.js'

async function codeAndMessage(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (e) {
    return `${(e as VaultError).code}: ${(e as Error).message}`
  }
  return 'NO_ERROR'
}

async function syncAll(vaults: Vault[]): Promise<void> {
  for (let round = 0; round < 2; round++) for (const a of vaults) for (const b of vaults) if (a !== b) await carry(a, b)
}

const flag = (name: string, value = true): Action => ({ kind: 'flag.set', args: { flag: name, value } })

describe('governance across devices', () => {
  let t: Awaited<ReturnType<typeof threeMembers>>
  beforeAll(async () => {
    t = await threeMembers()
  })
  afterAll(async () => {
    for (const v of t.all) await v.close().catch(() => undefined)
    await cleanupDirs()
  })

  it('governance - a flag change goes prepare → approve → commit through bundles and every directory holds the same state', async () => {
    const { alice, bob, carol, all } = t
    expect(bob.member?.name).toBe('bob')
    const p = await propose(alice, flag('corepay_enabled'), 'payment simulation passed')
    await carry(alice, bob)
    expect((await approve(bob, p.id.slice(0, 12))).approvals.map((a) => a.member)).toEqual(['bob'])
    await carry(bob, carol)
    const committed = await commit(carol, p.id)
    expect(committed.status).toBe('committed')
    await syncAll(all)
    const hashes = all.map((v) => stateHash(v.state))
    expect(new Set(hashes).size).toBe(1)
    for (const v of all) expect(v.state.flags.corepay_enabled).toBe(true)
    // the state is rebuilt from the stored events alone, on every device
    for (const v of all) expect(stateHash((await v.verify({ full: true }), v.state))).toBe(hashes[0])
  })

  it('governance - the YAML audit export of a vault with several governance feeds verifies standalone', async () => {
    const { exportYaml, verifyYamlExport } = await import('../core/audit-yaml.js')
    let text = ''
    await exportYaml(t.carol, (chunk) => {
      text += chunk
    })
    const report = await verifyYamlExport(text)
    expect(report.ok).toBe(true)
    expect(report.total).toBe(t.carol.state.height)
  })

  it('governance - self-approval is refused with the reason', async () => {
    const p = await propose(t.alice, flag('finance_enabled'), 'ledger tests exist')
    expect(await codeAndMessage(approve(t.alice, p.id))).toBe(
      'NOT_ALLOWED: you proposed this; another member must approve'
    )
    await withdraw(t.alice, p.id)
  })

  it('governance - a second approval from the same member with another key is refused: quorums count members', async () => {
    const p = await propose(t.alice, flag('reputation_enabled'), 'review proofs work')
    await carry(t.alice, t.bob)
    await approve(t.bob, p.id)
    await carry(t.bob, t.bob2)
    expect(await codeAndMessage(approve(t.bob2, p.id))).toBe(
      'NOT_ALLOWED: bob has already approved (quorums count members, not keys)'
    )
  })

  it('governance - a commit without quorum is refused with what is missing', async () => {
    const p = await propose(t.alice, flag('network_enabled'), 'commission reversals audited')
    await carry(t.alice, t.carol)
    await approve(t.carol, p.id)
    expect(await codeAndMessage(commit(t.carol, p.id))).toBe(
      'NOT_ALLOWED: quorum not met: needs 1 more approval(s) from role operator; needs 1 more approval(s) from role chain'
    )
  })

  it('governance - an expired proposal cannot be approved or committed', async () => {
    const now = new Date()
    const p = await propose(
      t.alice,
      flag('avatars_enabled'),
      'avatar orders audited',
      new Date(now.getTime() + 3600_000).toISOString(),
      now
    )
    await carry(t.alice, t.bob)
    const later = new Date(now.getTime() + 2 * 3600_000)
    expect(await codeAndMessage(approve(t.bob, p.id, later))).toBe(
      'NOT_ALLOWED: approval came after the proposal expired'
    )
    await approve(t.bob, p.id, new Date(now.getTime() + 60_000))
    expect(await codeAndMessage(commit(t.bob, p.id, later))).toBe('NOT_ALLOWED: commit after the proposal expired')
  })

  it("governance - a rejection ends the proposal; withdrawal is the proposer's alone", async () => {
    const p = await propose(t.alice, flag('marketplace_enabled'), 'orders to fulfillment proven')
    await carry(t.alice, t.bob)
    expect((await reject(t.bob, p.id, 'fulfillment proof missing')).status).toBe('rejected')
    await carry(t.bob, t.alice)
    expect(await codeAndMessage(commit(t.alice, p.id))).toMatch(
      /^NOT_ALLOWED: commit after the proposal was rejected \([0-9a-f]{12}…\)$/
    )
    const q = await propose(t.alice, flag('enablement_enabled'), 'endpoints active')
    await carry(t.alice, t.bob)
    expect(await codeAndMessage(withdraw(t.bob, q.id))).toBe('NOT_ALLOWED: only the proposer may withdraw')
    expect((await withdraw(t.alice, q.id)).status).toBe('withdrawn')
  })

  it('governance - key rotation: a revoked key can no longer sign, its approvals do not count', async () => {
    const { alice, bob, carol, all } = t
    await syncAll(all)
    const carolKey = carol.device
    const p = await propose(alice, { kind: 'key.revoke', args: { member: 'carol', key: carolKey } }, 'laptop lost')
    await carry(alice, bob)
    await approve(bob, p.id)
    await commit(bob, p.id)
    await syncAll(all)
    expect(carol.state.members.carol!.revokedKeys).toEqual([carolKey])
    const q = await propose(alice, flag('proof_anchoring_enabled'), 'anchors validated')
    await carry(alice, carol)
    expect(await codeAndMessage(approve(carol, q.id))).toBe(
      'NOT_A_MEMBER: this device key is not an active key of an active member'
    )
  })

  it('governance - a member added by governance joins from a bundle, signs, and every device verifies their feed', async () => {
    const { alice, bob } = t
    const daveDir = join(t.root, 'dave')
    const daveKey = await ensureDeviceKey(daveDir, 'dave', PASS, FAST_KDF)
    const p = await propose(
      alice,
      { kind: 'member.add', args: { name: 'dave', roles: ['agent'], keys: [daveKey.publicKey] } },
      'new field agent'
    )
    await carry(alice, bob)
    await approve(bob, p.id)
    await commit(bob, p.id)
    await carry(bob, alice)
    const dave = await Vault.join({
      dir: daveDir,
      bundle: JSON.stringify(await exportBundle(alice)),
      passphrase: PASS
    })
    try {
      expect(dave.member?.name).toBe('dave')
      await dave.append('audit.note', { text: 'dave on site' })
      await carry(dave, alice)
      const report = await alice.verify({ full: true })
      expect(report.ok).toBe(true)
      expect(report.feeds[daveKey.publicKey]?.length).toBe(1)
      const { exportYaml, verifyYamlExport } = await import('../core/audit-yaml.js')
      let text = ''
      await exportYaml(alice, (chunk) => {
        text += chunk
      })
      expect((await verifyYamlExport(text)).ok).toBe(true)
    } finally {
      await dave.close()
    }
  })

  it('governance - a setting that could never take effect is refused before signing, and one already in the log gets no approval or commit from this device', async () => {
    const { alice, bob } = t
    const settings = (s: Record<string, unknown>): Action => ({
      kind: 'vault.settings',
      args: { settings: s } as never
    })
    const before = lengths(alice)
    expect(await codeAndMessage(propose(alice, settings({ telemetryBudgetGB: 10 }), 'more room'))).toMatch(
      /^BAD_ARGUMENT: telemetryBudgetGB is not a setting of this vault \(known: telemetryBatchMax, /
    )
    expect(await codeAndMessage(propose(alice, settings({ telemetryBatchMax: 'many' }), 'x'))).toBe(
      'BAD_ARGUMENT: telemetryBatchMax is a whole number of readings, not "many"'
    )
    expect(await codeAndMessage(propose(alice, settings({ telemetryBudgetKB: 8 }), 'x'))).toBe(
      'BAD_ARGUMENT: telemetryBudgetKB must be between 16 KiB and 1,024 GiB'
    )
    expect(lengths(alice)).toEqual(before) // nothing was signed
    // a proposal for one, signed by a device that does not check (an older version, a hostile member), is in the log…
    const forged = await alice.appendGovernance('gov.propose', {
      action: { kind: 'vault.settings', args: { settings: { telemetryBudgetKB: 'lots' } } },
      reason: 'from an older app',
      expiresAt: new Date(Date.now() + 86_400_000).toISOString()
    })
    await carry(alice, bob)
    // …and this device signs neither an approval nor a commit for it, saying why
    expect(await codeAndMessage(approve(bob, forged.id))).toMatch(
      /^NOT_ALLOWED: approval refused: telemetryBudgetKB is a whole number of KiB, not "lots"; this proposal can never take effect: reject it/
    )
    expect(await codeAndMessage(commit(alice, forged.id))).toMatch(/^NOT_ALLOWED: commit refused: /)
    expect((await reject(bob, forged.id, 'not a setting')).status).toBe('rejected')
    // a valid one goes through, and the telemetry policy reads it in its unit
    const ok = await propose(alice, settings({ telemetryBudgetKB: 2048 }), 'room for a day offline')
    await carry(alice, bob)
    await approve(bob, ok.id)
    await carry(bob, alice)
    expect((await commit(alice, ok.id)).status).toBe('committed')
    expect(alice.state.settings.telemetryBudgetKB).toBe(2048)
  })

  it('governance - an approval from another vault is refused at the door', async () => {
    const other = await Vault.create({
      dir: await tempDir(),
      vaultName: 'Other',
      passphrase: PASS,
      memberName: 'mallory',
      roles: ['operator'],
      kdf: FAST_KDF
    })
    const bundle = JSON.stringify(await exportBundle(other))
    expect(await codeAndMessage(importBundle(t.alice, bundle))).toMatch(/^WRONG_VAULT/)
    await other.close()
  })
})

describe('concurrent commits', () => {
  afterAll(cleanupDirs)

  it('gov - two members commit conflicting proposals on two devices at once: every device applies them in one order, the same one wins, and the other says it was superseded by it', async () => {
    const t = await threeMembers()
    const { alice, bob, carol } = t
    try {
      const setting = (n: number): Action => ({ kind: 'vault.settings', args: { settings: { telemetryBatchMax: n } } })
      const on = await propose(alice, setting(500), 'smaller batches')
      const off = await propose(bob, setting(800), 'a bit smaller')
      await syncAll([alice, bob, carol])
      await approve(carol, on.id)
      await approve(carol, off.id)
      await syncAll([alice, bob, carol])
      // offline from each other, each commits their own
      await commit(alice, on.id)
      await commit(bob, off.id)
      await syncAll([alice, bob, carol])
      const hashes = new Set([alice, bob, carol].map((v) => stateHash(v.state)))
      expect(hashes.size).toBe(1)
      const [p1, p2] = [alice.state.proposals[on.id]!, alice.state.proposals[off.id]!]
      expect([p1.status, p2.status]).toEqual(['committed', 'committed'])
      const loser = p1.supersededBy ? p1 : p2
      const winner = loser === p1 ? p2 : p1
      expect(loser.supersededBy).toBe(winner.id)
      expect(winner.supersededBy).toBeUndefined()
      const won = (winner.action.args.settings as { telemetryBatchMax: number }).telemetryBatchMax
      expect(alice.state.settings.telemetryBatchMax).toBe(won)
      for (const v of [bob, carol]) expect(v.state.proposals[loser.id]!.supersededBy).toBe(winner.id)
    } finally {
      for (const v of t.all) await v.close()
    }
  })
})

describe('bundles', () => {
  afterAll(cleanupDirs)

  it('bundle - an offline session: a bundle "for bob" carries what bob\'s device is not known to hold, learnt only from what it proved; each import says what arrived, by name', async () => {
    // alice and bob, bob's device joined from alice's genesis bundle; no governance yet
    const { alice, bob } = await streamingVaults({ enable: false })
    try {
      const [ha, hb] = [createHandlers(alice), createHandlers(bob)]
      const p = await propose(alice, flag('finance_enabled'), 'ledger tests pass')
      // bob's join bundle was alice's: alice knows nothing of what bob's device holds, so "for bob" is everything
      const first = await ha['bundle.export']({ for: 'bob' })
      expect(first).toMatchObject({ events: 2, for: { member: 'bob', known: false } })
      expect(await hb['bundle.import']({ text: first.text })).toEqual({
        admitted: 1,
        duplicates: 1,
        from: 'alice',
        arrived: ['alice proposed: switch finance_enabled on'],
        other: 0,
        checkpoints: 0
      })
      await approve(bob, p.id)
      // bob learnt from alice's bundle what her device holds: his bundle for her is his approval alone
      const back = await hb['bundle.export']({ for: 'alice' })
      expect(back).toMatchObject({ events: 1, for: { member: 'alice', known: true } })
      expect(await ha['bundle.import']({ text: back.text })).toMatchObject({
        admitted: 1,
        from: 'bob',
        arrived: ['bob approved: switch finance_enabled on']
      })
      await commit(alice, p.id)
      // and now alice knows what bob holds: the next bundle for him is the commit alone
      const third = await ha['bundle.export']({ for: 'bob' })
      expect(third).toMatchObject({ events: 1, for: { member: 'bob', known: true } })
      expect((await hb['bundle.import']({ text: third.text })).arrived).toEqual([
        'alice committed: switch finance_enabled on'
      ])
      expect(bob.state.flags.finance_enabled).toBe(true)
      expect(await codeAndMessage(ha['bundle.export']({ for: 'mallory' }))).toBe('NOT_FOUND: no member mallory')
      expect(await codeAndMessage(ha['bundle.export']({ for: 'constructor' }))).toBe('NOT_FOUND: no member constructor')
    } finally {
      await alice.close()
      await bob.close()
    }
  })

  it('bundle - an altered, re-signed-by-nobody or gapped bundle is refused and nothing from it is applied', async () => {
    const t = await threeMembers()
    try {
      const p = await propose(t.alice, flag('finance_enabled'), 'ledger ready')
      await propose(t.alice, flag('streaming_enabled'), 'metering ready')
      const good = await exportBundle(t.alice, lengths(t.bob))
      const before = await t.bob.store.count()
      const tampered = { ...good, events: good.events.map((e) => e.replace('ledger ready', 'ledger READY')) }
      expect(await codeAndMessage(importBundle(t.bob, JSON.stringify(tampered)))).toMatch(
        /^VERIFY_FAILED: bundle signature does not verify/
      )
      const flipped = { ...good, sig: good.sig.replace(/^./, (c) => (c === '0' ? '1' : '0')) }
      expect(await codeAndMessage(importBundle(t.bob, JSON.stringify(flipped)))).toMatch(
        /^VERIFY_FAILED: bundle signature does not verify/
      )
      expect(await codeAndMessage(importBundle(t.bob, '{"format":"tresor-bundle"'))).toMatch(/^MALFORMED/)
      expect(await codeAndMessage(importBundle(t.bob, 'x'.repeat(100)))).toMatch(/^MALFORMED/)
      // a properly signed bundle whose first event's predecessor bob lacks
      const key = await openKeyFile(await readKeyFile(join(t.root, 'alice', 'device.key')), PASS)
      const { signBundle } = await import('../core/bundle.js')
      const gapped = signBundle(t.alice.vaultId, t.alice.device, key.keyPair.secretKey, good.events.slice(1))
      expect(await codeAndMessage(importBundle(t.bob, JSON.stringify(gapped)))).toMatch(
        /^VERIFY_FAILED: ev!.*: waiting for events 2..2 of this feed; nothing applied/
      )
      expect(await t.bob.store.count()).toBe(before)
      expect(t.bob.state.proposals[p.id]).toBeUndefined()
      expect(await importBundle(t.bob, JSON.stringify(good))).toMatchObject({ admitted: 2, duplicates: 0 })
      expect(await importBundle(t.bob, JSON.stringify(good))).toMatchObject({ admitted: 0, duplicates: 2 })
    } finally {
      for (const v of t.all) await v.close()
    }
  })

  it('bundle - devices that receive the same events in different orders hold byte-identical state', async () => {
    const t = await threeMembers()
    try {
      const p = await propose(t.alice, flag('corepay_enabled'), 'simulated')
      await carry(t.alice, t.bob)
      await approve(t.bob, p.id)
      const q = await propose(t.carol, flag('proof_anchoring_enabled'), 'anchors checked')
      await carry(t.carol, t.alice)
      await approve(t.alice, q.id)
      // bob2 hears alice first, then bob, then carol; carol hears bob, alice
      for (const from of [t.alice, t.bob, t.carol]) await carry(from, t.bob2)
      for (const from of [t.bob, t.alice]) await carry(from, t.carol)
      await carry(t.bob, t.alice)
      expect(stateHash(t.bob2.state)).toBe(stateHash(t.carol.state))
      expect(stateHash(t.alice.state)).toBe(stateHash(t.carol.state))
    } finally {
      for (const v of t.all) await v.close()
    }
  })

  it('governance - a commit forced into the log without quorum fails verification: READ-ONLY with the reason', async () => {
    const t = await threeMembers()
    const p = await propose(t.alice, flag('corepay_enabled'), 'simulated')
    await carry(t.alice, t.carol)
    const dir = join(t.root, 'carol')
    const head = t.carol.heads()[t.carol.device] ?? { length: 0, head: t.carol.vaultId }
    const seen = Object.entries(t.carol.heads())
      .filter(([a]) => a !== t.carol.device)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([author, h]) => ({ author, seq: h.length, id: h.head }))
    const key = await openKeyFile(await readKeyFile(join(dir, 'device.key')), PASS)
    for (const v of t.all) await v.close()
    const forged = signEvent(
      {
        v: 1,
        vault: t.alice.vaultId,
        author: key.publicKey,
        seq: head.length + 1,
        prev: head.length === 0 ? t.alice.vaultId : head.head,
        ts: new Date().toISOString(),
        type: 'gov.commit',
        payload: { proposal: p.id, approvals: [] },
        seen
      },
      key.keyPair.secretKey
    )
    await withRawDb(dir, async (db) => {
      await db.put({
        _id: eventDocId(key.publicKey, forged.event.seq),
        raw: forged.raw,
        id: forged.id,
        type: forged.event.type,
        ts: forged.event.ts
      } as never)
    })
    const v = await Vault.open({ dir })
    expect(v.health.state).toBe('read-only')
    expect(v.health.report!.issues).toContainEqual(
      expect.objectContaining({
        code: 'INVALID_COMMIT',
        eventId: forged.id,
        message: expect.stringContaining('quorum not met')
      })
    )
    expect(v.state.flags.corepay_enabled).toBe(false)
    await v.close()
  })
})
