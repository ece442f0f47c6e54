/**
 * The attacks on governance that one stolen device key could make, each
 * through real vault directories and bundles (and one through the suite's
 * CouchDB server): forged citations, a fleet of feeds, another member's
 * fork, a fork at a committed revocation, and prototype-named keys.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import nacl from 'tweetnacl'
import { Vault } from '../core/vault.js'
import { signEvent } from '../core/envelope.js'
import { toHex } from '../core/bytes.js'
import { stateHash } from '../core/governance/state.js'
import { createHandlers } from '../core/api.js'
import { own } from '../core/dict.js'
import { LIMITS } from '../core/limits.js'
import type { Action } from '../core/governance/actions.js'
import type { Json } from '../core/canonical.js'
import { CouchSync } from '../sync/couch-sync.js'
import { ADMIN, WRITER, startCouch } from './support/couch.js'
import { citeOf, docsOf, forge, forgedBundle, latestGov, stolenKey, threeMembers } from './support/members.js'
import { carry, cleanupDirs, FAST_KDF, PASS, tempDir } from './helpers.js'
import { approve, commit, propose, reject } from '../core/governance/calls.js'
import { exportBundle, importBundle } from '../core/bundle.js'

afterAll(cleanupDirs)

const flag = (name: string, value = true): Action => ({ kind: 'flag.set', args: { flag: name, value } })
const fake = toHex(nacl.hash(new TextEncoder().encode('no such event')).slice(0, 32))

async function errorOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (e) {
    return `${(e as { code?: string }).code}: ${(e as Error).message}`
  }
  return 'NO_ERROR'
}

async function syncAll(vaults: Vault[]): Promise<void> {
  for (let round = 0; round < 2; round++) for (const a of vaults) for (const b of vaults) if (a !== b) await carry(a, b)
}

/** propose → approve → commit between two members, carried by bundles; returns the proposal id. */
async function round(proposer: Vault, approver: Vault, action: Action): Promise<string> {
  const p = await propose(proposer, action, 'ordinary business')
  await carry(proposer, approver)
  await approve(approver, p.id)
  await carry(approver, proposer)
  const done = await commit(proposer, p.id)
  expect(done.status).toBe('committed')
  return p.id
}

