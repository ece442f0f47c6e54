/**
 * A hostile CouchDB server, modelled with fast-check. Whoever holds the server
 * (or its admin password) serves any mix of: the honest feed with slots dropped,
 * forged bodies as conflicting leaves or as rewrites on top of an honest event,
 * deletion markers, bad signatures, an event moved to another slot, a stranger
 * vault's event, malformed JSON, and bob's key held by the attacker signing a
 * valid event whose payload is named `__proto__` and `constructor`; ids named
 * like Object's own members, an oversized and an over-deep event; all written in
 * a random order and in random batches, pulled once at the end or after each
 * batch. A device that joined from the genesis bundle, once it has pulled it all:
 *   - its vault passes a full check and stays writable;
 *   - of alice's feed it holds exactly the longest run of slots the server served
 *     honestly, byte for byte, and nothing forged (pulled between batches: at
 *     least that run, at most the run of slots it ever served honestly);
 *   - every forged input is kept, quarantined with a reason or waiting, and
 *     nothing a member signed is recorded as refused;
 *   - a second round takes nothing new and counts nothing twice;
 *   - once the dropped slots are on the server, the next round takes what
 *     waited behind them, up to the next slot the server does not serve honestly;
 *   - nothing leaks onto Object.prototype.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { cp } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import nacl from 'tweetnacl'
import { signEvent } from '../core/envelope.js'
import { canonicalize } from '../core/canonical.js'
import { eventDocId } from '../core/store.js'
import { toHex } from '../core/bytes.js'
import { LIMITS } from '../core/limits.js'
import { stateHash } from '../core/governance/state.js'
import { CouchSync, listQuarantine } from '../sync/couch-sync.js'
import { sharedChecker } from '../core/verify-pool.js'
import { remoteDb } from '../sync/remote.js'
import { ADMIN, startCouch, type Couch } from './support/couch.js'
import type { Doc } from '../core/pouch.js'
import { cleanupDirs } from './helpers.js'
import { stolenKey, threeMembers } from './support/members.js'
import { Vault } from '../core/vault.js'

const FEED = 7 // alice's feed: genesis and six notes

let couch: Couch
let root: string
/** alice's honest documents by slot (1..FEED), as a peer is given them. */
let honest: Doc[]
let vaultId: string
let alicePub: string
let bobPub: string
let bobSecret: Uint8Array
/** carol right after joining from the genesis bundle (before alice's notes), closed: each run starts from a copy. */
let carolTemplate: string

beforeAll(async () => {
  const m = await threeMembers() // carol and both of bob's devices joined from alice's genesis bundle
  root = m.root
  couch = await startCouch(join(root, 'server'))
  bobPub = m.bob.device
  bobSecret = (await stolenKey(m.bob)).keyPair.secretKey
  for (let i = 2; i <= FEED; i++) await m.alice.append('audit.note', { text: `note ${i}` })
  vaultId = m.alice.vaultId
  alicePub = m.alice.device
  honest = await m.alice.store.docsForPeer(Array.from({ length: FEED }, (_, i) => eventDocId(alicePub, i + 1)))
  carolTemplate = m.carol.dir
  for (const v of m.all) await v.close()
}, 60_000)

afterAll(async () => {
  await couch?.stop()
  await cleanupDirs()
})

const hex = (n: number) => randomBytes(n).toString('hex')
const rawOf = (d: Doc) => d.raw as string
const revHash = (d: Doc) => d._rev!.slice(2)
const eventOf = (d: Doc) => JSON.parse(rawOf(d)) as Record<string, unknown>

/** What the server may do at one of alice's slots (2..FEED; genesis the joiner already holds). */
const slotAct = fc.constantFrom('serve', 'drop', 'conflict', 'rewrite', 'delete', 'bad-sig-conflict')
/** Inputs with no honest twin. */
const extra = fc.constantFrom('moved', 'stranger', 'malformed', 'bob-proto', 'beyond', 'odd-id', 'oversized', 'deep')

