import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import fc from 'fast-check'
import { Vault } from '../core/vault.js'
import { TelemetryStore, TELEMETRY_DIR } from '../core/telemetry/store.js'
import { canonicalReading, type Reading } from '../core/telemetry/reading.js'
import { checkBatch, verifyReadingProof, type BatchDoc } from '../core/telemetry/batch.js'
import { replayTimed } from '../core/telemetry/replay.js'
import { FingerprintSet, fingerprint } from '../core/telemetry/fingerprints.js'
import { JudgePool, judgeLines } from '../core/telemetry/judge-pool.js'
import { VaultError } from '../core/errors.js'
import { canonicalize } from '../core/canonical.js'
import { everKeys } from '../core/governance/state.js'
import { signDetached, generateKeyPair } from '../core/ed25519.js'
import { toHex } from '../core/bytes.js'
import { createHandlers } from '../core/api.js'
import { cleanupDirs, codeOf, PASS, withRawDb } from './helpers.js'
import { BOILER, boilerLines, streamingVaults, type StreamingVaults } from './support/telemetry-vault.js'

const line = (r: Partial<Reading> & Record<string, unknown>) =>
  JSON.stringify({ stream: 'boiler.temp', schema: 1, ts: new Date().toISOString(), values: { celsius: 70 }, ...r })