describe('governance attacks through vault directories', () => {
  it('attack - forged citations (seq 999999, v1 or v2) wait at the gate; honest rounds go on and the stolen key cannot block its own revocation', async () => {
    const t = await threeMembers()
    try {
      const key = await stolenKey(t.carol)
      const forged = forge(
        t.carol,
        key,
        'gov.withdraw',
        { proposal: fake },
        { deps: [{ author: t.alice.device, seq: 999_999, id: fake }] }
      )
      const forgedV1 = forge(
        t.carol,
        key,
        'gov.withdraw',
        { proposal: fake },
        { seq: forged.event.seq + 1, prev: forged.id, v1Seen: [{ author: t.alice.device, seq: 999_999, id: fake }] }
      )
      expect(await errorOf(importBundle(t.bob, forgedBundle(t.carol, key, [forged, forgedV1])))).toMatch(
        /^VERIFY_FAILED: .*cites [0-9a-f]{12}…, which this device does not hold yet; nothing applied$/
      )
      const verdicts = await t.bob.ingest(docsOf([forged, forgedV1]))
      expect(verdicts.map((v) => [v.eventId, v.decision, v.code])).toEqual([
        [forged.id, 'WAIT', 'CITES_MISSING'],
        [forgedV1.id, 'WAIT', 'CITES_MISSING']
      ])
      // ordinary business goes on, on every device
      const id = await round(t.alice, t.bob, flag('corepay_enabled'))
      await syncAll(t.all)
      expect(new Set(t.all.map((v) => stateHash(v.state))).size).toBe(1)
      for (const v of t.all) expect(own(v.state.proposals, id)?.status).toBe('committed')
      // the revocation of the stolen key: carol may not veto it, and a rejection signed past her vault's checks is
      // refused at the gate
      const r = await propose(
        t.alice,
        { kind: 'key.revoke', args: { member: 'carol', key: key.publicKey } },
        'laptop stolen'
      )
      await syncAll(t.all)
      expect(await errorOf(reject(t.carol, r.id, 'no'))).toBe(
        'NOT_ALLOWED: carol cannot veto a change of their own membership, roles or keys'
      )
      const mine = latestGov(t.carol, key.publicKey)
      const veto = forge(
        t.carol,
        key,
        'gov.reject',
        { proposal: r.id, reason: 'no' },
        {
          deps: [
            citeOf({ id: r.id, event: { author: t.alice.device, seq: t.alice.heads()[t.alice.device]!.length } }),
            ...(mine ? [mine] : [])
          ]
        }
      )
      const [verdict] = await t.alice.ingest(docsOf([veto]))
      expect(verdict).toMatchObject({
        decision: 'QUARANTINE',
        code: 'REFUSED',
        reason: 'breaks governance: carol cannot veto a change of their own membership, roles or keys'
      })
      await approve(t.bob, r.id)
      await carry(t.bob, t.alice)
      expect((await commit(t.alice, r.id)).status).toBe('committed')
      await syncAll(t.all)
      for (const v of t.all) expect(own_(v, 'carol')).toEqual({ keys: [], revokedKeys: [key.publicKey] })
      // what the stolen key signs now, citing the revocation, counts for nothing
      const late = forge(
        t.carol,
        key,
        'gov.propose',
        {
          action: flag('finance_enabled') as unknown as Json,
          reason: 'x',
          expiresAt: new Date(Date.now() + 86_400_000).toISOString()
        },
        {
          deps: [citeOf({ id: t.alice.governanceEvents().at(-1)!.id, event: t.alice.governanceEvents().at(-1)!.event })]
        }
      )
      const [refused] = await t.bob.ingest(docsOf([late]))
      expect(refused).toMatchObject({
        decision: 'QUARANTINE',
        code: 'REFUSED',
        reason: expect.stringContaining('not an active key')
      })
    } finally {
      for (const v of t.all) await v.close()
    }
  })

  it('attack - 66 feeds (64 edge devices signing notes) and 500 feeds with concurrent proposals: every event cites at most 16, approvals and commits count', async () => {
    for (const [fleetSize, proposers] of [
      [64, 0],
      [450, 48]
    ] as const) {
      const root = await tempDir()
      const fleet = Array.from({ length: fleetSize }, (_, i) =>
        nacl.sign.keyPair.fromSeed(
          Uint8Array.from({ length: 32 }, (_, k) => (k === 0 ? 0xee : k === 1 ? i >> 8 : k === 2 ? i & 255 : 7))
        )
      )
      const others = Array.from({ length: proposers }, (_, i) =>
        nacl.sign.keyPair.fromSeed(Uint8Array.from({ length: 32 }, (_, k) => (k === 0 ? 0xdd : k === 1 ? i : 9)))
      )
      const { ensureDeviceKey } = await import('../core/vault.js')
      const bobKey = await ensureDeviceKey(join(root, 'bob'), 'bob', PASS, FAST_KDF)
      const alice = await Vault.create({
        dir: join(root, 'alice'),
        vaultName: 'Fleet',
        passphrase: PASS,
        memberName: 'alice',
        roles: ['operator'],
        kdf: FAST_KDF,
        members: [
          { name: 'bob', roles: ['operator'], keys: [bobKey.publicKey] },
          { name: 'fleet', roles: ['agent'], keys: fleet.map((k) => toHex(k.publicKey)) },
          ...others.map((k, i) => ({ name: `m${i}`, roles: ['agent'], keys: [toHex(k.publicKey)] }))
        ]
      })
      const bob = await Vault.join({
        dir: join(root, 'bob'),
        bundle: JSON.stringify(await exportBundle(alice)),
        passphrase: PASS
      })
      try {
        const genesis = { author: alice.device, seq: 1, id: alice.vaultId }
        const notes = fleet.map((k) =>
          signEvent(
            {
              v: 2,
              vault: alice.vaultId,
              author: toHex(k.publicKey),
              seq: 1,
              prev: alice.vaultId,
              ts: new Date().toISOString(),
              type: 'audit.note',
              payload: { text: 'edge device on line' },
              deps: []
            },
            k.secretKey
          )
        )
        const concurrent = others.map((k, i) =>
          signEvent(
            {
              v: 2,
              vault: alice.vaultId,
              author: toHex(k.publicKey),
              seq: 1,
              prev: alice.vaultId,
              ts: new Date().toISOString(),
              type: 'gov.propose',
              payload: {
                action: { kind: 'vault.settings', args: { settings: { telemetryBatchMax: 100 + i } } },
                reason: 'site online',
                expiresAt: new Date(Date.now() + 86_400_000).toISOString()
              },
              deps: [genesis]
            },
            k.secretKey
          )
        )
        for (const v of [alice, bob]) {
          const verdicts = await v.ingest(docsOf([...notes, ...concurrent]))
          expect(verdicts.filter((x) => x.decision !== 'ADMIT')).toEqual([])
        }
        expect(Object.keys(alice.heads())).toHaveLength(1 + fleetSize + proposers) // bob has signed nothing yet
        const id = await round(alice, bob, flag('streaming_enabled'))
        await carry(alice, bob)
        // a proposal of the 48 concurrent ones, approved and committed after all that
        if (proposers > 0) {
          const site = Object.values(bob.state.proposals).find((p) => p.proposer === 'm7')!
          await approve(bob, site.id)
          await carry(bob, alice)
          expect((await commit(alice, site.id)).status).toBe('committed')
          await carry(alice, bob)
          expect(own(bob.state.settings, 'telemetryBatchMax')).toBe(107)
        }
        for (const v of [alice, bob]) {
          expect(own(v.state.proposals, id)?.status).toBe('committed')
          expect(v.state.issues).toEqual([])
          for (const e of v.governanceEvents())
            if (e.event.v === 2) expect(e.event.deps.length).toBeLessThanOrEqual(LIMITS.maxDeps)
        }
        expect(stateHash(alice.state)).toBe(stateHash(bob.state))
      } finally {
        await alice.close()
        await bob.close()
      }
    }
  }, 120_000)

  it("attack - another member's fork is kept as evidence and never makes this device READ-ONLY, start after start", async () => {
    const t = await threeMembers()
    const key = await stolenKey(t.carol)
    const a = forge(t.carol, key, 'audit.note', { text: 'one story' })
    const b = forge(t.carol, key, 'audit.note', { text: 'another story' })
    const verdicts = await t.alice.ingest(docsOf([a, b]))
    // arriving together, neither takes the slot: both are evidence (and the key takes no new events from there)
    expect(verdicts.map((v) => v.code)).toEqual(['FORK', 'FORK'])
    expect(t.alice.state.frozen).toEqual([{ key: key.publicKey, seq: a.event.seq }])
    const dir = t.alice.dir
    for (const v of t.all) await v.close()
    for (const full of [true, false, true, false, false]) {
      const v = await Vault.open({ dir, full })
      expect(v.health, `${full ? 'full' : 'normal'} start`).toMatchObject({ state: 'ok', reason: null })
      expect(v.state.frozen).toEqual([{ key: key.publicKey, seq: a.event.seq }])
      await v.unlock(PASS)
      await v.append('audit.note', { text: 'still signing' })
      await v.close()
    }
  })

  it('attack - a fork at the position of a committed revocation does not undo it once another member built on it; an unacknowledged commit is frozen and can be committed again', async () => {
    const t = await threeMembers()
    try {
      const aliceKey = await stolenKey(t.alice) // the attacker copied alice's laptop
      const revoke = await propose(
        t.alice,
        { kind: 'key.revoke', args: { member: 'carol', key: t.carol.device } },
        'carol left'
      )
      await carry(t.alice, t.bob)
      await approve(t.bob, revoke.id)
      await carry(t.bob, t.alice)
      const committed = await commit(t.alice, revoke.id)
      const commitEvent = t.alice.governanceEvents().find((e) => e.id === committed.closedBy)!
      await carry(t.alice, t.bob)
      await round(t.bob, t.alice, flag('finance_enabled')) // bob builds on the revocation: his proposal cites it
      // alice commits one more proposal that nobody cites yet
      const p2 = await propose(t.alice, flag('streaming_enabled'), 'metering')
      await carry(t.alice, t.bob)
      await approve(t.bob, p2.id)
      await carry(t.bob, t.alice)
      await commit(t.alice, p2.id)
      await carry(t.alice, t.bob)
      await carry(t.alice, t.carol)
      // the fork: another event of alice's key at the seq of the revocation's commit
      const fork = forge(
        t.alice,
        aliceKey,
        'gov.withdraw',
        { proposal: revoke.id },
        { seq: commitEvent.event.seq, prev: commitEvent.event.prev!, deps: [] }
      )
      for (const v of [t.bob, t.carol])
        expect((await v.ingest(docsOf([fork])))[0]).toMatchObject({ decision: 'QUARANTINE', code: 'FORK' })
      for (const v of [t.bob, t.carol]) {
        expect(v.state.frozen).toEqual([{ key: t.alice.device, seq: commitEvent.event.seq }])
        expect(own(v.state.proposals, revoke.id)?.status).toBe('committed')
        expect(own(v.state.members, 'carol')?.revokedKeys).toEqual([t.carol.device])
        expect(own(v.state.proposals, p2.id)?.status).toBe('open') // frozen: no other key had cited that commit
      }
      // bob commits p2 again himself: governance goes on without the forked key
      expect((await commit(t.bob, p2.id)).status).toBe('committed')
      await carry(t.bob, t.carol)
      expect(stateHash(t.carol.state)).toBe(stateHash(t.bob.state))
      // alice's own device learns of the fork of its own key: READ-ONLY, as a restored backup would be
      await t.alice.ingest(docsOf([fork]))
      await t.alice.verify({ full: true })
      expect(t.alice.health.state).toBe('read-only')
    } finally {
      for (const v of t.all) await v.close()
    }
  })

  it('attack - prototype names are data: flags, settings, members, ledger accounts, streams and fields named constructor, toString or __proto__', async () => {
    const t = await threeMembers()
    try {
      const { alice, bob } = t
      expect(await errorOf(propose(alice, flag('constructor'), 'x'))).toMatch(/^BAD_ARGUMENT: unknown flag constructor/)
      expect(await errorOf(propose(alice, flag('__proto__'), 'x'))).toBe(
        'BAD_ARGUMENT: flag: a name like finance_enabled'
      )
      expect(
        await errorOf(
          propose(alice, { kind: 'vault.settings', args: { settings: JSON.parse('{"__proto__": 1}') } }, 'x')
        )
      ).toMatch(/^BAD_ARGUMENT: setting __proto__/)
      const current = JSON.parse(JSON.stringify(alice.state.policy)) as { flags: Record<string, unknown> }
      const policy = {
        ...current,
        flags: {
          ...current.flags,
          constructor: { criterion: 'a flag with an awkward name', minMembers: 2, clauses: [] }
        }
      }
      await round(alice, bob, { kind: 'policy.set', args: { policy: policy as unknown as Json } })
      await round(alice, bob, flag('constructor'))
      await round(alice, bob, flag('finance_enabled'))
      await round(alice, bob, flag('streaming_enabled'))
      // settings by these names are refused before signing (they are not settings)…
      const odd = {
        kind: 'vault.settings',
        args: { settings: { constructor: 'c', toString: 's', valueOf: 3 } }
      } as Action
      expect(await errorOf(propose(alice, odd, 'x'))).toMatch(
        /^BAD_ARGUMENT: constructor is not a setting of this vault/
      )
      // …and signed straight into the log by devices that do not check (hostile, or older), the fold keeps them as data
      const p = await alice.appendGovernance('gov.propose', {
        action: odd as unknown as Json,
        reason: 'x',
        expiresAt: new Date(Date.now() + 86_400_000).toISOString()
      })
      await carry(alice, bob)
      const ap = await bob.appendGovernance('gov.approve', { proposal: p.id })
      await carry(bob, alice)
      await alice.appendGovernance('gov.commit', { proposal: p.id, approvals: [ap.id] })
      const dave = toHex(nacl.sign.keyPair().publicKey)
      await round(alice, bob, { kind: 'member.add', args: { name: 'constructor', roles: ['agent'], keys: [dave] } })
      const entry = {
        id: 'inv-1',
        memo: 'm',
        postings: [
          { account: 'constructor', side: 'debit', amount: 5, currency: 'EUR' },
          { account: 'tostring', side: 'credit', amount: 5, currency: 'EUR' }
        ]
      }
      await round(alice, bob, {
        kind: 'register.append',
        args: { register: 'ledger', entry: entry as unknown as Json }
      })
      await round(alice, bob, {
        kind: 'register.append',
        args: {
          register: 'streams',
          entry: { stream: 'constructor', version: 1, fields: { valueOf: 'number', toString: 'string?' } }
        }
      })
      const h = createHandlers(alice)
      const flags = (await h['gov.state']({})).state.flags
      expect(own(flags, 'constructor')).toBe(true)
      expect(own(alice.state.settings, 'toString')).toBe('s')
      expect(own(alice.state.members, 'constructor')?.keys).toEqual([dave])
      expect(JSON.parse(JSON.stringify((await h['ledger.balances']({})).balances))).toEqual({
        constructor: { EUR: 5 },
        tostring: { EUR: -5 }
      })
      for (const m of ['gov.inbox', 'gov.proposals', 'vault.members'] as const) await h[m]({} as never)
      expect(Object.keys(Object.prototype)).toEqual([])
      expect(({} as Record<string, unknown>).EUR).toBeUndefined()
      await carry(alice, bob)
      expect(stateHash(alice.state)).toBe(stateHash(bob.state))
    } finally {
      for (const v of t.all) await v.close()
    }
  })
})

