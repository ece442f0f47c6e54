/**
 * Governance at scale. A synthetic history: rounds in which up to K members
 * act concurrently (each citing the tips it held when the round began):
 * proposals, approvals by another member, commits; one proposal in fifty
 * changes who may sign (member roles), so authority versions are exercised.
 *   - fold: GovFold.build over the first 1k, 10k and 100k governance events,
 *     with 10 and with 500 feeds: the cost per event must stay flat (2x);
 *   - propose → approve → commit: alice proposes, bob takes the event in and
 *     approves, alice takes that in and commits, holding that history: the
 *     governance cost on two in-memory devices (the vault's writer, gate and
 *     fold, no disk: this must stay flat), and the wall time on two real vault
 *     directories (three fdatasyncs and LevelDB's background work included;
 *     the bundle file's export/import is left out: it reads the whole log and
 *     is not governance).
 */
import { join } from 'node:path'
import nacl from 'tweetnacl'
import { signEvent, compareCites, GENESIS_TYPE, type Cite, type DecodedEvent } from '../core/envelope.js'
import { toHex } from '../core/bytes.js'
import { GovFold, type GovEvent } from '../core/governance/fold.js'
import { Vault, ensureDeviceKey } from '../core/vault.js'
import { eventDocId } from '../core/store.js'
import type { Json } from '../core/canonical.js'
import type { Row } from './proofs.js'
import { ModelDevice } from '../test/support/model-device.js'
import type { SimMember } from '../test/support/gov-sim.js'
import { own } from '../core/dict.js'
import { approve, commit, propose } from '../core/governance/calls.js'

interface Member {
  name: string
  key: string
  sk: Uint8Array
}

function member(name: string, i: number): Member {
  const kp = nacl.sign.keyPair.fromSeed(
    Uint8Array.from({ length: 32 }, (_, k) => (k < 4 ? (i >> (8 * k)) & 255 : k === 4 ? 0x60 : 1))
  )
  return { name, key: toHex(kp.publicKey), sk: kp.secretKey }
}