describe('telemetry store', () => {
  let t: StreamingVaults
  let store: TelemetryStore
  beforeAll(async () => {
    t = await streamingVaults({
      streams: [BOILER, { stream: 'line.count', version: 1, fields: { items: 'integer', ok: 'boolean' } }]
    })
    store = await TelemetryStore.open(t.alice)
  })
  afterAll(async () => {
    await store.close().catch(() => undefined)
    await t.alice.close().catch(() => undefined)
    await t.bob.close().catch(() => undefined)
    await cleanupDirs()
  })

  it('telemetry - readings are admitted, sealed into a signed batch, and each one proves in its batch', async () => {
    const r = await store.ingest(boilerLines(25, 'seal'))
    expect(r).toMatchObject({ admitted: 25, duplicates: 0, quarantined: 0 })
    expect(r.receipts.every((x) => x.decision === 'ADMIT')).toBe(true)
    await store.flush()
    const keys = everKeys(t.alice.state)
    for (const id of ['seal-0', 'seal-13', 'seal-24']) {
      const proof = await store.prove('boiler.temp', id)
      expect(JSON.parse(proof.reading).id).toBe(id)
      expect(verifyReadingProof(proof, t.alice.vaultId, keys).device).toBe(t.alice.device)
      const forged = { ...proof, reading: proof.reading.replace('"celsius":', '"celsius":1') }
      expect(() => verifyReadingProof(forged, t.alice.vaultId, keys)).toThrow(/not in the batch/)
      expect(() =>
        verifyReadingProof(
          proof,
          t.bob.vaultId.replace(/^./, (c) => (c === '0' ? '1' : '0')),
          keys
        )
      ).toThrow(/another vault/)
    }
    expect((await store.verifyAll()).problems).toEqual([])
  })

  it('telemetry - malformed, oversized, wrong-schema and out-of-policy readings are quarantined with their reason and kept; the rest of the input is admitted', async () => {
    const now = Date.now()
    const input = [
      line({ id: 'good-1' }),
      '{"id": "broken",',
      'x'.repeat(5000),
      line({ id: 'wrong-field', values: { fahrenheit: 150 } }),
      line({ id: 'wrong-type', values: { celsius: 'hot' } }),
      line({ id: 'missing-field', values: { pressure: 1.2 } }),
      line({ id: 'no-schema', schema: 7 }),
      line({ id: 'no-stream', stream: 'unknown.stream' }),
      line({ id: 'future', ts: new Date(now + 3_600_000).toISOString() }),
      line({ id: 'ancient', ts: '2001-01-01T00:00:00.000Z' }),
      line({ id: 'bad-date', ts: '2026-02-30T10:00:00.000Z' }),
      line({ id: 'extra', extra: 1 }),
      '',
      line({ id: 'good-2', stream: 'line.count', values: { items: 3, ok: true } })
    ]
    const r = await store.ingest(input.join('\n'))
    const by = Object.fromEntries(
      r.receipts.map((x) => [x.id ?? `#${x.index}`, `${x.decision} ${x.code ?? ''} ${x.reason ?? ''}`.trim()])
    )
    expect(by['good-1']).toBe('ADMIT')
    expect(by['good-2']).toBe('ADMIT')
    expect(by['#1']).toMatch(/^QUARANTINE MALFORMED not a JSON reading/)
    expect(by['#2']).toMatch(/^QUARANTINE OVERSIZED reading is 5000 bytes; the policy allows 4096/)
    expect(by['wrong-field']).toMatch(/^QUARANTINE SCHEMA_MISMATCH field fahrenheit is not in schema boiler.temp:1/)
    expect(by['wrong-type']).toMatch(/^QUARANTINE SCHEMA_MISMATCH field celsius must be a number/)
    expect(by['missing-field']).toMatch(/^QUARANTINE SCHEMA_MISMATCH field celsius is required/)
    expect(by['no-schema']).toMatch(/^QUARANTINE SCHEMA_MISMATCH stream boiler.temp has no registered schema version 7/)
    expect(by['no-stream']).toMatch(/^QUARANTINE SCHEMA_MISMATCH stream unknown.stream/)
    expect(by.future).toMatch(/^QUARANTINE TIMESTAMP_OUT_OF_POLICY .* ahead of this device's clock/)
    expect(by.ancient).toMatch(/^QUARANTINE TIMESTAMP_OUT_OF_POLICY .* older than/)
    expect(by['bad-date']).toMatch(/^QUARANTINE MALFORMED ts .* is not a real date/)
    expect(by.extra).toMatch(/^QUARANTINE MALFORMED unknown field extra/)
    expect(r).toMatchObject({ admitted: 2, duplicates: 0, quarantined: 11 })
    expect(r.receipts.map((x) => x.index)).not.toContain(12) // the empty line is no reading
    const kept = await store.quarantine()
    expect(kept.find((q) => q.receipt.id === 'wrong-type')?.raw).toBe(input[4])
    const big = kept.find((q) => q.receipt.code === 'OVERSIZED')!
    expect(big).toMatchObject({ size: 5000, truncated: true })
    expect(big.raw).toHaveLength(512)
  })

  it('telemetry - a producer id seen before is a DUPLICATE: within one input, while unsealed, after sealing, and after a restart', async () => {
    const first = await store.ingest([line({ id: 'dup-a' }), line({ id: 'dup-a', values: { celsius: 99 } })])
    expect(first.receipts.map((r) => r.decision)).toEqual(['ADMIT', 'DUPLICATE'])
    expect(first.receipts[1]!.reason).toMatch(/already admitted on boiler.temp \(not yet sealed\)/)
    await store.flush()
    const again = await store.ingest([line({ id: 'dup-a' })])
    expect(again.receipts[0]).toMatchObject({ decision: 'DUPLICATE', reason: expect.stringMatching(/\(batch \d+\)/) })
    // The same id on another stream is another reading.
    expect(
      (await store.ingest([line({ id: 'dup-a', stream: 'line.count', values: { items: 1, ok: false } })])).admitted
    ).toBe(1)
    await store.close()
    await t.alice.close()
    t.alice = await Vault.open({ dir: t.alice.dir })
    await t.alice.unlock(PASS)
    store = await TelemetryStore.open(t.alice)
    expect(store.fingerprintSource).toBe('snapshot') // the table the clean close left, not a scan
    const afterRestart = await store.ingest([
      line({ id: 'dup-a' }),
      line({ id: 'seal-3' }),
      line({ id: 'fresh-after-restart' })
    ])
    expect(afterRestart.receipts.map((r) => r.decision)).toEqual(['DUPLICATE', 'DUPLICATE', 'ADMIT'])
    // A snapshot that does not match its digest is ignored: the table is rebuilt from the index, duplicates still
    // found.
    await store.close()
    const snap = join(t.alice.dir, TELEMETRY_DIR, 'fingerprints.snap')
    const bytes = await readFile(snap)
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff
    await writeFile(snap, bytes)
    store = await TelemetryStore.open(t.alice)
    expect(store.fingerprintSource).toBe('index')
    expect((await store.ingest([line({ id: 'fresh-after-restart' })])).duplicates).toBe(1)
    const meters = await store.streams(3_600_000)
    const boiler = meters.find((m) => m.stream === 'boiler.temp')!
    expect(boiler.window.receipts.DUPLICATE).toBeGreaterThanOrEqual(4)
  })

  it('telemetry - readings acknowledged while the key is locked wait in the WAL and are sealed after the next unlocked open', async () => {
    t.alice.lock()
    const r = await store.ingest(boilerLines(40, 'locked'))
    expect(r.admitted).toBe(40)
    const sealedBefore = store.head.seq
    await store.close() // cannot seal: locked
    expect(store.head.seq).toBe(sealedBefore)
    const wal = await readdir(join(t.alice.dir, TELEMETRY_DIR, 'wal'))
    expect(wal.length).toBeGreaterThan(0)
    await t.alice.unlock(PASS)
    store = await TelemetryStore.open(t.alice)
    expect(store.head.seq).toBe(sealedBefore + 1)
    const ids = (await store.streamReadings('boiler.temp')).map((x) => x.id)
    for (let i = 0; i < 40; i++) expect(ids).toContain(`locked-${i}`)
    expect((await store.ingest(boilerLines(3, 'locked'))).duplicates).toBe(3)
  })

  it('telemetry - readings waiting to be sealed are bounded in memory: past the budget intake waits for the sealing, and with the key locked it is refused with BACKPRESSURE, nothing taken', async () => {
    const s = await streamingVaults()
    const bounded = await TelemetryStore.open(s.alice, { unsealedBudget: 20_000 }) // about 180 readings
    try {
      let most = 0
      for (let k = 0; k < 20; k++) {
        expect((await bounded.ingest(boilerLines(200, `bound${k}`))).admitted).toBe(200)
        most = Math.max(most, bounded.usage().unsealed)
      }
      // without the bound all 4,000 would wait for the 1 s batch timer; with it, at most the budget and one input
      expect(most).toBeLessThanOrEqual(400)
      await bounded.flush()
      s.alice.lock()
      expect((await bounded.ingest(boilerLines(200, 'locked-a'))).admitted).toBe(200)
      const err = await bounded.ingest(boilerLines(200, 'locked-b')).catch((e: Error & { code?: string }) => e)
      expect(err).toMatchObject({ code: 'BACKPRESSURE' })
      expect((err as Error).message).toMatch(/device key is locked/)
      // an input that blocks instead of refusing (tresor ingest, MQTT) waits, not spins, while the key stays locked
      const t0 = Date.now()
      await bounded.waitForRoom(300)
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250)
      await s.alice.unlock(PASS)
      expect((await bounded.ingest(boilerLines(200, 'locked-b'))).admitted).toBe(200) // nothing was taken before
      await bounded.flush()
      const ids = new Set((await bounded.streamReadings('boiler.temp')).map((x) => x.id))
      expect(ids.size).toBe(4400)
    } finally {
      await bounded.close()
      await s.alice.close()
      await s.bob.close()
    }
  })

  it('telemetry - metering gives totals, rate, min/max/mean, last values and receipts per stream over a window', async () => {
    const now = Date.now()
    const lines = [10, 30, 20].map((c, i) =>
      line({
        id: `meter-${i}`,
        stream: 'line.count',
        ts: new Date(now + 1000 + i * 1000).toISOString(),
        values: { items: c, ok: i !== 1 }
      })
    )
    await store.ingest(lines)
    const meters = await store.streams(60_000)
    const m = meters.find((x) => x.stream === 'line.count')!
    // line.count holds good-2 (3 items) and dup-a (1) from the tests above, and these three.
    expect(m.window.fields.items).toEqual({ n: 5, min: 1, max: 30, mean: 12.8 })
    expect(m.window.last).toEqual({ items: 20, ok: true })
    expect(m.window).toMatchObject({ count: 5, receipts: { ADMIT: 5, DUPLICATE: 0, QUARANTINE: 0 } })
    expect(m.window.rate).toBeCloseTo(5 / 60, 6)
    expect(m.total).toBe(5)
    const boiler = meters.find((x) => x.stream === 'boiler.temp')!
    expect(boiler.window.receipts.QUARANTINE).toBeGreaterThanOrEqual(8)
    // Through core's typed API, as every host sees it.
    const api = createHandlers(t.alice, { telemetry: store })
    // Quarantined lines count under a stream the vault knows; junk naming none, or an unregistered one, is listed in
    // the quarantine only: made-up names never become stream rows.
    expect((await api['telemetry.streams']({ windowMs: 60_000 })).map((x) => x.stream)).toEqual([
      'boiler.temp',
      'line.count'
    ])
    expect((await store.quarantine(500)).some((q) => q.receipt.stream === 'unknown.stream')).toBe(true)
    expect(
      (await api['telemetry.readings']({ stream: 'line.count', limit: 2 })).readings.map((x) => x.values.items)
    ).toEqual([30, 20])
    expect(await codeOf(api['telemetry.readings']({} as never))).toBe('BAD_ARGUMENT')
    expect(await codeOf(createHandlers(t.alice)['telemetry.status']({}))).toBe('NOT_FOUND')
  })

  it('telemetry - replay keeps timestamp order and divides the gaps by the speed-up factor', async () => {
    const base = Date.now() - 60_000
    // Ingested out of order: replay orders by timestamp.
    await store.ingest(
      [4000, 0, 1000, 3000].map((dt, i) =>
        line({
          id: `replay-${i}`,
          stream: 'line.count',
          ts: new Date(base + dt).toISOString(),
          values: { items: dt, ok: true }
        })
      )
    )
    const readings = await store.streamReadings('line.count', {
      from: new Date(base).toISOString(),
      to: new Date(base + 5000).toISOString()
    })
    expect(readings.map((r) => r.values.items)).toEqual([0, 1000, 3000, 4000])
    const sleeps: number[] = []
    const out: Reading[] = []
    for await (const r of replayTimed(readings, 10, async (ms) => {
      sleeps.push(ms)
    }))
      out.push(r)
    expect(out).toEqual(readings)
    expect(sleeps).toEqual([100, 200, 100])
  })

  it('telemetry - a batch altered or forged anywhere is refused by the gate with the reason', async () => {
    await store.flush()
    const [held] = await store.ownBatches(0, 1)
    const keys = everKeys(t.alice.state)
    const doc = held! as BatchDoc
    expect(checkBatch(doc, t.alice.vaultId, keys).header.seq).toBe(1)
    const mutate = (f: (d: BatchDoc) => void) => {
      const d = structuredClone(doc)
      f(d)
      return d
    }
    const altered = mutate((d) => {
      d.readings[0] = d.readings[0]!.replace(/"celsius":\d+/, '"celsius":-1')
    })
    const dropped = mutate((d) => {
      d.readings.pop()
    })
    const badSig = mutate((d) => {
      d.sig = d.sig.replace(/^./, (c) => (c === '0' ? '1' : '0'))
    })
    const stranger = generateKeyPair()
    const strangerHeader = doc.header.replaceAll(t.alice.device, toHex(stranger.publicKey))
    const foreign = mutate((d) => {
      d._id = d._id.replace(t.alice.device, toHex(stranger.publicKey))
      d.header = strangerHeader
      d.sig = toHex(
        signDetached(
          stranger.secretKey,
          Buffer.concat([Buffer.from(`tresor/v1/telemetry-batch/${t.alice.vaultId}\n`), Buffer.from(strangerHeader)])
        )
      )
    })
    const misplaced = mutate((d) => {
      d._id = d._id.replace(/\d{12}$/, '000000000777')
    })
    expect(() => checkBatch(altered, t.alice.vaultId, keys)).toThrow(/do not match the signed Merkle root/)
    expect(() => checkBatch(dropped, t.alice.vaultId, keys)).toThrow(/holds \d+ readings; its signed header says/)
    expect(() => checkBatch(badSig, t.alice.vaultId, keys)).toThrow(/signature does not verify/)
    expect(() => checkBatch(foreign, t.alice.vaultId, keys)).toThrow(/no member's device key/)
    expect(() => checkBatch(misplaced, t.alice.vaultId, keys)).toThrow(/is stored under/)
    expect(() => checkBatch('{}', t.alice.vaultId, keys)).toThrow(/header, sig and readings/)
    // Bob's store: the real batch is admitted, every forgery quarantined and kept, and a replay is a duplicate.
    const bobStore = await TelemetryStore.open(t.bob)
    try {
      const verdicts = await bobStore.admitBatches([altered, badSig, foreign, misplaced, doc, doc, { _id: 'tb!junk' }])
      expect(verdicts.map((v) => `${v.decision} ${v.code ?? ''}`.trim()).sort()).toEqual([
        'ADMIT',
        'DUPLICATE',
        'QUARANTINE BAD_SIGNATURE',
        'QUARANTINE MALFORMED',
        'QUARANTINE MISPLACED',
        'QUARANTINE NOT_A_MEMBER',
        'QUARANTINE TAMPERED'
      ])
      expect((await bobStore.quarantine()).length).toBe(5)
      expect((await bobStore.streamReadings('boiler.temp')).length).toBe(doc.readings.length)
      // Alice's own chain cannot be extended by anyone else: a batch in her feed she did not seal is a fork.
      expect((await store.admitBatches([altered]))[0]!.decision).toBe('QUARANTINE')
    } finally {
      await bobStore.close()
    }
  })

  it("telemetry - a batch rewritten behind the store's back fails the telemetry check", async () => {
    await store.close()
    await t.alice.close()
    const { openDb } = await import('../core/pouch.js')
    const db = openDb(join(t.alice.dir, TELEMETRY_DIR, 'telemetry.db'))
    const all = await db.allDocs({ startkey: 'tb!', endkey: 'tb!\uffff', include_docs: true, limit: 1 })
    const doc = all.rows[0]!.doc as unknown as BatchDoc
    doc.readings[0] = doc.readings[0]!.replace(/"celsius":\d+/, '"celsius":-40')
    await db.put(doc as never)
    await db.close()
    t.alice = await Vault.open({ dir: t.alice.dir })
    await t.alice.unlock(PASS)
    store = await TelemetryStore.open(t.alice)
    const check = await store.verifyAll()
    expect(check.problems).toEqual([{ id: doc._id, reason: 'readings do not match the signed Merkle root' }])
  })

  it('telemetry - the typed reading encoder matches the general canonical encoder', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 20 }),
        fc.integer({ min: 1, max: 9 }),
        fc.dictionary(
          fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9_]{0,8}$/),
          fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.boolean(), fc.string())
        ),
        (id, schema, values) => {
          const r: Reading = { id, stream: 's.x', ts: '2026-11-22T04:00:00.000Z', schema, values }
          expect(canonicalReading(r)).toBe(canonicalize(r))
        }
      )
    )
  })

  it('telemetry - a judge job that throws in the worker fails with its message, and the worker judges the next one', async () => {
    const pool = new JudgePool(true)
    const policy = {
      batchMax: 100,
      batchMs: 1000,
      budgetBytes: 1 << 20,
      maxReadingBytes: 4096,
      maxFutureMs: 0,
      maxAgeMs: 0
    }
    const lines = Array.from({ length: 64 }, () => 'not json')
    try {
      // Schemas that are not a list: judgeLines throws before it looks at a line.
      const task = { lines, schemas: 42 as never, policy, nowMs: 0 }
      const inline = (() => {
        try {
          judgeLines(task)
        } catch (err) {
          return (err as Error).message
        }
      })()
      const err = (await pool.judge(task).catch((e: unknown) => e)) as VaultError
      expect(err).toBeInstanceOf(VaultError)
      expect({ code: err.code, message: err.message }).toEqual({ code: 'INTERNAL', message: inline })
      const out = await pool.judge({ lines, schemas: [], policy, nowMs: 0 })
      expect(out.lines).toHaveLength(64)
      expect(out.lines.every((l) => !l.ok)).toBe(true)
    } finally {
      await pool.close()
    }
  })

  it('telemetry - the fingerprint set never forgets a member across growth', () => {
    const set = new FingerprintSet(4)
    const keys = Array.from({ length: 20_000 }, (_, i) => `s\nid-${i}`)
    for (const k of keys) set.add(fingerprint(k))
    expect(keys.every((k) => set.has(fingerprint(k)))).toBe(true)
    expect(set.size).toBe(20_000)
    const misses = Array.from({ length: 20_000 }, (_, i) => `s\nother-${i}`).filter((k) =>
      set.has(fingerprint(k))
    ).length
    expect(misses).toBeLessThan(3)
  })
})

