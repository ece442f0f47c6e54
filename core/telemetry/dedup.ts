/**
 * The dedup index: which producer ids (stream + id) this device has admitted,
 * and in which of its batches each was sealed. Raw LevelDB keys beside
 * PouchDB's data in telemetry.db (`\xfftd\xff<stream+id>` → batch seq),
 * fronted by an in-memory fingerprint table that answers "certainly new" for
 * almost every reading without a disk read. The table is saved at a clean
 * close (`fingerprints.snap`, used once) and otherwise rebuilt from the keys.
 * Readings admitted but not sealed yet are `pending`.
 */
import { readFile, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { rawGet, rawGetMany, rawRange, type Db, type RawOp } from '../pouch.js'
import { FingerprintSet, fingerprint } from './fingerprints.js'

const K_DEDUP = '\xfftd\xff'
const RANGE_END = '\xff\xff'
const SNAPSHOT_FILE = 'fingerprints.snap'

export class DedupIndex {
  private fps = new FingerprintSet()
  /** Where the fingerprint table came from at open: the snapshot written at the last close, or a scan of the index. */
  source: 'snapshot' | 'index' = 'index'
  private readonly pending = new Set<string>()

  constructor(
    private readonly db: Db,
    private readonly dir: string
  ) {}

  /** Admitted, not sealed yet. */
  isPending(key: string): boolean {
    return this.pending.has(key)
  }

  /**
   * Of `candidates` (key and fingerprint of readings judged well-formed), the batch seq each one sealed already was
   * sealed in.
   */
  async sealedIn(candidates: readonly { key: string; fp: number }[]): Promise<Map<string, number>> {
    const confirm = candidates.filter((c) => !this.pending.has(c.key) && this.fps.has(c.fp)).map((c) => c.key)
    const sealed = new Map<string, number>()
    const found = await rawGetMany(
      this.db,
      confirm.map((k) => K_DEDUP + k)
    )
    for (const [i, v] of found.entries()) if (v !== null) sealed.set(confirm[i]!, Number(v))
    return sealed
  }

  /** The batch seq `key` was sealed in by this device, or null. */
  async sealedSeq(key: string): Promise<number | null> {
    const v = await rawGet(this.db, K_DEDUP + key)
    return v === null ? null : Number(v)
  }

  /** A reading is admitted: it waits for a batch. */
  admit(key: string, fp = fingerprint(key)): void {
    this.fps.add(fp)
    this.pending.add(key)
  }

  /** The index lines for readings sealed into batch `seq` (written with the batch's meta line). */
  sealedOps(keys: Iterable<string>, seq: number): RawOp[] {
    const ops: RawOp[] = []
    for (const key of keys) ops.push({ type: 'put', key: K_DEDUP + key, value: String(seq) })
    return ops
  }

  /** The readings of a batch are durable in it: no longer pending. */
  settle(keys: Iterable<string>): void {
    for (const key of keys) this.pending.delete(key)
  }

  /**
   * The fingerprint table as the last clean close left it, if it covers
   * exactly this device's sealed batches (same head) and its digest matches;
   * otherwise rebuilt from the index. (A table that missed keys would miss
   * duplicates; one with extra keys only costs lookups.)
   */
  async load(device: string, headSeq: number): Promise<void> {
    const snap = await this.loadSnapshot(device, headSeq)
    if (snap) {
      this.fps = snap
      this.source = 'snapshot'
      return
    }
    for await (const page of rawRange(this.db, { gt: K_DEDUP, lt: K_DEDUP + RANGE_END })) {
      for (const [k] of page) this.fps.add(fingerprint(k.slice(K_DEDUP.length)))
    }
  }

  private async loadSnapshot(device: string, headSeq: number): Promise<FingerprintSet | null> {
    const path = join(this.dir, SNAPSHOT_FILE)
    const buf = await readFile(path).catch(() => null)
    await unlink(path).catch(() => undefined) // used once: a crash later must not find a stale one
    if (!buf) return null
    const nl = buf.indexOf(10)
    try {
      const h = JSON.parse(buf.subarray(0, nl).toString('utf8')) as {
        format?: string
        v?: number
        device?: string
        headSeq?: number
        size?: number
        sha256?: string
      }
      const slots = buf.subarray(nl + 1)
      if (h.format !== 'tresor-fingerprints' || h.v !== 1 || h.device !== device || h.headSeq !== headSeq) return null
      if (createHash('sha256').update(slots).digest('hex') !== h.sha256) return null
      return FingerprintSet.fromSnapshot(slots, Number(h.size))
    } catch {
      return null
    }
  }

  /** Only a table that covers every sealed key is worth keeping: call it with nothing pending. */
  async saveSnapshot(device: string, headSeq: number): Promise<void> {
    const slots = this.fps.snapshot()
    const header = {
      format: 'tresor-fingerprints',
      v: 1,
      device,
      headSeq,
      size: this.fps.size,
      sha256: createHash('sha256').update(slots).digest('hex')
    }
    await writeFile(join(this.dir, SNAPSHOT_FILE), Buffer.concat([Buffer.from(JSON.stringify(header) + '\n'), slots]), {
      mode: 0o600
    })
  }
}
