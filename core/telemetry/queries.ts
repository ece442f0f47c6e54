/**
 * The read side of the telemetry store: per-stream metering, a stream's
 * readings, the quarantine and the check of every batch held. It sees the
 * store only through a narrow view (its database, the batch index, the
 * readings not sealed yet, the clock and the vault's state), so it holds no
 * state of its own and cannot write.
 */
import { dict, own as ownKey } from '../dict.js'
import type { Db, Doc } from '../pouch.js'
import { BAD_ARGUMENT, TAMPERED } from '../errors.js'
import { everKeys } from '../governance/state.js'
import type { Vault } from '../vault.js'
import { telemetryPolicy, type Reading, type Receipt } from './reading.js'
import { batchId, checkBatch, type BatchDoc } from './batch.js'
import type { BatchMeta, FieldStats, QuarantineEntry, StreamMeter } from './types.js'

const MAX_TS_MS = Date.parse('9999-12-31T23:59:59.999Z')

/** What the reader sees of the store. */
export interface TelemetryView {
  db: Db
  metas(): BatchMeta[]
  meta(id: string): BatchMeta | undefined
  /** Admitted readings not sealed into a batch yet. */
  open(): readonly { canonical: string; stream: string; ts: string }[]
  now(): number
  vault: Pick<Vault, 'vaultId' | 'state'>
}

export class TelemetryReader {
  constructor(private readonly view: TelemetryView) {}

  private get db(): Db {
    return this.view.db
  }
  private get now(): () => number {
    return this.view.now
  }
  private get policy() {
    return telemetryPolicy(this.view.vault.state.settings)
  }
  private batchMetas(): BatchMeta[] {
    return this.view.metas()
  }
  private get open() {
    return this.view.open()
  }
  private get vault() {
    return this.view.vault
  }

  async docs(ids: string[]): Promise<BatchDoc[]> {
    const out: BatchDoc[] = []
    for (let i = 0; i < ids.length; i += 20) {
      const res = await this.db.allDocs({ keys: ids.slice(i, i + 20), include_docs: true })
      for (const row of res.rows) if (row.doc) out.push(row.doc as unknown as BatchDoc)
    }
    return out
  }

  /** Readings of the batches that may hold readings of `stream` in [fromMs, toMs], plus the unsealed ones. */
  private async *readingsOf(
    stream: string | null,
    fromMs: number,
    toMs: number
  ): AsyncGenerator<{ reading: Reading; order: string }> {
    const from = new Date(fromMs).toISOString(),
      to = new Date(toMs).toISOString()
    const ids = this.batchMetas()
      .filter((m) => (stream === null || (ownKey(m.streams, stream) ?? 0) > 0) && m.lastTs >= from && m.firstTs <= to)
      .map((m) => m.id)
    for (let i = 0; i < ids.length; i += 20) {
      for (const doc of await this.docs(ids.slice(i, i + 20))) {
        for (const [k, text] of doc.readings.entries()) {
          const reading = JSON.parse(text) as Reading
          if ((stream === null || reading.stream === stream) && reading.ts >= from && reading.ts <= to)
            yield { reading, order: `${doc._id}!${String(k).padStart(5, '0')}` }
        }
      }
    }
    for (const [k, p] of this.open.entries()) {
      if ((stream === null || p.stream === stream) && p.ts >= from && p.ts <= to)
        yield { reading: JSON.parse(p.canonical) as Reading, order: `~open!${String(k).padStart(5, '0')}` }
    }
  }