describe('telemetry policy and gates', () => {
  afterAll(cleanupDirs)

  it('telemetry - off until governance switches streaming_enabled on', async () => {
    const t = await streamingVaults({ enable: false })
    const store = await TelemetryStore.open(t.alice)
    try {
      expect(await codeOf(store.ingest([line({ id: 'x' })]))).toBe('DISABLED')
      await t.govern({ kind: 'flag.set', args: { flag: 'streaming_enabled', value: true } })
      await t.govern({ kind: 'register.append', args: { register: 'streams', entry: BOILER } })
      expect((await store.ingest([line({ id: 'x' })])).admitted).toBe(1)
    } finally {
      await store.close()
      await t.alice.close()
      await t.bob.close()
    }
  })

  it('telemetry - a full disk budget refuses input with BACKPRESSURE (nothing taken) while governance goes on; raising the budget by governance recovers', async () => {
    const t = await streamingVaults({ settings: { telemetryBudgetKB: 16, telemetryBatchMax: 50 } })
    const store = await TelemetryStore.open(t.alice)
    try {
      let admitted = 0,
        i = 0
      for (;;) {
        const code = await codeOf(
          store.ingest(boilerLines(50, `b${i++}`)).then((r) => {
            admitted += r.admitted
          })
        )
        if (code === 'BACKPRESSURE') break
        expect(code).toBe('NO_ERROR')
      }
      expect(store.usage()).toMatchObject({ full: true, budgetBytes: 16 * 1024 })
      expect(await codeOf(store.ingest([line({ id: 'refused' })]))).toBe('BACKPRESSURE')
      // Governance never waits on telemetry.
      await t.alice.append('audit.note', { text: 'still writable' })
      await t.govern({ kind: 'vault.settings', args: { settings: { telemetryBudgetKB: 1024 } } })
      expect(store.usage().full).toBe(false)
      expect((await store.ingest([line({ id: 'refused' })])).admitted).toBe(1)
      await store.flush()
      expect((await store.streamReadings('boiler.temp')).length).toBe(admitted + 1)
    } finally {
      await store.close()
      await t.alice.close()
      await t.bob.close()
    }
  })

  it('telemetry - a READ-ONLY vault takes no telemetry', async () => {
    const t = await streamingVaults()
    const note = await t.alice.append('audit.note', { text: 'tampered below' })
    const dir = t.alice.dir
    await t.alice.close()
    await withRawDb(dir, async (db) => {
      const d = await db.get(`ev!${note.event.author}!${String(note.event.seq).padStart(12, '0')}`)
      await db.put({ ...d, raw: String(d.raw).replace('tampered below', 'tampered BELOW') })
    })
    const v = await Vault.open({ dir, full: true })
    const store = await TelemetryStore.open(v)
    try {
      expect(v.health.state).toBe('read-only')
      expect(await codeOf(store.ingest([line({ id: 'x' })]))).toBe('READ_ONLY')
    } finally {
      await store.close()
      await v.close()
      await t.bob.close()
    }
  })
})

