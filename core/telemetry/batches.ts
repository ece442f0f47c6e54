/**
 * The batch store: signed batch documents `tb!<device>!<seq>` (write-once) in
 * telemetry.db, every device's, and beside them one raw meta line per batch
 * (`\xfftb\xff<device>\xff<seq>` → BatchMeta), so the store knows every batch
 * (~200 bytes in memory each) without reading it. Meta lines are rebuilt from
 * the documents if a crash fell between the two writes. This device's batches
 * form a chain: `head` is its last.
 */
import { rawBatch, rawRange, type Db, type Doc, type RawOp } from '../pouch.js'
import { parseCanonical } from '../canonical.js'
import { INTERNAL } from '../errors.js'
import { batchId, checkBatch, type BatchDoc, type BatchHeader } from './batch.js'
import { dedupKey, type Reading } from './reading.js'
import type { DedupIndex } from './dedup.js'
import type { BatchMeta } from './types.js'

const K_BATCH = '\xfftb\xff'
const RANGE_END = '\xff\xff'

const metaKey = (device: string, seq: number) => `${K_BATCH}${device}\xff${String(seq).padStart(12, '0')}`
const docBytes = (doc: BatchDoc) =>
  doc.header.length + doc.sig.length + doc.readings.reduce((n, r) => n + r.length + 3, 0) + 120

function metaLine(h: BatchHeader, hash: string, doc: BatchDoc): BatchMeta {
  return {
    id: batchId(h.device, h.seq),
    device: h.device,
    seq: h.seq,
    hash,
    sealedAt: h.sealedAt,
    firstTs: h.firstTs,
    lastTs: h.lastTs,
    count: h.count,
    bytes: docBytes(doc),
    streams: h.streams
  }
}

export class BatchStore {
  private readonly metas = new Map<string, BatchMeta>()
  private headSeq = 0
  private headHash: string | null = null

  constructor(
    private readonly db: Db,
    private readonly vaultId: string,
    private readonly device: string
  ) {}

  /** This device's last batch. */
  get head(): { seq: number; hash: string | null } {
    return { seq: this.headSeq, hash: this.headHash }
  }

  get(id: string): BatchMeta | undefined {
    return this.metas.get(id)
  }

  /** Every batch held (all devices), by device and seq. */
  all(): BatchMeta[] {
    return [...this.metas.values()].sort((a, b) => a.device.localeCompare(b.device) || a.seq - b.seq)
  }

  /** Bytes of this device's batches after `forwardedSeq` (not yet confirmed on the server). */
  ownBytesAfter(forwardedSeq: number): number {
    let n = 0
    for (const m of this.metas.values()) if (m.device === this.device && m.seq > forwardedSeq) n += m.bytes
    return n
  }

  /** Read every meta line; index this device's batches stored without theirs (their readings into `dedup` too). */
  async load(dedup: DedupIndex): Promise<void> {
    await this.db.info() // PouchDB opens LevelDB lazily; the raw reads below need it open
    for await (const page of rawRange(this.db, { gt: K_BATCH, lt: K_BATCH + RANGE_END })) {
      for (const [, v] of page) {
        const m = JSON.parse(v) as BatchMeta
        this.metas.set(m.id, m)
      }
    }
    const own = [...this.metas.values()].filter((m) => m.device === this.device)
    this.headSeq = own.reduce((n, m) => Math.max(n, m.seq), 0)
    for (;;) {
      const res = await this.db.allDocs({
        startkey: batchId(this.device, this.headSeq + 1),
        endkey: batchId(this.device, 999_999_999_999),
        include_docs: true,
        limit: 100
      })
      if (res.rows.length === 0) break
      for (const row of res.rows) {
        const { header, hash, doc } = checkBatch(row.doc, this.vaultId, new Set([this.device]))
        const keys = doc.readings.map((r) => {
          const reading = parseCanonical(r) as unknown as Reading
          return dedupKey(reading.stream, reading.id)
        })
        const meta = metaLine(header, hash, doc)
        await rawBatch(this.db, [...dedup.sealedOps(keys, header.seq), this.metaOp(meta)])
        this.metas.set(meta.id, meta)
        this.headSeq = header.seq
      }
    }
    if (this.headSeq > 0) this.headHash = this.metas.get(batchId(this.device, this.headSeq))?.hash ?? null
  }

  private metaOp(meta: BatchMeta): RawOp {
    return { type: 'put', key: metaKey(meta.device, meta.seq), value: JSON.stringify(meta) }
  }

  /**
   * Store this device's next batch with its index lines (`ops`: the dedup lines of its readings); it becomes the head.
   */
  async putOwn(doc: BatchDoc, header: BatchHeader, hash: string, ops: RawOp[]): Promise<BatchMeta> {
    const [res] = await this.db.bulkDocs([doc as unknown as Doc])
    if (res?.error) throw INTERNAL(`could not store batch ${header.seq}: ${String(res.reason ?? res.error)}`)
    const meta = metaLine(header, hash, doc)
    await rawBatch(this.db, [...ops, this.metaOp(meta)])
    this.headSeq = header.seq
    this.headHash = hash
    this.metas.set(meta.id, meta)
    return meta
  }

  /** Store a verified batch of another device (as a new document: the peer's revision means nothing here). */
  async putPeer(doc: BatchDoc, header: BatchHeader, hash: string): Promise<void> {
    const body: Doc = { _id: doc._id, header: doc.header, sig: doc.sig, readings: doc.readings }
    const [res] = await this.db.bulkDocs([body])
    if (res?.error) throw INTERNAL(`could not store batch ${doc._id.slice(0, 100)}: ${String(res.reason ?? res.error)}`)
    const meta = metaLine(header, hash, doc)
    await rawBatch(this.db, [this.metaOp(meta)])
    this.metas.set(meta.id, meta)
  }

  /** This device's batches after `afterSeq`, as stored (with their revisions), oldest first. */
  async ownDocs(afterSeq: number, limit: number): Promise<BatchDoc[]> {
    const res = await this.db.allDocs({
      startkey: batchId(this.device, afterSeq + 1),
      endkey: batchId(this.device, this.headSeq),
      include_docs: true,
      limit
    })
    return res.rows.map((r) => r.doc as unknown as BatchDoc)
  }
}