  /**
   * Per-stream metering: totals held, and over the last `windowMs` (by reading timestamp): count, rate, min/max/mean
   * per numeric field, last values, receipts by decision.
   */
  async streams(windowMs = 15 * 60_000): Promise<StreamMeter[]> {
    const now = this.now(),
      start = now - windowMs
    const out = new Map<string, StreamMeter>()
    const meter = (stream: string) => {
      let m = out.get(stream)
      if (!m)
        out.set(
          stream,
          (m = {
            stream,
            total: 0,
            window: {
              ms: windowMs,
              count: 0,
              rate: 0,
              firstTs: null,
              lastTs: null,
              fields: dict<FieldStats>(),
              last: null,
              receipts: { ADMIT: 0, DUPLICATE: 0, QUARANTINE: 0 }
            }
          })
        )
      return m
    }
    for (const e of this.vault.state.registers.streams as { stream: string }[]) meter(e.stream)
    for (const m of this.batchMetas()) for (const [s, n] of Object.entries(m.streams)) meter(s).total += n
    for (const p of this.open) meter(p.stream).total++
    // Readings up to the policy's clock skew ahead of now belong to the current window too.
    for await (const { reading } of this.readingsOf(null, start, now + this.policy.maxFutureMs)) {
      const w = meter(reading.stream).window
      w.count++
      w.receipts.ADMIT++
      if (w.firstTs === null || reading.ts < w.firstTs) w.firstTs = reading.ts
      if (w.lastTs === null || reading.ts >= w.lastTs) {
        w.lastTs = reading.ts
        w.last = reading.values
      }
      for (const [name, v] of Object.entries(reading.values)) {
        if (typeof v !== 'number') continue
        const f = ownKey(w.fields, name) ?? (w.fields[name] = { n: 0, min: v, max: v, mean: 0 })
        f.n++
        f.min = Math.min(f.min, v)
        f.max = Math.max(f.max, v)
        f.mean += (v - f.mean) / f.n
      }
    }
    const startIso = new Date(start).toISOString()
    for (const prefix of ['tq!', 'td!']) {
      const res = await this.db.allDocs({ startkey: prefix + startIso, endkey: prefix + '\uffff', include_docs: true })
      for (const row of res.rows) {
        const doc = row.doc as Doc
        // Refused input counts against a stream this vault knows; junk naming no stream, or one nobody registered,
        // is listed in the quarantine only (a flood of made-up names must not become rows here).
        if (prefix === 'tq!') {
          const named = (doc.receipt as Receipt).stream
          if (named !== null && out.has(named)) out.get(named)!.window.receipts.QUARANTINE++
        } else for (const d of doc.duplicates as { stream: string }[]) meter(d.stream).window.receipts.DUPLICATE++
      }
    }
    for (const m of out.values()) m.window.rate = m.window.count / (windowMs / 1000)
    return [...out.values()].sort((a, b) => a.stream.localeCompare(b.stream))
  }

  /** A stream's readings in timestamp order (ties in the order they were sealed), optionally within [from, to]. */
  async streamReadings(stream: string, range: { from?: string; to?: string } = {}): Promise<Reading[]> {
    const fromMs = range.from ? Date.parse(range.from) : 0
    const toMs = range.to ? Date.parse(range.to) : MAX_TS_MS
    if (!Number.isFinite(fromMs) || !Number.isFinite(toMs)) throw BAD_ARGUMENT('from and to must be UTC timestamps')
    const all: { reading: Reading; order: string }[] = []
    for await (const r of this.readingsOf(stream, fromMs, toMs)) all.push(r)
    all.sort((a, b) =>
      a.reading.ts < b.reading.ts ? -1 : a.reading.ts > b.reading.ts ? 1 : a.order < b.order ? -1 : 1
    )
    return all.map((r) => r.reading)
  }

  /** Quarantined input, newest first. */
  async quarantine(limit = 100): Promise<QuarantineEntry[]> {
    const res = await this.db.allDocs({
      startkey: 'tq!\uffff',
      endkey: 'tq!',
      descending: true,
      include_docs: true,
      limit
    })
    return res.rows.map((r) => {
      const d = r.doc as Doc
      return {
        id: d._id,
        receivedAt: String(d.receivedAt),
        source: String(d.source),
        receipt: d.receipt as Receipt,
        raw: String(d.raw),
        size: Number(d.size),
        truncated: d.truncated === true
      }
    })
  }

  /** Check every batch held (signatures, roots, chains): the telemetry part of a full check. */
  async verifyAll(): Promise<{ batches: number; readings: number; problems: { id: string; reason: string }[] }> {
    const keys = everKeys(this.vault.state)
    const problems: { id: string; reason: string }[] = []
    let batches = 0,
      readings = 0
    const metas = this.batchMetas()
    for (let i = 0; i < metas.length; i += 20) {
      for (const doc of await this.docs(metas.slice(i, i + 20).map((m) => m.id))) {
        try {
          const { header, hash } = checkBatch(doc, this.vault.vaultId, keys)
          if (hash !== this.view.meta(doc._id)?.hash)
            throw TAMPERED('batch differs from the one indexed when it was stored')
          if (header.seq > 1 && this.view.meta(batchId(header.device, header.seq - 1))?.hash !== header.prev)
            throw TAMPERED("batch does not continue its device's chain")
          batches++
          readings += header.count
        } catch (err) {
          problems.push({ id: doc._id, reason: (err as Error).message })
        }
      }
    }
    return { batches, readings, problems }
  }
}
