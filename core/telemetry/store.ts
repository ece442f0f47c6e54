/**
 * The device's telemetry store: the one gate for readings. It judges input,
 * makes every admitted reading durable before the ack, seals signed batches,
 * keeps the disk budget and proves readings. Its parts, each in its file:
 *
 *   wal.ts           the write-ahead log      telemetry/wal/NNNNNNNN.wal
 *   batches.ts       the batch store          telemetry.db: `tb!<device>!<seq>` + meta lines
 *   dedup.ts         the dedup index          telemetry.db raw keys + fingerprints.snap
 *   peer-batches.ts  batches from peers       judged, stored or quarantined with the reason
 *   queries.ts       the read side            metering, readings, quarantine, checks
 *
 * This file holds what ties them: intake (judge → dedup → WAL → ack), sealing,
 * the quarantine records (`tq!<receivedAt>!…`, duplicate receipts `td!…`),
 * the budget and forwarding state (`forward.json`: how far this device's
 * batches are confirmed on the server).
 *
 * Governance never waits on telemetry: it has its own journal and database.
 */
import { own as ownKey } from '../dict.js'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { openDb, rawBatch, rawGet, syncBarrier, type Db, type Doc } from '../pouch.js'
import type { Json } from '../canonical.js'
import { BACKPRESSURE, DISABLED, INTERNAL, NOT_FOUND } from '../errors.js'
import { leafHashText, type Hash } from '../proofs/merkle.js'
import { everKeys } from '../governance/state.js'
import { readJsonFileIfExists, writeJsonFile } from '../files.js'
import type { Vault } from '../vault.js'

/**
 * What the telemetry store uses of the vault: who this device is, the
 * governed state (flag, schemas, policy), the READ-ONLY gate and the key's
 * signature over a batch header. Nothing else: it cannot append to the log.
 */
export type TelemetryVault = Pick<
  Vault,
  'vaultId' | 'device' | 'dir' | 'state' | 'unlocked' | 'assertWritable' | 'signDetached'
>
import { JudgePool, type JudgeOutput } from './judge-pool.js'
import {
  dedupKey,
  streamSchemas,
  telemetryPolicy,
  type Receipt,
  type Reading,
  type TelemetryPolicy
} from './reading.js'
import { batchId, proveReading, sealBatch, type BatchDoc, type ReadingProof } from './batch.js'
import { TelemetryReader } from './queries.js'
import { Wal, WAL_DIR, type Segment } from './wal.js'
import { DedupIndex } from './dedup.js'
import { BatchStore } from './batches.js'
import { admitPeerBatches, quarantineId, type AdmitVerdict } from './peer-batches.js'
import type { BatchMeta, QuarantineEntry, StreamMeter } from './types.js'

export type { BatchMeta, QuarantineEntry, StreamMeter } from './types.js'
export type { AdmitVerdict } from './peer-batches.js'

export const TELEMETRY_DIR = 'telemetry'
const FORWARD_FILE = 'forward.json'
const K_QBYTES = '\xfftm\xffquarantine-bytes'
/** The flag that gates the module. */
export const STREAMING_FLAG = 'streaming_enabled'
/**
 * Readings acknowledged (in the WAL) and waiting in memory to be sealed: at most this many bytes of them (plus the
 * inputs being written to the WAL at that moment, which the HTTP intake's own budget bounds). Past it,
 * intake waits for the sealing to catch up (a slower acknowledgement, not a refusal); with the device key locked,
 * nothing can be sealed and intake is refused with BACKPRESSURE until it is unlocked. Without the bound, intake at full
 * speed outran the sealing and a million readings held ~700 MiB.
 */
export const UNSEALED_MEMORY_BUDGET = 16 * 1024 * 1024

interface Pending {
  canonical: string
  stream: string
  ts: string
  leaf: Hash
  key: string
  segment: Segment
}

export interface IngestResult {
  receipts: Receipt[]
  admitted: number
  duplicates: number
  quarantined: number
}
export interface Usage {
  usedBytes: number
  budgetBytes: number
  full: boolean
  walBytes: number
  unforwardedBytes: number
  quarantineBytes: number
  unsealed: number
}