describe('telemetry names', () => {
  afterAll(cleanupDirs)

  it('telemetry - stream and field names are data: a stream called constructor with fields valueOf and toString meters and seals like any other; inherited names are not fields', async () => {
    const t = await streamingVaults({
      streams: [{ stream: 'constructor', version: 1, fields: { valueOf: 'number', toString: 'string?' } }]
    })
    const store = await TelemetryStore.open(t.alice)
    try {
      const now = Date.now()
      const ok = [1, 2, 3].map((v, i) =>
        JSON.stringify({
          id: `c-${i}`,
          stream: 'constructor',
          ts: new Date(now - 3000 + i * 1000).toISOString(),
          schema: 1,
          values: { valueOf: v, toString: 'x' }
        })
      )
      const inherited = ['constructor', 'hasOwnProperty', '__proto__'].map(
        (f, i) =>
          `{"id":"bad-${i}","stream":"constructor","ts":"${new Date(now).toISOString()}","schema":1,"values":{"valueOf":1,"${f}":1}}`
      )
      const r = await store.ingest([...ok, ...inherited])
      expect(r).toMatchObject({ admitted: 3, quarantined: 3 })
      expect(r.receipts.filter((x) => x.decision === 'QUARANTINE').map((x) => x.code)).toEqual([
        'SCHEMA_MISMATCH',
        'SCHEMA_MISMATCH',
        'SCHEMA_MISMATCH'
      ])
      await store.flush()
      const [meter] = (await store.streams(60_000)).filter((m) => m.stream === 'constructor')
      expect(meter).toMatchObject({
        total: 3,
        window: { count: 3, fields: { valueOf: { n: 3, min: 1, max: 3, mean: 2 } } }
      })
      const [batch] = store.batchMetas()
      expect(batch!.streams).toEqual({ constructor: 3 })
      expect((await store.verifyAll()).problems).toEqual([])
      expect(Object.keys(Object.prototype)).toEqual([])
    } finally {
      await store.close()
      await t.alice.close()
      await t.bob.close()
    }
  })
})