/** A history of `count` governance events over `feeds` member feeds (two more, `founders`, sign only the genesis). */
export function governanceHistory(
  count: number,
  feeds: number,
  founders: { name: string; key: string }[] = [],
  signer?: Member
): { genesis: DecodedEvent; events: DecodedEvent[] } {
  const members = Array.from({ length: feeds }, (_, i) => member(`m${i}`, i))
  const first = signer ?? members[0]!
  let clock = Date.parse('2026-06-01T00:00:00.000Z')
  const ts = () => new Date((clock += 10)).toISOString()
  const genesis = signEvent(
    {
      v: 2,
      vault: null,
      author: first.key,
      seq: 1,
      prev: null,
      ts: ts(),
      type: GENESIS_TYPE,
      deps: [],
      payload: {
        name: 'bench',
        members: [first, ...founders, ...members.filter((m) => m !== first)].map((m) => ({
          name: m.name,
          roles: ['operator'],
          keys: [m.key]
        })) as unknown as Json,
        policy: { default: { minMembers: 2, clauses: [] }, actions: {}, flags: {} }
      }
    },
    first.sk
  )
  const vault = genesis.id
  const heads = new Map<string, { seq: number; id: string; gov: Cite | null }>()
  const tips = new Map<string, Cite>([[first.key, { author: first.key, seq: 1, id: genesis.id }]])
  heads.set(first.key, { seq: 1, id: genesis.id, gov: { author: first.key, seq: 1, id: genesis.id } })
  const events: DecodedEvent[] = []
  const known = new Set<string>([genesis.id])
  const open: { id: string; proposer: string; approvals: string[] }[] = []
  const concurrent = Math.min(feeds, feeds >= 100 ? 16 : 4)
  let n = 0
  const expiresAt = '2027-01-01T00:00:00.000Z'
  while (events.length < count) {
    const snapshot = [...tips.values()]
    const actors = Array.from({ length: concurrent }, (_, i) => members[(n * 7 + i * 13) % members.length]!).filter(
      (m, i, a) => a.indexOf(m) === i
    )
    const touched = new Set<string>()
    const made: DecodedEvent[] = []
    for (const m of actors) {
      if (events.length + made.length >= count) break
      const head = heads.get(m.key)
      const own = head?.gov ?? null
      const deps = [...(own ? [own] : []), ...snapshot.filter((c) => c.author !== m.key).slice(0, own ? 15 : 16)].sort(
        compareCites
      )
      const sign = (type: string, payload: Record<string, Json>) =>
        signEvent(
          {
            v: 2,
            vault,
            author: m.key,
            seq: (head?.seq ?? 0) + 1,
            prev: head?.id ?? vault,
            ts: ts(),
            type,
            payload,
            deps
          },
          m.sk
        )
      let d: DecodedEvent
      const ready = open.find((p) => p.approvals.length > 0 && !touched.has(p.id))
      const pending = open.find((p) => p.approvals.length === 0 && p.proposer !== m.key && !touched.has(p.id))
      if (ready && known.has(ready.approvals[0]!)) {
        d = sign('gov.commit', { proposal: ready.id, approvals: ready.approvals })
        open.splice(open.indexOf(ready), 1)
        touched.add(ready.id)
      } else if (pending && known.has(pending.id)) {
        d = sign('gov.approve', { proposal: pending.id })
        pending.approvals.push(d.id)
        touched.add(pending.id)
      } else {
        const action =
          n % 50 === 0
            ? {
                kind: 'member.roles',
                args: {
                  name: members[n % members.length]!.name,
                  roles: n % 100 === 0 ? ['operator'] : ['operator', 'auditor']
                }
              }
            : { kind: 'vault.settings', args: { settings: { [`s${n % 64}`]: n } } }
        d = sign('gov.propose', { action: action as unknown as Json, reason: 'bench', expiresAt })
        open.push({ id: d.id, proposer: m.key, approvals: [] })
        touched.add(d.id)
      }
      n++
      made.push(d)
      heads.set(m.key, { seq: d.event.seq, id: d.id, gov: { author: m.key, seq: d.event.seq, id: d.id } })
    }
    for (const d of made) {
      for (const c of d.event.v === 2 ? d.event.deps : []) if (tips.get(c.author)?.id === c.id) tips.delete(c.author)
      tips.set(d.event.author, { author: d.event.author, seq: d.event.seq, id: d.id })
      events.push(d)
      known.add(d.id)
    }
  }
  return { genesis, events }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

function foldTime(genesis: DecodedEvent, events: DecodedEvent[]): number {
  const gov: GovEvent[] = [genesis, ...events].map((d) => ({ id: d.id, event: d.event }))
  const runs: number[] = []
  for (let i = 0; i < 3; i++) {
    ;(globalThis as { gc?: () => void }).gc?.()
    const t = performance.now()
    const f = GovFold.build(genesis.id, gov, [])
    runs.push(performance.now() - t)
    if (f.state.issues.length > 0 || f.state.height !== gov.length)
      throw new Error(
        `bench history did not fold cleanly: ${JSON.stringify(f.state.issues[0])}, height ${f.state.height}/${gov.length}`
      )
  }
  return median(runs)
}

/**
 * Wall time of one propose → approve → commit on two vaults that hold `count`
 * governance events of `feeds` feeds (each signature waits for its
 * fdatasync), median of 5 rounds.
 */
export async function roundTrip(
  count: number,
  feeds: number,
  tmp: () => Promise<string>,
  pass: string,
  beforeRounds?: () => Promise<void>
): Promise<{ ms: number; steps: number[] }> {
  const root = await tmp()
  const kdf = { N: 2 ** 14, r: 8, p: 1 }
  const aliceKey = await ensureDeviceKey(join(root, 'alice'), 'alice', pass, kdf)
  const bobKey = await ensureDeviceKey(join(root, 'bob'), 'bob', pass, kdf)
  const { openKeyFile, readKeyFile } = await import('../core/keys.js')
  const alicePrivate = await openKeyFile(await readKeyFile(join(root, 'alice', 'device.key')), pass)
  const signer: Member = { name: 'alice', key: aliceKey.publicKey, sk: alicePrivate.keyPair.secretKey }
  const { genesis, events } = governanceHistory(count, feeds, [{ name: 'bob', key: bobKey.publicKey }], signer)
  const vaults: Vault[] = []
  for (const name of ['alice', 'bob']) {
    const v = await Vault.adopt({ dir: join(root, name), genesis, passphrase: pass, kdf })
    for (let i = 0; i < events.length; i += 5000) {
      const verdicts = await v.ingest(
        events.slice(i, i + 5000).map((d) => ({ docId: eventDocId(d.event.author, d.event.seq), raw: d.raw }))
      )
      const bad = verdicts.find((x) => x.decision !== 'ADMIT')
      if (bad) throw new Error(`bench history refused: ${bad.reason}`)
    }
    await v.unlock(pass)
    vaults.push(v)
  }
  const [alice, bob] = vaults as [Vault, Vault]
  const take = async (to: Vault, from: Vault) => {
    const h = from.heads()[from.device]!
    const doc = await from.store.get(from.device, h.length)
    const [v] = await to.ingest([{ docId: doc!._id, raw: doc!.raw }])
    if (v?.decision !== 'ADMIT')
      throw new Error(
        `bench: ${v?.decision} ${v?.code}: ${v?.reason} (from ${JSON.stringify(from.heads()[from.device])}, to holds ${JSON.stringify(to.heads()[from.device])})`
      )
  }
  const runs: number[][] = []
  for (const v of vaults) await v.flush()
  await new Promise((resolve) => setTimeout(resolve, 2000)) // let LevelDB settle after the bulk load
  await beforeRounds?.()
  try {
    for (let r = 0; r < 5; r++) {
      ;(globalThis as { gc?: () => void }).gc?.() // the bulk load's garbage is not this round's cost
      const steps: number[] = []
      const step = async (fn: () => Promise<unknown>) => {
        const t = performance.now()
        await fn()
        steps.push(performance.now() - t)
      }
      let id = ''
      await step(async () => {
        id = (
          await propose(alice, { kind: 'vault.settings', args: { settings: { telemetryBatchMs: 10 + r } } }, 'bench')
        ).id
      })
      await step(() => take(bob, alice))
      await step(() => approve(bob, id))
      await step(() => take(alice, bob))
      await step(async () => {
        if ((await commit(alice, id)).status !== 'committed') throw new Error('bench round did not commit')
      })
      runs.push(steps)
      await take(bob, alice) // bob learns of the commit before the next round (not timed)
    }
  } finally {
    for (const v of vaults) await v.close()
  }
  const totals = runs.map((s) => s.reduce((a, b) => a + b, 0))
  const mid = runs[totals.indexOf(median(totals))]!
  return { ms: median(totals), steps: mid }
}

/**
 * The governance cost of one propose → approve → commit, without the disk:
 * two in-memory devices holding the history run the same writer, gate and
 * fold a vault does (test/support/model-device.ts). Median of 7 rounds.
 */
function governanceRound(count: number, feeds: number): number {
  const alice = memberKeys('alice', 0xa11ce),
    bob = memberKeys('bob', 0xb0b)
  const { genesis, events } = governanceHistory(count, feeds, [{ name: 'bob', key: bob.key }], {
    name: 'alice',
    key: alice.key,
    sk: alice.kp.secretKey
  })
  let now = Date.parse('2026-12-01T00:00:00.000Z')
  const clock = () => (now += 10)
  const devices = [alice, bob].map((m) => new ModelDevice(genesis.id, genesis, m, clock))
  for (const dev of devices) {
    for (let i = 0; i < events.length; i += 5000)
      dev.receive(
        events.slice(i, i + 5000).map((d) => ({ docId: eventDocId(d.event.author, d.event.seq), raw: d.raw }))
      )
  }
  const [a, b] = devices as [ModelDevice, ModelDevice]
  const doc = (d: DecodedEvent | null) => {
    if (!d) throw new Error('bench round refused by the fold')
    return [{ docId: eventDocId(d.event.author, d.event.seq), raw: d.raw }]
  }
  const runs: number[] = []
  for (let r = 0; r < 7; r++) {
    ;(globalThis as { gc?: () => void }).gc?.()
    const t = performance.now()
    const p = a.write('gov.propose', {
      action: { kind: 'vault.settings', args: { settings: { round: r } } },
      reason: 'bench',
      expiresAt: '2027-01-01T00:00:00.000Z'
    })
    b.receive(doc(p))
    const ap = b.write('gov.approve', { proposal: p!.id })
    a.receive(doc(ap))
    const c = a.write('gov.commit', { proposal: p!.id, approvals: [ap!.id] })
    runs.push(performance.now() - t)
    b.receive(doc(c))
    if (own(b.fold.state.proposals, p!.id)?.status !== 'committed') throw new Error('bench round did not commit')
  }
  return median(runs)
}

function memberKeys(name: string, seed: number): SimMember {
  const kp = nacl.sign.keyPair.fromSeed(Uint8Array.from({ length: 32 }, (_, k) => (seed >> (8 * (k % 3))) & 255))
  return { name, roles: ['operator'], kp, key: toHex(kp.publicKey) }
}

export async function benchGovernance(
  max: number,
  tmp: () => Promise<string>,
  pass: string,
  log: (m: string) => void
): Promise<Row[]> {
  const rows: Row[] = []
  const sizes = [1000, 10_000, 100_000].filter((n) => n <= max)
  const us = (ms: number, n: number) => ((ms * 1000) / n).toFixed(2)
  const perEvent = new Map<string, number>()
  for (const feeds of [10, 500]) {
    log(`governance: a history of ${sizes.at(-1)!.toLocaleString('en-US')} events over ${feeds} feeds`)
    const { genesis, events } = governanceHistory(sizes.at(-1)!, feeds)
    for (const n of sizes) {
      const ms = foldTime(genesis, events.slice(0, n))
      perEvent.set(`${feeds}:${n}`, ms / n)
      rows.push({
        measure: `governance fold, ${n.toLocaleString('en-US')} events, ${feeds} feeds`,
        tresor: `${ms.toFixed(0)} ms (${us(ms, n)} µs/event)`,
        peer: '',
        verdict: ''
      })
    }
  }
  const flat = (a: number, b: number) => b / a <= 2
  const lo = sizes[0]!,
    hi = sizes.at(-1)!
  const byEvents = [10, 500].map((f) => perEvent.get(`${f}:${hi}`)! / perEvent.get(`${f}:${lo}`)!)
  const byFeeds = sizes.map((n) => perEvent.get(`500:${n}`)! / perEvent.get(`10:${n}`)!)
  rows.push({
    measure: `governance fold: per-event cost ${lo.toLocaleString('en-US')} → ${hi.toLocaleString('en-US')} events, 10 → 500 feeds`,
    tresor: `×${byEvents.map((x) => x.toFixed(2)).join(' / ×')} · ×${byFeeds.map((x) => x.toFixed(2)).join(' / ×')}`,
    peer: '',
    verdict: `target within 2x: ${byEvents.every((x) => flat(1, x)) && byFeeds.every((x) => flat(1, x)) ? 'met' : 'NOT met'}`
  })
  const latency = new Map<string, number>()
  for (const feeds of [10, 500]) {
    for (const n of sizes) {
      log(
        `governance: propose → approve → commit, in memory and on two vaults, holding ${n.toLocaleString('en-US')} events of ${feeds} feeds`
      )
      const cpu = governanceRound(n, feeds)
      latency.set(`${feeds}:${n}`, cpu)
      const r = await roundTrip(n, feeds, tmp, pass)
      rows.push({
        measure: `propose → approve → commit, ${n.toLocaleString('en-US')} events, ${feeds} feeds`,
        tresor: `governance ${cpu.toFixed(1)} ms · vaults ${r.ms.toFixed(0)} ms`,
        peer: `vault steps ${r.steps.map((s) => s.toFixed(0)).join(' + ')} ms (propose, bob takes it in, approve, alice takes it in, commit; 3 fdatasyncs)`,
        verdict: ''
      })
    }
  }
  const growth = [10, 500].map((f) => latency.get(`${f}:${hi}`)! / latency.get(`${f}:${lo}`)!)
  rows.push({
    measure: `propose → approve → commit governance cost ${lo.toLocaleString('en-US')} → ${hi.toLocaleString('en-US')} events`,
    tresor: `×${growth.map((x) => x.toFixed(2)).join(' / ×')} (10 / 500 feeds)`,
    peer: '',
    verdict: `target within 2x: ${growth.every((x) => x <= 2) ? 'met' : 'NOT met'}`
  })
  return rows
}