function splitLines(text: string): string[] {
  const lines = text.split('\n')
  if (lines.at(-1) === '') lines.pop()
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l))
}

export class TelemetryStore {
  private open: Pending[] = []
  /** Bytes of the readings in `open` (their canonical text), against UNSEALED_MEMORY_BUDGET. */
  private openBytes = 0
  private openSince = 0
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
  private readonly wal: Wal
  private readonly dedup: DedupIndex
  private readonly batches: BatchStore

  private constructor(
    readonly vault: TelemetryVault,
    readonly dir: string,
    readonly db: Db,
    private readonly now: () => number,
    private readonly unsealedBudget: number
  ) {
    this.wal = new Wal(dir, () => this.policy.budgetBytes)
    this.dedup = new DedupIndex(db, dir)
    this.batches = new BatchStore(db, vault.vaultId, vault.device)
  }

  static async open(
    vault: TelemetryVault,
    opts: { now?: () => number; unsealedBudget?: number } = {}
  ): Promise<TelemetryStore> {
    const dir = join(vault.dir, TELEMETRY_DIR)
    await mkdir(join(dir, WAL_DIR), { recursive: true, mode: 0o700 })
    const store = new TelemetryStore(
      vault,
      dir,
      openDb(join(dir, 'telemetry.db')),
      opts.now ?? Date.now,
      opts.unsealedBudget ?? UNSEALED_MEMORY_BUDGET
    )
    try {
      await store.load()
    } catch (err) {
      await store.db.close().catch(() => undefined) // closing after a failed open: the open error is what is thrown
      throw err
    }
    return store
  }

  get device(): string {
    return this.vault.device
  }
  get policy(): TelemetryPolicy {
    return telemetryPolicy(this.vault.state.settings)
  }
  get enabled(): boolean {
    return this.vault.state.flags[STREAMING_FLAG] === true
  }
  get forwarded(): number {
    return this.forwardedSeq
  }
  get head(): { seq: number; hash: string | null } {
    return this.batches.head
  }
  /** Where the fingerprint table came from at open: the snapshot written at the last close, or a scan of the index. */
  get fingerprintSource(): 'snapshot' | 'index' {
    return this.dedup.source
  }
  /** WAL lines that did not parse on open (kept on disk as evidence, never applied). */
  get walRejected(): number {
    return this.wal.rejected
  }

  usage(): Usage {
    const walBytes = this.wal.bytes
    const usedBytes = walBytes + this.unforwardedBytes + this.quarantineBytes
    const budgetBytes = this.policy.budgetBytes
    return {
      usedBytes,
      budgetBytes,
      full: usedBytes >= budgetBytes,
      walBytes,
      unforwardedBytes: this.unforwardedBytes,
      quarantineBytes: this.quarantineBytes,
      unsealed: this.open.length
    }
  }

  /**
   * Room for input: the disk budget is not full, and the readings waiting to be sealed are under their memory budget
   * or can be sealed (the key is unlocked; intake then waits for the sealing itself).
   */
  private hasRoom(): boolean {
    return !this.usage().full && (this.openBytes < this.unsealedBudget || this.vault.unlocked)
  }

