import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import nacl from 'tweetnacl'
import { TelemetryStore } from '../core/telemetry/store.js'
import { sealBatch } from '../core/telemetry/batch.js'
import { canonicalReading, type Reading } from '../core/telemetry/reading.js'
import { leafHashText } from '../core/proofs/merkle.js'
import { toHex } from '../core/bytes.js'
import { forwardTelemetry, pullTelemetry, telemetryUrl } from '../sync/telemetry-forward.js'
import { remoteDb } from '../sync/remote.js'
import type { Db } from '../core/pouch.js'
import { ADMIN, REVIEWER, WRITER, removeDesignDoc, startCouch, type Couch } from './support/couch.js'
import { cleanupDirs, codeOf, tempDir } from './helpers.js'
import { boilerLines, streamingVaults, type StreamingVaults } from './support/telemetry-vault.js'

let couch: Couch

beforeAll(async () => {
  couch = await startCouch(join(await tempDir('tresor-couch-'), 'server'))
})

afterAll(async () => {
  await couch?.stop()
  await cleanupDirs()
})

async function freshTelemetryDb(name: string): Promise<string> {
  const url = telemetryUrl(`${couch.root}/${name}`)
  const path = new URL(url).pathname
  await couch.request('PUT', path, undefined, ADMIN)
  await couch.request(
    'PUT',
    `${path}/_security`,
    {
      admins: { names: [ADMIN.username], roles: [] },
      members: { names: [WRITER.username, REVIEWER.username], roles: [] }
    },
    ADMIN
  )
  return url
}

/** Every reading id on the server, counted: the "exactly once" check. */
async function serverReadings(url: string): Promise<Map<string, number>> {
  const db = remoteDb(url, ADMIN)
  try {
    const res = await db.allDocs({ startkey: 'tb!', endkey: 'tb!\uffff', include_docs: true })
    const counts = new Map<string, number>()
    for (const row of res.rows)
      for (const r of (row.doc as unknown as { readings: string[] }).readings) {
        const id = (JSON.parse(r) as Reading).id
        counts.set(id, (counts.get(id) ?? 0) + 1)
      }
    return counts
  } finally {
    await db.close()
  }
}