interface Plan {
  acts: (typeof slotAct extends fc.Arbitrary<infer T> ? T : never)[]
  extras: (typeof extra extends fc.Arbitrary<infer T> ? T : never)[]
  seed: number
  batches: number
  /** Whether the device also pulls after each batch the server writes, not only once all are there. */
  pullBetween: boolean
}

/** The server's documents for a plan, and which of them are forged (no member signed them as they are). */
function serverDocs(plan: Plan): { docs: Doc[]; forged: Map<string, string>; servedHonest: boolean[] } {
  const docs: Doc[] = [honest[0]!]
  const forged = new Map<string, string>() // `${id}!${rev}` (as the quarantine names it) -> what it is
  const servedHonest = [true]
  const forge = (d: Doc, what: string) => {
    docs.push(d)
    forged.set(`${d._id}!${d._rev}`, what)
  }
  plan.acts.forEach((act, i) => {
    const h = honest[i + 1]!
    const ev = eventOf(h)
    const changed = canonicalize({ ...ev, payload: { text: `forged ${i}` } })
    servedHonest.push(act === 'serve' || act === 'conflict' || act === 'bad-sig-conflict')
    if (act === 'drop') return
    if (act === 'delete') {
      const r = hex(16)
      docs.push(h)
      forge({ _id: h._id, _rev: `2-${r}`, _deleted: true, _revisions: { start: 2, ids: [r, revHash(h)] } }, act)
      return
    }
    if (act === 'rewrite') {
      const r = hex(16)
      docs.push(h)
      forge({ ...h, _rev: `2-${r}`, _revisions: { start: 2, ids: [r, revHash(h)] }, raw: changed }, act)
      return
    }
    docs.push(h)
    if (act === 'conflict' || act === 'bad-sig-conflict')
      forge(
        {
          ...h,
          _rev: `1-${hex(16)}`,
          raw: act === 'conflict' ? changed : canonicalize({ ...ev, sig: 'ab'.repeat(64) })
        },
        act
      )
  })
  const stranger = nacl.sign.keyPair()
  const base = eventOf(honest[1]!)
  delete base.sig
  for (const [k, what] of plan.extras.entries()) {
    const tag = `${what}-${k}`
    if (what === 'moved') {
      // alice's second event, served at a slot past her feed
      forge({ ...honest[1]!, _id: eventDocId(alicePub, FEED + 2 + k), _rev: `1-${hex(16)}` }, tag)
    } else if (what === 'stranger') {
      const s = signEvent(
        {
          ...base,
          vault: 'ee'.repeat(32),
          author: toHex(stranger.publicKey),
          seq: 1 + k,
          prev: 'ee'.repeat(32)
        } as never,
        stranger.secretKey
      )
      forge({ _id: eventDocId(toHex(stranger.publicKey), 1 + k), _rev: `1-${hex(16)}`, raw: s.raw, id: s.id }, tag)
    } else if (what === 'odd-id') {
      // ids a peer chose, named like Object's own members
      const id = ['ev!__proto__!000000000001', `ev!${alicePub}!constructor`, 'fork!__proto__!000000000002!x', 'ev!'][
        k % 4
      ]!
      forge({ ...honest[1]!, _id: id, _rev: `1-${hex(16)}` }, tag)
    } else if (what === 'oversized') {
      const ev = { ...eventOf(honest[1]!), payload: { text: 'x'.repeat(LIMITS.maxEventBytes) } }
      forge(
        { ...honest[1]!, _id: eventDocId(alicePub, FEED + 60 + k), _rev: `1-${hex(16)}`, raw: canonicalize(ev) },
        tag
      )
    } else if (what === 'deep') {
      let payload: unknown = { text: 'deep' }
      for (let d = 0; d < LIMITS.maxDepth + 4; d++) payload = { d: payload }
      const ev = { ...eventOf(honest[1]!), payload } // in canonical key order; canonicalize itself refuses the depth
      forge(
        { ...honest[1]!, _id: eventDocId(alicePub, FEED + 80 + k), _rev: `1-${hex(16)}`, raw: JSON.stringify(ev) },
        tag
      )
    } else if (what === 'malformed') {
      forge({ _id: eventDocId(alicePub, FEED + 20 + k), _rev: `1-${hex(16)}`, raw: '{"v":1,"vault":' }, tag)
    } else if (what === 'beyond') {
      // a bad signature at a slot after a gap: judged, not left waiting for ever unrecorded
      const ev = { ...base, seq: FEED + 40 + k, prev: 'cd'.repeat(32), sig: 'ab'.repeat(64) }
      forge({ _id: eventDocId(alicePub, FEED + 40 + k), _rev: `1-${hex(16)}`, raw: canonicalize(ev) }, tag)
    }
  }
  if (plan.extras.includes('bob-proto')) {
    // bob's key, in the attacker's hands: a valid first event of his feed, payload named like Object's own members
    const payload = JSON.parse('{"text":"proto","__proto__":{"polluted":true},"constructor":"x"}') as never
    const s = signEvent({ ...base, author: bobPub, seq: 1, prev: vaultId, payload } as never, bobSecret)
    docs.push({ _id: eventDocId(bobPub, 1), _rev: `1-${hex(16)}`, raw: s.raw, id: s.id })
  }
  return { docs, forged, servedHonest }
}