  /** Resolves when there is room again (or after `maxMs`). For inputs that block instead of refusing. */
  waitForRoom(maxMs = 1000): Promise<void> {
    if (this.hasRoom()) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t)
        this.roomWaiters.delete(done)
        resolve()
      }
      const t = setTimeout(done, maxMs)
      this.roomWaiters.add(done)
    })
  }

  private wakeRoomWaiters(): void {
    if (!this.hasRoom()) return
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
    if (!this.enabled)
      throw DISABLED(`telemetry is off: the ${STREAMING_FLAG} flag must be switched on by governance first`)
    this.vault.assertWritable('telemetry')
    const usage = this.usage()
    if (usage.full)
      throw BACKPRESSURE(
        `telemetry disk budget is full (${usage.usedBytes} of ${usage.budgetBytes} bytes waiting here): retry after forwarding frees room`
      )
    const lines = typeof input === 'string' ? splitLines(input) : input
    const policy = this.policy
    const judged = await this.judges.judge({
      lines,
      schemas: [...streamSchemas(this.vault.state)],
      policy,
      nowMs: this.now(),
      defaultStream: opts.stream
    })
    const run = this.gate.then(async () => {
      await this.roomToSeal()
      return this.decide(lines, judged, policy, opts.source ?? 'api')
    })
    // the gate only orders calls; each caller gets its own result or error from `run`
    this.gate = run.catch(() => undefined)
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
      for (const p of admitted) this.hold(p)
      this.scheduleSeal()
    }
    return result
  }

  /** In input order, after judging: deduplicate, write the admitted readings to the WAL, record the rest. */
  private async decide(lines: string[], out: JudgeOutput, policy: TelemetryPolicy, source: string) {
    const receivedAt = new Date(this.now()).toISOString()
    const sealedIn = await this.dedup.sealedIn(out.lines.flatMap((j) => (j.ok ? [{ key: j.key, fp: j.fp }] : [])))
    const receipts: Receipt[] = []
    const admitted: Pending[] = []
    const quarantined: Doc[] = []
    const duplicates: { stream: string; id: string; reason: string }[] = []
    const append = this.wal.append()
    let rank = 0
    for (const j of out.lines) {
      const { index } = j
      if (!j.ok) {
        const line = lines[index]!
        const receipt: Receipt = {
          index,
          id: j.id,
          stream: j.stream,
          decision: 'QUARANTINE',
          code: j.code,
          reason: j.reason
        }
        receipts.push(receipt)
        const truncated = line.length > policy.maxReadingBytes
        quarantined.push({
          _id: quarantineId(receivedAt),
          receivedAt,
          source,
          receipt: receipt as unknown as Json,
          raw: truncated ? line.slice(0, 512) : line,
          size: Buffer.byteLength(line),
          truncated
        })
        continue
      }
      const { canonical, key, fp, id, stream, ts } = j
      const leaf = out.leaves.subarray(rank * 32, rank * 32 + 32)
      rank++
      const seenIn = this.dedup.isPending(key) ? 0 : (sealedIn.get(key) ?? null)
      if (seenIn !== null) {
        const reason = `producer id ${id} was already admitted on ${stream}${seenIn > 0 ? ` (batch ${seenIn})` : ' (not yet sealed)'}`
        receipts.push({ index, id, stream, decision: 'DUPLICATE', code: 'DUPLICATE', reason })
        duplicates.push({ stream, id, reason })
        continue
      }
      this.dedup.admit(key, fp)
      const segment = await append.add(canonical)
      admitted.push({ canonical, stream, ts, leaf, key, segment })
      receipts.push({ index, id, stream, decision: 'ADMIT' })
    }
    const writes = append.done()
    if (duplicates.length > 0)
      quarantined.push({
        _id: `td!${receivedAt}!${randomBytes(6).toString('hex')}`,
        receivedAt,
        source,
        duplicates: duplicates as unknown as Json
      })
    if (quarantined.length > 0) writes.push(this.record(quarantined))
    const result: IngestResult = {
      receipts,
      admitted: admitted.length,
      duplicates: duplicates.length,
      quarantined: receipts.length - admitted.length - duplicates.length
    }
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

  private scheduleSeal(): void {
    const { batchMax, batchMs } = this.policy
    // A failed seal sets this.failure (intake then refuses with it) and its readings stay in the WAL: the catches only
    // end the promise.
    if (this.open.length >= batchMax) {
      void this.seal().catch(() => undefined) // recorded in this.failure
      return
    }
    if (this.timer === null && this.open.length > 0) {
      this.timer = setTimeout(
        () => {
          this.timer = null
          void this.seal().catch(() => undefined) // recorded in this.failure
        },
        Math.max(0, this.openSince + batchMs - this.now())
      ) // as above
    }
  }

  private hold(p: Pending): void {
    this.open.push(p)
    this.openBytes += p.canonical.length
  }

  /** Intake's wait while the readings waiting to be sealed fill UNSEALED_MEMORY_BUDGET (see there). */
  private async roomToSeal(): Promise<void> {
    while (this.openBytes >= this.unsealedBudget) {
      if (this.failure) throw this.failure
      if (!this.vault.unlocked)
        throw BACKPRESSURE(
          `${this.open.length} readings wait to be sealed and the device key is locked: unlock it so they can be sealed, then retry`
        )
      await this.seal(true)
    }
  }

  /** Seal whatever is due (all of it with `force`). Needs the device key; while locked, readings wait in the WAL. */
  seal(force = false): Promise<void> {
    this.sealing ??= this.sealLoop(force).finally(() => {
      this.sealing = null
      if (!this.closed) this.scheduleSeal()
    })
    return this.sealing
  }

  private async sealLoop(force: boolean): Promise<void> {
    const { batchMax, batchMs } = this.policy
    while (
      this.open.length > 0 &&
      this.vault.unlocked &&
      (force || this.open.length >= batchMax || this.now() - this.openSince >= batchMs)
    ) {
      const take = this.open.splice(0, batchMax)
      const bytes = take.reduce((n, p) => n + p.canonical.length, 0)
      this.openSince = this.now()
      try {
        await this.sealOne(take)
        this.openBytes -= bytes
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
    const head = this.batches.head
    const { doc, header, hash } = sealBatch(
      { vault: this.vault.vaultId, device: this.device, seq: head.seq + 1, prev: head.hash, sealedAt, readings: take },
      (m) => this.vault.signDetached(m)
    )
    const keys = take.map((p) => p.key)
    const meta = await this.batches.putOwn(doc, header, hash, this.dedup.sealedOps(keys, header.seq))
    this.unforwardedBytes += meta.bytes
    this.dedup.settle(keys)
    for (const p of take) p.segment.pending--
  }

  /** Delete WAL segments whose readings are all sealed, after one barrier makes the batches durable. */
  private async reclaim(): Promise<void> {
    if (await this.wal.reclaim(() => syncBarrier(this.db))) this.wakeRoomWaiters()
  }

  /** Seal and make durable everything admitted so far (the key must be unlocked). */
  async flush(): Promise<void> {
    await this.gate
    await this.sealing
    await this.seal(true)
    await this.wal.rotateIfSealed()
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
      if (!this.failure && this.open.length === 0)
        // a table not saved is rebuilt from the index at the next open
        await this.dedup.saveSnapshot(this.device, this.head.seq).catch(() => undefined)
    } finally {
      this.closed = true
      for (const w of [...this.roomWaiters]) w()
      await this.wal.close()
      await this.judges.close()
      // closing: whatever the barrier says, the WAL holds every acknowledged reading
      await syncBarrier(this.db).catch(() => undefined)
      await this.db.close()
    }
  }

  // ---- opening and recovery -------------------------------------------------

  private async load(): Promise<void> {
    await this.batches.load(this.dedup)
    await this.dedup.load(this.device, this.head.seq)
    const fwd = (await readJsonFileIfExists(join(this.dir, FORWARD_FILE), 4096)) as { forwardedSeq?: number } | null
    this.forwardedSeq = Number.isSafeInteger(fwd?.forwardedSeq) ? fwd!.forwardedSeq! : 0
    this.unforwardedBytes = this.batches.ownBytesAfter(this.forwardedSeq)
    this.quarantineBytes = Number((await rawGet(this.db, K_QBYTES)) ?? 0)
    await this.replayWal()
  }

  /** Readings acknowledged but not sealed when the process stopped go back into the open batch. */
  private async replayWal(): Promise<void> {
    await this.wal.replay(async (reading, line, segment) => {
      const key = dedupKey(String(reading.stream), String(reading.id))
      if (this.dedup.isPending(key) || (await this.dedup.sealedSeq(key)) !== null) return false
      this.dedup.admit(key)
      this.hold({
        canonical: line,
        stream: reading.stream,
        ts: reading.ts,
        leaf: leafHashText(line),
        key,
        segment
      })
      return true
    })
    this.openSince = this.open.length > 0 ? 0 : this.now()
    if (this.open.length > 0 && this.vault.unlocked) await this.seal(true)
    else await this.reclaim()
  }

  // ---- forwarding (the wiring lives in sync/) -----------------------------------

  /** This device's batches after `afterSeq`, as stored (with their revisions), oldest first. */
  ownBatches(afterSeq: number, limit: number): Promise<BatchDoc[]> {
    return this.batches.ownDocs(afterSeq, limit)
  }

  /** Record that the server holds this device's batches up to `seq`; frees their share of the budget. */
  async markForwarded(seq: number): Promise<void> {
    this.forwardedSeq = Math.min(seq, this.head.seq)
    await writeJsonFile(join(this.dir, FORWARD_FILE), {
      format: 'tresor-telemetry-forward',
      v: 1,
      forwardedSeq: this.forwardedSeq
    })
    this.unforwardedBytes = this.batches.ownBytesAfter(this.forwardedSeq)
    this.wakeRoomWaiters()
  }

  /** Judge batch documents pulled from a peer or server (peer-batches.ts); what is refused is kept with its reason. */
  admitBatches(docs: unknown[], source = 'sync'): Promise<AdmitVerdict[]> {
    return admitPeerBatches(
      {
        db: this.db,
        vaultId: this.vault.vaultId,
        device: this.device,
        keys: everKeys(this.vault.state),
        batches: this.batches,
        receivedAt: new Date(this.now()).toISOString(),
        record: (d) => this.record(d)
      },
      docs,
      source
    )
  }

  // ---- review: batches, metering, replay, proofs, quarantine -------------------------------

  /** Every batch this device holds (all devices), by device and seq. */
  batchMetas(): BatchMeta[] {
    return this.batches.all()
  }

  /**
   * The read side (metering, readings, quarantine, checks): core/telemetry/queries.ts, over a narrow view of this
   * store.
   */
  private get reader(): TelemetryReader {
    return (this.readerCache ??= new TelemetryReader({
      db: this.db,
      metas: () => this.batchMetas(),
      meta: (id) => this.batches.get(id),
      open: () => this.open,
      now: this.now,
      vault: this.vault
    }))
  }

  private docs(ids: string[]): Promise<BatchDoc[]> {
    return this.reader.docs(ids)
  }
  streams(windowMs = 15 * 60_000): Promise<StreamMeter[]> {
    return this.reader.streams(windowMs)
  }
  streamReadings(stream: string, range: { from?: string; to?: string } = {}): Promise<Reading[]> {
    return this.reader.streamReadings(stream, range)
  }
  quarantine(limit = 100): Promise<QuarantineEntry[]> {
    return this.reader.quarantine(limit)
  }
  verifyAll(): Promise<{ batches: number; readings: number; problems: { id: string; reason: string }[] }> {
    return this.reader.verifyAll()
  }

  /** A proof that the reading `id` of `stream` is in a signed batch (sealing it first if it is still open). */
  async prove(stream: string, id: string): Promise<ReadingProof> {
    if (this.dedup.isPending(dedupKey(stream, id)) && this.vault.unlocked) await this.flush()
    const own = await this.dedup.sealedSeq(dedupKey(stream, id))
    const candidates =
      own !== null
        ? [batchId(this.device, own)]
        : this.batchMetas()
            .filter((m) => (ownKey(m.streams, stream) ?? 0) > 0)
            .map((m) => m.id)
    for (let i = 0; i < candidates.length; i += 20) {
      for (const doc of await this.docs(candidates.slice(i, i + 20))) {
        const k = doc.readings.findIndex((t) => {
          const r = JSON.parse(t) as Reading
          return r.stream === stream && r.id === id
        })
        if (k >= 0) return proveReading(doc, k)
      }
    }
    throw NOT_FOUND(`no sealed reading ${id} on stream ${stream}`)
  }
}
