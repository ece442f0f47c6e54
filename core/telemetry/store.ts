/**
 * The device's telemetry store: the one gate for readings, durable acks,
 * sealed signed batches, the disk budget and proofs. Its read side
 * (metering, readings, quarantine, checks) is `queries.ts`, over a narrow view.
 *
 * Layout under `<vault>/telemetry/`:
 *   wal/NNNNNNNN.wal  write-ahead segments (format tresor-telemetry-wal v1): one
 *                     canonical admitted reading per line, fdatasync'd before the
 *                     ack (group commit). A segment is deleted once every reading
 *                     in it is in a sealed batch made durable by a LevelDB barrier.
 *   telemetry.db      PouchDB (its own database: reviewers need not pull it):
 *                     batch documents `tb!<device>!<seq>` (write-once), quarantined
 *                     input `tq!<receivedAt>!…` and duplicate receipts `td!…`.
 *                     Beside PouchDB's data, in the same LevelDB, raw keys hold
 *                     the dedup index (stream + producer id → batch) and one meta
 *                     line per batch. Both are rebuilt from the batches if lost.
 *   forward.json      how far this device's batches are confirmed on the server.
 *
 * Governance never waits on telemetry: it has its own journal and database.
 */
import { own as ownKey } from '../dict.js'
import { mkdir, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createHash, randomBytes } from 'node:crypto'
import { Journal, journalHeader } from '../journal.js'
import { openDb, rawBatch, rawGet, rawGetMany, rawRange, syncBarrier, type Db, type Doc, type RawOp } from '../pouch.js'
import { parseCanonical, type Json } from '../canonical.js'
import { BACKPRESSURE, DISABLED, INTERNAL, NOT_FOUND, VaultError } from '../errors.js'
import { leafHashText, type Hash } from '../proofs/merkle.js'
import { everKeys } from '../governance/state.js'
import { readJsonFileIfExists, writeJsonFile } from '../files.js'
import type { Vault } from '../vault.js'

/**
 * What the telemetry store uses of the vault: who this device is, the
 * governed state (flag, schemas, policy), the READ-ONLY gate and the key's
 * signature over a batch header. Nothing else: it cannot append to the log.
 */
export type TelemetryVault = Pick<Vault, 'vaultId' | 'device' | 'dir' | 'state' | 'unlocked' | 'assertWritable' | 'signDetached'>
import { FingerprintSet, fingerprint } from './fingerprints.js'
import { JudgePool, type JudgeOutput } from './judge-pool.js'
import { dedupKey, streamSchemas, telemetryPolicy, type Decision, type Reading, type Receipt, type TelemetryPolicy } from './reading.js'
import { batchId, checkBatch, parseBatchId, proveReading, sealBatch, type BatchDoc, type BatchHeader, type ReadingProof } from './batch.js'
import { TelemetryReader } from './queries.js'
import type { BatchMeta, QuarantineEntry, StreamMeter } from './types.js'

export type { BatchMeta, FieldStats, QuarantineEntry, StreamMeter } from './types.js'

export const TELEMETRY_DIR = 'telemetry'
const WAL_DIR = 'wal'
const FORWARD_FILE = 'forward.json'
const SNAPSHOT_FILE = 'fingerprints.snap'
const WAL_HEADER = journalHeader('tresor-telemetry-wal', 1)
/** Start a new WAL segment past this size. */
const SEGMENT_BYTES = 8 << 20
const K_DEDUP = '\xfftd\xff'
const K_BATCH = '\xfftb\xff'
const K_QBYTES = '\xfftm\xffquarantine-bytes'
const K_QSEEN = '\xfftq\xff'
const RANGE_END = '\xff\xff'
/** The last instant whose ISO form has four year digits (ISO strings compare as text only within that range). */
/** The flag that gates the module. */
export const STREAMING_FLAG = 'streaming_enabled'

interface Pending { canonical: string; stream: string; ts: string; leaf: Hash; key: string; segment: Segment }
interface Segment { n: number; path: string; journal: Journal | null; bytes: number; pending: number; writing: number }
/** What this device knows of a batch without reading it (kept in memory: ~200 bytes per batch). */