function shuffled<T>(xs: T[], seed: number): T[] {
  const out = [...xs]
  let s = seed >>> 0 || 1
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) >>> 0
    const j = s % (i + 1)
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

let run = 0
/** The plan's documents on a fresh server database, and a fresh copy of carol that has pulled from it once. */
async function pullFrom(plan: Plan) {
  const name = `hostile${run++}`
  await couch.request('PUT', `/${name}`, undefined, ADMIN)
  const url = `${couch.root}/${name}`
  const { docs, forged, servedHonest } = serverDocs(plan)
  const server = remoteDb(url, ADMIN)
  const dir = join(root, `carol-${name}`)
  await cp(carolTemplate, dir, { recursive: true })
  const carol = await Vault.open({ dir })
  const sync = await CouchSync.open(carol, { url, credentials: ADMIN })
  const order = shuffled(docs, plan.seed)
  const per = Math.ceil(order.length / plan.batches)
  for (let i = 0; i < order.length; i += per) {
    const res = await server.bulkDocs(order.slice(i, i + per), { new_edits: false })
    expect(res.filter((r) => r.error)).toEqual([])
    // pulled as it comes: a leaf can arrive rounds after its slot's other revisions (and after what waits on it)
    if (plan.pullBetween && i + per < order.length) await sync.syncOnce()
  }
  const first = await sync.syncOnce()
  // Pulled between batches, a slot later rewritten or deleted was an honest leaf for a while if its event was written
  // in an earlier batch than what replaced it: the device may have taken it then (and keeps it).
  const batchOf = new Map(order.map((d, k) => [d, Math.floor(k / per)]))
  const servedOnce = servedHonest.map((served, i) => {
    const act = plan.acts[i - 1]
    if (served || !plan.pullBetween || (act !== 'rewrite' && act !== 'delete')) return served
    const h = honest[i]!
    const replaced = docs.find((d) => d._id === h._id && d._rev!.startsWith('2-'))!
    return batchOf.get(h)! < batchOf.get(replaced)!
  })
  return { carol, sync, server, first, forged, servedHonest, servedOnce, quarantine: await listQuarantine(carol) }
}

/** How far alice's feed is served honestly from slot 1, given which slots are. */
function honestRun(served: boolean[]): number {
  let n = 0
  while (n < FEED && served[n]) n++
  return n
}