describe('telemetry store-and-forward with CouchDB', () => {
  let t: StreamingVaults
  let alice: TelemetryStore
  let url: string
  let remote: Db

  beforeAll(async () => {
    t = await streamingVaults({ settings: { telemetryBatchMax: 50, telemetryBudgetKB: 64 } })
    alice = await TelemetryStore.open(t.alice)
    url = await freshTelemetryDb('edge')
    remote = remoteDb(url, WRITER)
  })

  afterAll(async () => {
    await remote?.close().catch(() => undefined)
    await alice?.close().catch(() => undefined)
    await t?.alice.close().catch(() => undefined)
    await t?.bob.close().catch(() => undefined)
  })

  it('telemetry sync - forwarding cut by a server outage resumes: every reading exactly once on the server, the backlog kept meanwhile', async () => {
    await alice.ingest(boilerLines(400, 'before'))
    await alice.flush()
    expect(alice.head.seq).toBe(8)
    // The first device with admin rights installs the design doc (v2 covers batches).
    await forwardTelemetry(alice, remoteDb(url, ADMIN), { admin: true }).then(async (r) => {
      expect(r).toMatchObject({ batches: 8, readings: 400, forwardedSeq: 8, pending: 0, design: 'installed' })
    })
    // Offline: readings keep arriving and wait on disk.
    await couch.stop('SIGKILL')
    await alice.ingest(boilerLines(600, 'offline'))
    await alice.flush()
    expect(await codeOf(forwardTelemetry(alice, remote))).not.toBe('NO_ERROR')
    expect(alice.forwarded).toBe(8)
    await couch.start()
    // Kill the server again while a round is under way, once part of it has landed.
    const round = forwardTelemetry(alice, remote).catch((err: Error) => err)
    for (let i = 0; i < 200 && alice.forwarded === 8; i++) await new Promise((r) => setTimeout(r, 5))
    await couch.stop('SIGKILL')
    const cut = await round
    const markAtCut = alice.forwarded
    expect(markAtCut).toBeLessThan(alice.head.seq + 1)
    await couch.start()
    remote = remoteDb(url, WRITER)
    const resumed = await forwardTelemetry(alice, remote)
    expect(resumed.pending).toBe(0)
    expect(resumed.forwardedSeq).toBe(alice.head.seq)
    const counts = await serverReadings(url)
    expect(counts.size).toBe(1000)
    expect([...counts.values()].every((n) => n === 1)).toBe(true)
    expect(cut instanceof Error || cut.forwardedSeq <= alice.head.seq).toBe(true)
  })

  it('telemetry sync - a server that lost batches it had accepted gets them again', async () => {
    const path = new URL(url).pathname
    await couch.request('DELETE', path, undefined, ADMIN)
    await freshTelemetryDb('edge')
    const round = await forwardTelemetry(alice, remote)
    expect(round.resent).toMatch(/lacks batches 1-\d+ it had accepted/)
    expect((await serverReadings(url)).size).toBe(1000)
  })

  it('telemetry sync - a full budget is freed by forwarding: inputs wait, nothing is dropped, then they go on', async () => {
    let i = 0,
      admittedBeforeFull = 0
    for (;;) {
      const code = await codeOf(
        alice.ingest(boilerLines(50, `fill${i++}`)).then((r) => {
          admittedBeforeFull += r.admitted
        })
      )
      if (code === 'NO_ERROR') continue
      expect(code).toBe('BACKPRESSURE')
      await alice.flush() // sealing frees the WAL's share; full once the sealed backlog alone fills the budget
      if (alice.usage().full) break
    }
    expect(await codeOf(alice.ingest(boilerLines(1, 'refused')))).toBe('BACKPRESSURE')
    await forwardTelemetry(alice, remote)
    expect(alice.usage().full).toBe(false)
    expect((await alice.ingest(boilerLines(50, 'after-room'))).admitted).toBe(50)
    await alice.flush()
    await forwardTelemetry(alice, remote)
    expect((await serverReadings(url)).size).toBe(1000 + admittedBeforeFull + 50)
  })

  it('telemetry sync - a reviewer pulls batches through the gate: genuine ones admitted, forged or altered ones on the server quarantined with the reason', async () => {
    const path = new URL(url).pathname
    // A compromised server: the design doc removed, one batch rewritten in place, one planted by a stranger's key.
    await removeDesignDoc(couch, path)
    const victimId = (await alice.ownBatches(2, 1))[0]!._id
    const victim = await couch.request('GET', `${path}/${encodeURIComponent(victimId)}`, undefined, ADMIN)
    const readings = (victim.json.readings as string[]).slice()
    readings[0] = readings[0]!.replace(/"celsius":\d+/, '"celsius":-273')
    expect(
      (await couch.request('PUT', `${path}/${encodeURIComponent(victimId)}`, { ...victim.json, readings }, ADMIN))
        .status
    ).toBe(201)
    const stranger = nacl.sign.keyPair()
    const r: Reading = {
      id: 'planted',
      stream: 'boiler.temp',
      ts: new Date().toISOString(),
      schema: 1,
      values: { celsius: 1 }
    }
    const c = canonicalReading(r)
    const planted = sealBatch(
      {
        vault: t.alice.vaultId,
        device: toHex(stranger.publicKey),
        seq: 1,
        prev: null,
        sealedAt: r.ts,
        readings: [{ canonical: c, stream: r.stream, ts: r.ts, leaf: leafHashText(c) }]
      },
      (m) => nacl.sign.detached(m, stranger.secretKey)
    )
    expect(
      (await couch.request('PUT', `${path}/${encodeURIComponent(planted.doc._id)}`, planted.doc, ADMIN)).status
    ).toBe(201)

    const bob = await TelemetryStore.open(t.bob)
    const reviewerDb = remoteDb(url, REVIEWER)
    try {
      const pulled = await pullTelemetry(bob, reviewerDb, url)
      expect(pulled.quarantined).toBe(1 + 1)
      const reasons = (await bob.quarantine()).map((q) => `${q.receipt.code}: ${q.receipt.reason}`)
      expect(reasons).toEqual(
        expect.arrayContaining([
          'TAMPERED: readings do not match the signed Merkle root',
          expect.stringMatching(/^NOT_A_MEMBER: batch signed by [0-9a-f]{12}…, which is no member's device key$/)
        ])
      )
      // Batches after the rewritten one wait for it: they are not admitted out of their chain.
      expect(pulled.admitted).toBe(2)
      expect(pulled.waiting).toBeGreaterThan(0)
      expect((await bob.verifyAll()).problems).toEqual([])
      // Alice's own copy is untouched; a second pull changes nothing.
      expect((await alice.verifyAll()).problems).toEqual([])
      const again = await pullTelemetry(bob, reviewerDb, url)
      expect(again.admitted).toBe(0)
    } finally {
      await reviewerDb.close()
      await bob.close()
    }
  })
})

describe('telemetry pull against a server that holds two revisions of a batch', () => {
  it('telemetry sync - a forged leaf of a batch, chosen to win PouchDB pick, is quarantined and the true batch beside it is still admitted', async () => {
    const t = await streamingVaults({ settings: { telemetryBatchMax: 50 } })
    const alice = await TelemetryStore.open(t.alice)
    const bob = await TelemetryStore.open(t.bob)
    const url = await freshTelemetryDb('leaves')
    const reviewerDb = remoteDb(url, REVIEWER)
    try {
      await alice.ingest(boilerLines(100, 'leaf'))
      await alice.flush()
      expect((await forwardTelemetry(alice, remoteDb(url, ADMIN), { admin: true })).batches).toBe(2)
      // the operator removes the write-once rule and adds a second leaf of batch 1, one reading changed, whose
      // revision PouchDB shows first
      const path = new URL(url).pathname
      await removeDesignDoc(couch, path)
      const id = (await alice.ownBatches(0, 1))[0]!._id
      const honest = await couch.request('GET', `${path}/${encodeURIComponent(id)}`, undefined, ADMIN)
      const readings = (honest.json.readings as string[]).slice()
      readings[0] = readings[0]!.replace(/"celsius":\d+/, '"celsius":-273')
      const leaf = { ...honest.json, _rev: `1-${'f'.repeat(32)}`, readings }
      expect(
        (await couch.request('POST', `${path}/_bulk_docs`, { docs: [leaf], new_edits: false }, ADMIN)).status
      ).toBe(201)
      expect((await couch.request('GET', `${path}/${encodeURIComponent(id)}`, undefined, ADMIN)).json._rev).toBe(
        leaf._rev
      )
      const pulled = await pullTelemetry(bob, reviewerDb, url)
      expect(pulled).toMatchObject({ admitted: 2, quarantined: 1, waiting: 0 })
      expect((await bob.quarantine()).map((q) => q.receipt.code)).toEqual(['TAMPERED'])
      expect((await bob.verifyAll()).problems).toEqual([])
      expect((await pullTelemetry(bob, reviewerDb, url)).admitted).toBe(0)
    } finally {
      await reviewerDb.close()
      await bob.close()
      await alice.close()
      for (const v of [t.alice, t.bob]) await v.close()
    }
  })
})