export interface IngestResult { receipts: Receipt[]; admitted: number; duplicates: number; quarantined: number }
export interface Usage { usedBytes: number; budgetBytes: number; full: boolean; walBytes: number; unforwardedBytes: number; quarantineBytes: number; unsealed: number }
export interface AdmitVerdict { id: string; decision: Decision | 'WAIT'; code?: string; reason?: string }

function splitLines(text: string): string[] {
  const lines = text.split('\n')
  if (lines.at(-1) === '') lines.pop()
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l))
}

function metaLine(h: BatchHeader, hash: string, bytes: number): BatchMeta {
  return { id: batchId(h.device, h.seq), device: h.device, seq: h.seq, hash, sealedAt: h.sealedAt, firstTs: h.firstTs, lastTs: h.lastTs, count: h.count, bytes, streams: h.streams }
}

const metaKey = (device: string, seq: number) => `${K_BATCH}${device}\xff${String(seq).padStart(12, '0')}`
const docBytes = (doc: BatchDoc) => doc.header.length + doc.sig.length + doc.readings.reduce((n, r) => n + r.length + 3, 0) + 120

export class TelemetryStore {
  private fps = new FingerprintSet()
  /** Where the fingerprint table came from at open: the snapshot written at the last close, or a scan of the index. */
  fingerprintSource: 'snapshot' | 'index' = 'index'
  private readonly pendingKeys = new Set<string>()
  private open: Pending[] = []
  private openSince = 0
  private readonly segments = new Map<number, Segment>()
  private current!: Segment
  private readonly metas = new Map<string, BatchMeta>()
  private headSeq = 0
  private headHash: string | null = null
  private forwardedSeq = 0
  private unforwardedBytes = 0
  private quarantineBytes = 0
  private gate: Promise<unknown> = Promise.resolve()
  private sealing: Promise<void> | null = null
  private timer: NodeJS.Timeout | null = null
  private failure: Error | null = null
  private closed = false
  private readonly roomWaiters = new Set<() => void>()
  private readonly judges = new JudgePool()
  private readerCache: TelemetryReader | null = null
  /** WAL lines that did not parse on open (kept on disk as evidence, never applied). */
  walRejected = 0

  private constructor(readonly vault: TelemetryVault, readonly dir: string, readonly db: Db, private readonly now: () => number) {}

  static async open(vault: TelemetryVault, opts: { now?: () => number } = {}): Promise<TelemetryStore> {
    const dir = join(vault.dir, TELEMETRY_DIR)
    await mkdir(join(dir, WAL_DIR), { recursive: true, mode: 0o700 })
    const store = new TelemetryStore(vault, dir, openDb(join(dir, 'telemetry.db')), opts.now ?? Date.now)
    try {
      await store.load()
    } catch (err) {
      await store.db.close().catch(() => undefined) // closing after a failed open: the open error is what is thrown
      throw err
    }
    return store
  }

  get device(): string { return this.vault.device }
  get policy(): TelemetryPolicy { return telemetryPolicy(this.vault.state.settings) }
  get enabled(): boolean { return this.vault.state.flags[STREAMING_FLAG] === true }
  get forwarded(): number { return this.forwardedSeq }
  get head(): { seq: number; hash: string | null } { return { seq: this.headSeq, hash: this.headHash } }

  usage(): Usage {
    const walBytes = [...this.segments.values()].reduce((n, s) => n + s.bytes, 0)
    const usedBytes = walBytes + this.unforwardedBytes + this.quarantineBytes
    const budgetBytes = this.policy.budgetBytes
    return { usedBytes, budgetBytes, full: usedBytes >= budgetBytes, walBytes, unforwardedBytes: this.unforwardedBytes, quarantineBytes: this.quarantineBytes, unsealed: this.open.length }
  }