describe('governance attacks through a CouchDB server', () => {
  it('attack - forged and forked events written straight into the server are held back or kept as evidence; honest rounds through the server still commit', async () => {
    const couch = await startCouch(join(await tempDir('tresor-couch-'), 'server'))
    try {
      await couch.request('PUT', '/attack', undefined, ADMIN)
      await couch.request(
        'PUT',
        '/attack/_security',
        { admins: { names: [ADMIN.username], roles: [] }, members: { names: [WRITER.username], roles: [] } },
        ADMIN
      )
      const url = `${couch.root}/attack`
      const t = await threeMembers()
      const sync = async (v: Vault, admin = false) => {
        const s = await CouchSync.open(v, { url, credentials: admin ? ADMIN : WRITER, admin })
        try {
          return await s.syncOnce()
        } finally {
          await s.close()
        }
      }
      try {
        await sync(t.alice, true)
        const key = await stolenKey(t.carol)
        // the stolen key's approval of nothing, citing bob's feed at seq 999999, then a fork of it: a note in the same
        // slot
        const forged = forge(
          t.carol,
          key,
          'gov.approve',
          { proposal: fake },
          { deps: [{ author: t.bob.device, seq: 999_999, id: fake }] }
        )
        const twin = forge(t.carol, key, 'audit.note', { text: 'the other branch' })
        await couch.request(
          'PUT',
          `/attack/${encodeURIComponent(docsOf([forged])[0]!.docId)}`,
          { raw: forged.raw, id: forged.id, type: forged.event.type, ts: forged.event.ts },
          ADMIN
        )
        for (const v of [t.bob, t.alice]) expect((await sync(v)).waiting).toBe(1)
        expect(t.bob.state.frozen).toEqual([])
        await couch.request(
          'PUT',
          `/attack/${encodeURIComponent(`fork!${key.publicKey}!${String(twin.event.seq).padStart(12, '0')}!${twin.id}`)}`,
          { raw: twin.raw, id: twin.id, type: twin.event.type, ts: twin.event.ts },
          ADMIN
        )
        // the first round takes the note into the empty slot; the next finds the waiting approval in a taken slot: a
        // fork
        for (let i = 0; i < 2; i++) for (const v of [t.bob, t.alice]) await sync(v)
        // both are kept as evidence (the forged one still takes no part: what it cites is not held); the key is frozen
        // there
        for (const v of [t.bob, t.alice])
          expect(v.state.frozen).toEqual([{ key: key.publicKey, seq: forged.event.seq }])
        const p = await propose(t.alice, flag('corepay_enabled'), 'simulated')
        await sync(t.alice)
        await sync(t.bob)
        await approve(t.bob, p.id)
        await sync(t.bob)
        await sync(t.alice)
        expect((await commit(t.alice, p.id)).status).toBe('committed')
        await sync(t.alice)
        await sync(t.bob)
        expect(own(t.bob.state.proposals, p.id)?.status).toBe('committed')
        expect(stateHash(t.bob.state)).toBe(stateHash(t.alice.state))
        expect(t.bob.health.state).toBe('ok')
      } finally {
        for (const v of t.all) await v.close()
      }
    } finally {
      await couch.stop()
    }
  }, 120_000)
})

function own_(v: Vault, member: string): { keys: string[]; revokedKeys: string[] } | null {
  const m = own(v.state.members, member)
  return m ? { keys: m.keys, revokedKeys: m.revokedKeys } : null
}