describe('couch sync against a hostile server', () => {
  it('couch - whatever a hostile server serves, a device takes only what members signed, in order, and keeps every other input with its reason', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          acts: fc.array(slotAct, { minLength: FEED - 1, maxLength: FEED - 1 }),
          extras: fc.array(extra, { maxLength: 4 }),
          seed: fc.nat(),
          batches: fc.integer({ min: 1, max: 4 }),
          pullBetween: fc.boolean()
        }),
        async (plan) => {
          const { carol, sync, server, first, forged, servedHonest, servedOnce, quarantine } = await pullFrom(plan)
          try {
            expect(carol.health.state).toBe('ok')
            expect((await carol.verify({ full: true })).ok).toBe(true)
            // alice's feed: the longest run of slots served honestly, byte for byte
            // (pulled between batches: at least that, at most the run of slots ever served honestly)
            const expected = carol.heads()[alicePub]?.length ?? 0
            expect(expected).toBeGreaterThanOrEqual(honestRun(servedHonest))
            expect(expected).toBeLessThanOrEqual(honestRun(servedOnce))
            if (!plan.pullBetween) expect(expected).toBe(honestRun(servedHonest))
            for (let seq = 1; seq <= expected; seq++)
              expect((await carol.store.get(alicePub, seq))!.raw).toBe(rawOf(honest[seq - 1]!))
            // bob's valid event counts as his, and its names stay data
            if (plan.extras.includes('bob-proto')) expect(carol.heads()[bobPub]?.length).toBe(1)
            expect(({} as Record<string, unknown>).polluted).toBeUndefined()
            // every forged input is kept: quarantined with a reason, or waiting for what it names
            const kept = new Set(quarantine.map((q) => q._id.slice(2)))
            let unaccounted = 0
            for (const [rev, what] of forged) {
              if (kept.has(rev)) continue
              unaccounted++
              expect(what, `${rev} is neither quarantined nor waiting`).toMatch(/^(moved|beyond)/)
            }
            expect(unaccounted).toBeLessThanOrEqual(first.waiting)
            expect(quarantine.every((q) => q.reason.length > 0 && q.code.length > 0 && q.doc)).toBe(true)
            // and the quarantine accuses nothing a member signed: an honest revision served beside a forged leaf of
            // its slot is admitted, not recorded as refused with the forgery's reason
            expect(quarantine.filter((q) => !forged.has(q._id.slice(2))).map((q) => `${q.code} ${q._id}`)).toEqual([])
            // the same server again: nothing new, nothing counted twice, same state
            const state = stateHash(carol.state)
            const again = await sync.syncOnce()
            expect(again).toMatchObject({ admitted: 0, quarantined: 0 })
            expect(stateHash(carol.state)).toBe(state)
            expect((await listQuarantine(carol)).length).toBe(quarantine.length)
            // the dropped slots written to the server after all: what waited behind them is taken in that round
            const dropped = plan.acts.flatMap((a, i) => (a === 'drop' ? [honest[i + 1]!] : []))
            if (dropped.length > 0) {
              await server.bulkDocs(dropped, { new_edits: false })
              const filled = (served: boolean[]) => honestRun(served.map((x, i) => x || plan.acts[i - 1] === 'drop'))
              const round = await sync.syncOnce()
              const healed = carol.heads()[alicePub]?.length ?? 0
              expect(round.admitted).toBe(healed - expected)
              expect(round.quarantined).toBe(0)
              expect(healed).toBeGreaterThanOrEqual(Math.max(expected, filled(servedHonest)))
              expect(healed).toBeLessThanOrEqual(filled(servedOnce))
              if (!plan.pullBetween) expect(healed).toBe(filled(servedHonest))
              for (let seq = 1; seq <= healed; seq++)
                expect((await carol.store.get(alicePub, seq))!.raw).toBe(rawOf(honest[seq - 1]!))
              expect((await carol.verify({ full: true })).ok).toBe(true)
            }
          } finally {
            await sync.close()
            await server.close()
            await carol.close()
          }
        }
      ),
      { numRuns: 60, endOnFailure: true }
    )
  }, 240_000)

  /** A forged leaf at `seq` that wins PouchDB's pick of the revision to show (the higher revision hash wins a tie). */
  const winningForgery = (seq: number): Doc => ({
    ...honest[seq - 1]!,
    _rev: `1-${'f'.repeat(32)}`,
    raw: canonicalize({ ...eventOf(honest[seq - 1]!), payload: { text: 'forged winner' } })
  })

  it('couch - an honest event waiting behind a forged winning leaf of its slot is taken in the round its predecessor arrives', async () => {
    const name = `hostile${run++}`
    await couch.request('PUT', `/${name}`, undefined, ADMIN)
    const url = `${couch.root}/${name}`
    const server = remoteDb(url, ADMIN)
    // slot 3 honest and forged (the forgery wins), slot 2 not yet there: the honest 3 waits
    await server.bulkDocs([honest[0]!, honest[2]!, winningForgery(3)], { new_edits: false })
    const dir = join(root, `carol-${name}`)
    await cp(carolTemplate, dir, { recursive: true })
    const carol = await Vault.open({ dir })
    const sync = await CouchSync.open(carol, { url, credentials: ADMIN })
    try {
      const first = await sync.syncOnce()
      expect(first).toMatchObject({ admitted: 0, quarantined: 1, waiting: 1 })
      await server.bulkDocs([honest[1]!], { new_edits: false })
      const second = await sync.syncOnce()
      expect(second).toMatchObject({ admitted: 2, quarantined: 0, waiting: 0 })
      expect(carol.heads()[alicePub]?.length).toBe(3)
      expect((await carol.store.get(alicePub, 3))!.raw).toBe(rawOf(honest[2]!))
      expect((await listQuarantine(carol)).map((q) => q.doc && (q.doc as Doc)._rev)).toEqual([`1-${'f'.repeat(32)}`])
    } finally {
      await sync.close()
      await server.close()
      await carol.close()
    }
  })

  it('couch - a forged leaf that arrives beside an event already waiting does not take the waiting one out of the gate', async () => {
    const name = `hostile${run++}`
    await couch.request('PUT', `/${name}`, undefined, ADMIN)
    const url = `${couch.root}/${name}`
    const server = remoteDb(url, ADMIN)
    await server.bulkDocs([honest[0]!, honest[2]!], { new_edits: false }) // slot 2 withheld: the honest 3 waits
    const dir = join(root, `carol-${name}`)
    await cp(carolTemplate, dir, { recursive: true })
    const carol = await Vault.open({ dir })
    const sync = await CouchSync.open(carol, { url, credentials: ADMIN })
    try {
      expect(await sync.syncOnce()).toMatchObject({ admitted: 0, waiting: 1 })
      // the next round replicates only the new leaf of slot 3
      await server.bulkDocs([winningForgery(3)], { new_edits: false })
      expect(await sync.syncOnce()).toMatchObject({ admitted: 0, quarantined: 1, waiting: 1 })
      expect((await sync.status()).pendingDown).toBe(1)
      await server.bulkDocs([honest[1]!], { new_edits: false })
      expect(await sync.syncOnce()).toMatchObject({ admitted: 2, waiting: 0 })
      expect(carol.heads()[alicePub]?.length).toBe(3)
    } finally {
      await sync.close()
      await server.close()
      await carol.close()
    }
  })

  it('couch - continuous replication: the gate judges every live leaf it wrote, not only the winner a forger chose', async () => {
    const dir = join(root, `carol-live-${run++}`)
    await cp(carolTemplate, dir, { recursive: true })
    const carol = await Vault.open({ dir })
    const sync = await CouchSync.open(carol, { url: `${couch.root}/unused`, credentials: ADMIN })
    const checker = sharedChecker()
    try {
      // what a follower's replication writes into staging: slot 2 twice, the forgery winning
      await sync.stagingDb.bulkDocs([honest[1]!, winningForgery(2), honest[2]!], { new_edits: false })
      const counts = await sync.drainStaging(checker)
      expect(counts).toMatchObject({ admitted: 2, quarantined: 1, waiting: 0 })
      expect(carol.heads()[alicePub]?.length).toBe(3)
    } finally {
      await checker.close()
      await sync.close()
      await carol.close()
    }
  })
})