  /** Resolves when the budget has room again (or after `maxMs`). For inputs that block instead of refusing. */
  waitForRoom(maxMs = 1000): Promise<void> {
    if (!this.usage().full) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => { clearTimeout(t); this.roomWaiters.delete(done); resolve() }
      const t = setTimeout(done, maxMs)
      this.roomWaiters.add(done)
    })
  }

  private wakeRoomWaiters(): void {
    if (this.usage().full) return
    for (const w of [...this.roomWaiters]) w()
  }

  /**
   * Judge NDJSON input (text or lines) and make every admitted reading
   * durable before resolving: the receipts are the acknowledgement. Refused
   * as a whole (nothing taken) with DISABLED when streaming_enabled is off,
   * READ_ONLY when the vault failed its check, BACKPRESSURE when the disk
   * budget is full.
   */
  async ingest(input: string | string[], opts: { stream?: string; source?: string } = {}): Promise<IngestResult> {
    if (this.closed) throw INTERNAL('the telemetry store is closed')
    if (this.failure) throw this.failure
    if (!this.enabled) throw DISABLED(`telemetry is off: the ${STREAMING_FLAG} flag must be switched on by governance first`)
    this.vault.assertWritable('telemetry')
    const usage = this.usage()
    if (usage.full) throw BACKPRESSURE(`telemetry disk budget is full (${usage.usedBytes} of ${usage.budgetBytes} bytes waiting here): retry after forwarding frees room`)
    const lines = typeof input === 'string' ? splitLines(input) : input
    const policy = this.policy
    const judged = await this.judges.judge({ lines, schemas: [...streamSchemas(this.vault.state)], policy, nowMs: this.now(), defaultStream: opts.stream })
    const run = this.gate.then(() => this.decide(lines, judged, policy, opts.source ?? 'api'))
    this.gate = run.catch(() => undefined) // the gate only orders calls; each caller gets its own result or error from `run`
    const { result, writes, admitted } = await run
    try {
      await Promise.all(writes)
    } catch (err) {
      this.failure = err as Error
      throw err
    }
    for (const p of admitted) p.segment.writing--
    if (admitted.length > 0) {
      if (this.open.length === 0) this.openSince = this.now()
      for (const p of admitted) this.open.push(p)
      this.scheduleSeal()
    }
    return result
  }

  /** In input order, after judging: deduplicate, write the admitted readings to the WAL, record the rest. */
  private async decide(lines: string[], out: JudgeOutput, policy: TelemetryPolicy, source: string) {
    const receivedAt = new Date(this.now()).toISOString()
    const confirm: string[] = []
    for (const j of out.lines) if (j.ok && !this.pendingKeys.has(j.key) && this.fps.has(j.fp)) confirm.push(j.key)
    const sealedIn = new Map<string, number>()
    const found = await rawGetMany(this.db, confirm.map((k) => K_DEDUP + k))
    for (const [i, v] of found.entries()) if (v !== null) sealedIn.set(confirm[i]!, Number(v))
    const segmentLimit = this.segmentLimit()
    const receipts: Receipt[] = []
    const admitted: Pending[] = []
    const quarantined: Doc[] = []
    const duplicates: { stream: string; id: string; reason: string }[] = []
    const writes: Promise<void>[] = []
    let wal = ''
    let walSeg: Segment | null = null
    let rank = 0
    for (const j of out.lines) {
      const { index } = j
      if (!j.ok) {
        const line = lines[index]!
        const receipt: Receipt = { index, id: j.id, stream: j.stream, decision: 'QUARANTINE', code: j.code, reason: j.reason }
        receipts.push(receipt)
        const truncated = line.length > policy.maxReadingBytes
        quarantined.push({ _id: `tq!${receivedAt}!${randomBytes(6).toString('hex')}`, receivedAt, source, receipt: receipt as unknown as Json, raw: truncated ? line.slice(0, 512) : line, size: Buffer.byteLength(line), truncated })
        continue
      }
      const { canonical, key, fp, id, stream, ts } = j
      const leaf = out.leaves.subarray(rank * 32, rank * 32 + 32)
      rank++
      const seenIn = this.pendingKeys.has(key) ? 0 : sealedIn.get(key) ?? null
      if (seenIn !== null) {
        const reason = `producer id ${id} was already admitted on ${stream}${seenIn > 0 ? ` (batch ${seenIn})` : ' (not yet sealed)'}`
        receipts.push({ index, id, stream, decision: 'DUPLICATE', code: 'DUPLICATE', reason })
        duplicates.push({ stream, id, reason })
        continue
      }
      this.fps.add(fp)
      this.pendingKeys.add(key)
      if (this.current.bytes >= segmentLimit) {
        if (walSeg && wal !== '') writes.push(walSeg.journal!.append(wal))
        wal = ''
        walSeg = null
        await this.rotate()
      }
      const seg = this.current
      if (walSeg !== seg) {
        if (walSeg && wal !== '') writes.push(walSeg.journal!.append(wal))
        wal = ''
        walSeg = seg
      }
      seg.bytes += canonical.length + 1
      seg.pending++
      seg.writing++
      wal += canonical + '\n'
      admitted.push({ canonical, stream, ts, leaf, key, segment: seg })
      receipts.push({ index, id, stream, decision: 'ADMIT' })
    }
    if (walSeg && wal !== '') writes.push(walSeg.journal!.append(wal))
    if (duplicates.length > 0) quarantined.push({ _id: `td!${receivedAt}!${randomBytes(6).toString('hex')}`, receivedAt, source, duplicates: duplicates as unknown as Json })
    if (quarantined.length > 0) writes.push(this.record(quarantined))
    const result: IngestResult = { receipts, admitted: admitted.length, duplicates: duplicates.length, quarantined: receipts.length - admitted.length - duplicates.length }
    return { result, writes, admitted }
  }

  /** Quarantine and duplicate receipts: written and made durable before the ack. */
  private async record(docs: Doc[]): Promise<void> {
    const res = await this.db.bulkDocs(docs)
    const failed = res.find((r) => r.error)
    if (failed) throw INTERNAL(`could not record receipts: ${String(failed.reason ?? failed.error)}`)
    this.quarantineBytes += docs.reduce((n, d) => n + JSON.stringify(d).length, 0)
    await rawBatch(this.db, [{ type: 'put', key: K_QBYTES, value: String(this.quarantineBytes) }])
    await syncBarrier(this.db)
  }

  /** Segments stay small against a small budget, so sealing frees WAL room promptly. */
  private segmentLimit(): number {
    return Math.min(SEGMENT_BYTES, Math.max(4096, Math.floor(this.policy.budgetBytes / 4)))
  }

  private async rotate(): Promise<void> {
    const old = this.current
    this.current = await this.newSegment(old.n + 1)
    await old.journal!.close() // drains what is queued first
    old.journal = null
  }

  private async newSegment(n: number): Promise<Segment> {
    const path = join(this.dir, WAL_DIR, `${String(n).padStart(8, '0')}.wal`)
    const seg: Segment = { n, path, journal: await Journal.open(path, WAL_HEADER), bytes: WAL_HEADER.length, pending: 0, writing: 0 }
    this.segments.set(n, seg)
    return seg
  }

  private scheduleSeal(): void {
    const { batchMax, batchMs } = this.policy
    if (this.open.length >= batchMax) { void this.seal().catch(() => undefined); return } // a failed seal sets this.failure (intake then refuses with it); its readings stay in the WAL
    if (this.timer === null && this.open.length > 0) {
      this.timer = setTimeout(() => { this.timer = null; void this.seal().catch(() => undefined) }, Math.max(0, this.openSince + batchMs - this.now())) // as above
    }
  }

  /** Seal whatever is due (all of it with `force`). Needs the device key; while locked, readings wait in the WAL. */
  seal(force = false): Promise<void> {
    this.sealing ??= this.sealLoop(force).finally(() => { this.sealing = null; if (!this.closed) this.scheduleSeal() })
    return this.sealing
  }

  private async sealLoop(force: boolean): Promise<void> {
    const { batchMax, batchMs } = this.policy
    while (this.open.length > 0 && this.vault.unlocked && (force || this.open.length >= batchMax || this.now() - this.openSince >= batchMs)) {
      const take = this.open.splice(0, batchMax)
      this.openSince = this.now()
      try {
        await this.sealOne(take)
      } catch (err) {
        this.open.unshift(...take)
        this.failure = err as Error
        throw err
      }
    }
    await this.reclaim()
  }

  private async sealOne(take: Pending[]): Promise<void> {
    const sealedAt = new Date(this.now()).toISOString()
    const { doc, header, hash } = sealBatch({ vault: this.vault.vaultId, device: this.device, seq: this.headSeq + 1, prev: this.headHash, sealedAt, readings: take },
      (m) => this.vault.signDetached(m))
    const [res] = await this.db.bulkDocs([doc as unknown as Doc])
    if (res?.error) throw INTERNAL(`could not store batch ${header.seq}: ${String(res.reason ?? res.error)}`)
    const meta = metaLine(header, hash, docBytes(doc))
    const ops: RawOp[] = take.map((p) => ({ type: 'put', key: K_DEDUP + p.key, value: String(header.seq) }))
    ops.push({ type: 'put', key: metaKey(this.device, header.seq), value: JSON.stringify(meta) })
    await rawBatch(this.db, ops)
    this.headSeq = header.seq
    this.headHash = hash
    this.metas.set(meta.id, meta)
    this.unforwardedBytes += meta.bytes
    for (const p of take) { this.pendingKeys.delete(p.key); p.segment.pending-- }
  }

  /** Delete WAL segments whose readings are all sealed, after one barrier makes the batches durable. */
  private async reclaim(): Promise<void> {
    if (this.current.pending === 0 && this.current.writing === 0 && this.current.bytes >= this.segmentLimit()) await this.rotate()
    const done = [...this.segments.values()].filter((s) => s !== this.current && s.pending === 0 && s.writing === 0)
    if (done.length === 0) return
    await syncBarrier(this.db)
    for (const s of done) {
      await unlink(s.path).catch(() => undefined) // a sealed segment already removed is what we wanted
      this.segments.delete(s.n)
    }
    this.wakeRoomWaiters()
  }

  /** Seal and make durable everything admitted so far (the key must be unlocked). */
  async flush(): Promise<void> {
    await this.gate
    await this.sealing
    await this.seal(true)
    if (this.current.pending === 0 && this.current.bytes > WAL_HEADER.length) await this.rotate()
    await this.reclaim()
  }

  async close(): Promise<void> {
    if (this.closed) return
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    try {
      if (this.vault.unlocked && !this.failure) await this.flush()
      else await this.gate
      // Only a table that covers every sealed key is worth keeping: nothing may be waiting unsealed.
      if (!this.failure && this.open.length === 0) await this.saveSnapshot().catch(() => undefined)
    } finally {
      this.closed = true
      for (const w of [...this.roomWaiters]) w()
      for (const s of this.segments.values()) await s.journal?.close()
      await this.judges.close()
      await syncBarrier(this.db).catch(() => undefined) // closing: whatever the barrier says, the WAL holds every acknowledged reading
      await this.db.close()
    }
  }

  // ---- opening and recovery -------------------------------------------------

  private async load(): Promise<void> {
    await this.db.info() // PouchDB opens LevelDB lazily; the raw reads below need it open
    for await (const page of rawRange(this.db, { gt: K_BATCH, lt: K_BATCH + RANGE_END })) {
      for (const [, v] of page) { const m = JSON.parse(v) as BatchMeta; this.metas.set(m.id, m) }
    }
    await this.indexOwnBatches()
    const snap = await this.loadSnapshot()
    if (snap) {
      this.fps = snap
      this.fingerprintSource = 'snapshot'
    } else {
      for await (const page of rawRange(this.db, { gt: K_DEDUP, lt: K_DEDUP + RANGE_END })) {
        for (const [k] of page) this.fps.add(fingerprint(k.slice(K_DEDUP.length)))
      }
    }
    const fwd = await readJsonFileIfExists(join(this.dir, FORWARD_FILE), 4096) as { forwardedSeq?: number } | null
    this.forwardedSeq = Number.isSafeInteger(fwd?.forwardedSeq) ? fwd!.forwardedSeq! : 0
    this.recountUnforwarded()
    this.quarantineBytes = Number(await rawGet(this.db, K_QBYTES) ?? 0)
    await this.replayWal()
  }

  /**
   * The fingerprint table as the last clean close left it, if it covers
   * exactly this device's sealed batches (same head) and its digest matches;
   * otherwise null and the table is rebuilt from the index. (A table that
   * missed keys would miss duplicates; one with extra keys only costs lookups.)
   */
  private async loadSnapshot(): Promise<FingerprintSet | null> {
    const path = join(this.dir, SNAPSHOT_FILE)
    const buf = await readFile(path).catch(() => null)
    await unlink(path).catch(() => undefined) // used once: a crash later must not find a stale one
    if (!buf) return null
    const nl = buf.indexOf(10)
    try {
      const h = JSON.parse(buf.subarray(0, nl).toString('utf8')) as { format?: string; v?: number; device?: string; headSeq?: number; size?: number; sha256?: string }
      const slots = buf.subarray(nl + 1)
      if (h.format !== 'tresor-fingerprints' || h.v !== 1 || h.device !== this.device || h.headSeq !== this.headSeq) return null
      if (createHash('sha256').update(slots).digest('hex') !== h.sha256) return null
      return FingerprintSet.fromSnapshot(slots, Number(h.size))
    } catch {
      return null
    }
  }

  private async saveSnapshot(): Promise<void> {
    const slots = this.fps.snapshot()
    const header = { format: 'tresor-fingerprints', v: 1, device: this.device, headSeq: this.headSeq, size: this.fps.size, sha256: createHash('sha256').update(slots).digest('hex') }
    await writeFile(join(this.dir, SNAPSHOT_FILE), Buffer.concat([Buffer.from(JSON.stringify(header) + '\n'), slots]), { mode: 0o600 })
  }

  /** Batches of this device stored without their index lines (a crash between the two writes): index them now. */
  private async indexOwnBatches(): Promise<void> {
    const own = [...this.metas.values()].filter((m) => m.device === this.device)
    this.headSeq = own.reduce((n, m) => Math.max(n, m.seq), 0)
    for (;;) {
      const res = await this.db.allDocs({ startkey: batchId(this.device, this.headSeq + 1), endkey: batchId(this.device, 999_999_999_999), include_docs: true, limit: 100 })
      if (res.rows.length === 0) break
      for (const row of res.rows) {
        const { header, hash, doc } = checkBatch(row.doc, this.vault.vaultId, new Set([this.device]))
        const ops: RawOp[] = []
        for (const r of doc.readings) {
          const reading = parseCanonical(r) as unknown as Reading
          ops.push({ type: 'put', key: K_DEDUP + dedupKey(reading.stream, reading.id), value: String(header.seq) })
        }
        const meta = metaLine(header, hash, docBytes(doc))
        ops.push({ type: 'put', key: metaKey(this.device, header.seq), value: JSON.stringify(meta) })
        await rawBatch(this.db, ops)
        this.metas.set(meta.id, meta)
        this.headSeq = header.seq
      }
    }
    if (this.headSeq > 0) this.headHash = this.metas.get(batchId(this.device, this.headSeq))?.hash ?? null
  }

  /** Readings acknowledged but not sealed when the process stopped go back into the open batch. */
  private async replayWal(): Promise<void> {
    const files = (await readdir(join(this.dir, WAL_DIR))).filter((f) => /^\d{8}\.wal$/.test(f)).sort()
    let last = 0
    for (const f of files) {
      const n = Number(f.slice(0, 8))
      last = n
      const path = join(this.dir, WAL_DIR, f)
      const journal = await Journal.open(path, WAL_HEADER)
      const seg: Segment = { n, path, journal: null, bytes: (await stat(path)).size, pending: 0, writing: 0 }
      this.segments.set(n, seg)
      try {
        for (const line of await journal.entries()) {
          let reading: Reading
          try { reading = parseCanonical(line) as unknown as Reading } catch { this.walRejected++; seg.pending = Infinity; continue }
          const key = dedupKey(String(reading.stream), String(reading.id))
          if (this.pendingKeys.has(key) || await rawGet(this.db, K_DEDUP + key) !== null) continue
          this.fps.add(fingerprint(key))
          this.pendingKeys.add(key)
          seg.pending++
          this.open.push({ canonical: line, stream: reading.stream, ts: reading.ts, leaf: leafHashText(line), key, segment: seg })
        }
      } finally {
        await journal.close()
      }
    }
    this.current = await this.newSegment(last + 1)
    this.openSince = this.open.length > 0 ? 0 : this.now()
    if (this.open.length > 0 && this.vault.unlocked) await this.seal(true)
    else await this.reclaim()
  }

  // ---- forwarding (the wiring lives in sync/) -----------------------------------

  /** This device's batches after `afterSeq`, as stored (with their revisions), oldest first. */
  async ownBatches(afterSeq: number, limit: number): Promise<BatchDoc[]> {
    const res = await this.db.allDocs({ startkey: batchId(this.device, afterSeq + 1), endkey: batchId(this.device, this.headSeq), include_docs: true, limit })
    return res.rows.map((r) => r.doc as unknown as BatchDoc)
  }

  /** Record that the server holds this device's batches up to `seq`; frees their share of the budget. */
  async markForwarded(seq: number): Promise<void> {
    this.forwardedSeq = Math.min(seq, this.headSeq)
    await writeJsonFile(join(this.dir, FORWARD_FILE), { format: 'tresor-telemetry-forward', v: 1, forwardedSeq: this.forwardedSeq })
    this.recountUnforwarded()
    this.wakeRoomWaiters()
  }

  private recountUnforwarded(): void {
    this.unforwardedBytes = 0
    for (const m of this.metas.values()) if (m.device === this.device && m.seq > this.forwardedSeq) this.unforwardedBytes += m.bytes
  }

  /**
   * Judge batch documents pulled from a peer or server: ADMIT (verified,
   * continues its device's chain), DUPLICATE (held already), WAIT (its
   * predecessor is not here yet) or QUARANTINE with the reason (kept).
   */
  async admitBatches(docs: unknown[], source = 'sync'): Promise<AdmitVerdict[]> {
    const keys = everKeys(this.vault.state)
    const verdicts: AdmitVerdict[] = []
    const quarantined: Doc[] = []
    const receivedAt = new Date(this.now()).toISOString()
    const order = docs.map((d) => ({ d, slot: parseBatchId(String((d as Doc)?._id ?? '')) }))
      .sort((a, b) => (a.slot?.device ?? '').localeCompare(b.slot?.device ?? '') || (a.slot?.seq ?? 0) - (b.slot?.seq ?? 0))
    const seenQuarantine = new Set<string>()
    const quarantine = async (id: string, code: string, reason: string, d: unknown) => {
      verdicts.push({ id, decision: 'QUARANTINE', code, reason })
      const doc = this.quarantineDoc(receivedAt, source, id, code, reason, d)
      // The same forged document seen again (each pull round) is not recorded twice.
      const key = K_QSEEN + createHash('sha256').update(String(doc.raw)).digest('hex')
      if (seenQuarantine.has(key) || await rawGet(this.db, key) !== null) return
      seenQuarantine.add(key)
      quarantined.push(doc)
      quarantinedKeys.push(key)
    }
    const quarantinedKeys: string[] = []
    for (const { d } of order) {
      const id = String((d as Doc)?._id ?? '').slice(0, 100)
      let checked
      try {
        checked = checkBatch(d, this.vault.vaultId, keys)
      } catch (err) {
        await quarantine(id, err instanceof VaultError ? err.code : 'MALFORMED', (err as Error).message, d)
        continue
      }
      const { header, hash, doc } = checked
      const held = this.metas.get(doc._id)
      if (held) {
        if (held.hash === hash) verdicts.push({ id, decision: 'DUPLICATE', reason: 'this batch is held already' })
        else await quarantine(id, 'FORK', `conflicts with the batch ${header.seq} of ${header.device.slice(0, 12)}… held here (a fork)`, d)
        continue
      }
      if (header.device === this.device) {
        await quarantine(id, 'FORK', 'a batch in this device\'s own chain that this device never sealed', d)
        continue
      }
      if (header.seq > 1) {
        const prev = this.metas.get(batchId(header.device, header.seq - 1))
        if (!prev) { verdicts.push({ id, decision: 'WAIT', reason: `waits for batch ${header.seq - 1} of its device` }); continue }
        if (prev.hash !== header.prev) {
          await quarantine(id, 'FORK', `does not continue the chain: batch ${header.seq - 1} held here has another hash`, d)
          continue
        }
      }
      // Stored as a new document here (the peer's revision means nothing in this database).
      const body: Doc = { _id: doc._id, header: doc.header, sig: doc.sig, readings: doc.readings }
      const [res] = await this.db.bulkDocs([body])
      if (res?.error) throw INTERNAL(`could not store batch ${id}: ${String(res.reason ?? res.error)}`)
      const meta = metaLine(header, hash, docBytes(doc))
      await rawBatch(this.db, [{ type: 'put', key: metaKey(header.device, header.seq), value: JSON.stringify(meta) }])
      this.metas.set(meta.id, meta)
      verdicts.push({ id, decision: 'ADMIT' })
    }
    if (quarantined.length > 0) {
      await this.record(quarantined)
      await rawBatch(this.db, quarantinedKeys.map((key) => ({ type: 'put', key, value: '1' })), true)
    }
    return verdicts
  }

  private quarantineDoc(receivedAt: string, source: string, id: string, code: string, reason: string, raw: unknown): Doc {
    let text: string
    try { text = JSON.stringify(raw) ?? String(raw) } catch { text = String(raw) }
    const receipt = { index: 0, id, stream: null, decision: 'QUARANTINE', code, reason }
    return { _id: `tq!${receivedAt}!${randomBytes(6).toString('hex')}`, receivedAt, source, receipt, raw: text.slice(0, 4096), size: text.length, truncated: text.length > 4096 }
  }

  // ---- review: batches, metering, replay, proofs, quarantine -------------------------------

  /** Every batch this device holds (all devices), by device and seq. */
  batchMetas(): BatchMeta[] {
    return [...this.metas.values()].sort((a, b) => a.device.localeCompare(b.device) || a.seq - b.seq)
  }

  /** The read side (metering, readings, quarantine, checks): core/telemetry/queries.ts, over a narrow view of this store. */
  private get reader(): TelemetryReader {
    return this.readerCache ??= new TelemetryReader({
      db: this.db,
      metas: () => this.batchMetas(),
      meta: (id) => this.metas.get(id),
      open: () => this.open,
      now: this.now,
      vault: this.vault
    })
  }

  private docs(ids: string[]): Promise<BatchDoc[]> { return this.reader.docs(ids) }
  streams(windowMs = 15 * 60_000): Promise<StreamMeter[]> { return this.reader.streams(windowMs) }
  streamReadings(stream: string, range: { from?: string; to?: string } = {}): Promise<Reading[]> { return this.reader.streamReadings(stream, range) }
  quarantine(limit = 100): Promise<QuarantineEntry[]> { return this.reader.quarantine(limit) }
  verifyAll(): Promise<{ batches: number; readings: number; problems: { id: string; reason: string }[] }> { return this.reader.verifyAll() }

  /** A proof that the reading `id` of `stream` is in a signed batch (sealing it first if it is still open). */
  async prove(stream: string, id: string): Promise<ReadingProof> {
    if (this.pendingKeys.has(dedupKey(stream, id)) && this.vault.unlocked) await this.flush()
    const own = await rawGet(this.db, K_DEDUP + dedupKey(stream, id))
    const candidates = own !== null ? [batchId(this.device, Number(own))] : this.batchMetas().filter((m) => (ownKey(m.streams, stream) ?? 0) > 0).map((m) => m.id)
    for (let i = 0; i < candidates.length; i += 20) {
      for (const doc of await this.docs(candidates.slice(i, i + 20))) {
        const k = doc.readings.findIndex((t) => { const r = JSON.parse(t) as Reading; return r.stream === stream && r.id === id })
        if (k >= 0) return proveReading(doc, k)
      }
    }
    throw NOT_FOUND(`no sealed reading ${id} on stream ${stream}`)
  }

}

