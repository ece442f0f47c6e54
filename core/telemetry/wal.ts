/**
 * The telemetry write-ahead log: `<telemetry>/wal/NNNNNNNN.wal` segments
 * (format tresor-telemetry-wal v1), one canonical admitted reading per line,
 * fdatasync'd before the ack (group commit through the journal). A segment is
 * deleted once every reading in it is in a sealed batch made durable by a
 * LevelDB barrier. The store counts, per segment, the readings still waiting
 * for a batch (`pending`) and those still being written (`writing`).
 */
import { readdir, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { Journal, journalHeader } from '../journal.js'
import { parseCanonical } from '../canonical.js'
import type { Reading } from './reading.js'

export const WAL_DIR = 'wal'
export const WAL_HEADER = journalHeader('tresor-telemetry-wal', 1)
/** Start a new segment past this size. */
const SEGMENT_BYTES = 8 << 20

export interface Segment {
  n: number
  path: string
  journal: Journal | null
  bytes: number
  pending: number
  writing: number
}

/** The lines one intake call appends: to the current segment (a full one is rotated first), one write per segment. */
export class WalAppend {
  private text = ''
  private seg: Segment | null = null
  private readonly writes: Promise<void>[] = []
  private readonly limit: number

  constructor(private readonly wal: Wal) {
    this.limit = wal.segmentLimit()
  }

  /** Queue `line`; the segment it goes to counts it as pending and being written. */
  async add(line: string): Promise<Segment> {
    if (this.wal.current.bytes >= this.limit) {
      this.cut()
      await this.wal.rotate()
    }
    const seg = this.wal.current
    if (this.seg !== seg) {
      this.cut()
      this.seg = seg
    }
    seg.bytes += line.length + 1
    seg.pending++
    seg.writing++
    this.text += line + '\n'
    return seg
  }

  /** The writes of everything queued: each resolves once its segment is on disk. */
  done(): Promise<void>[] {
    this.cut()
    return this.writes
  }

  private cut(): void {
    if (this.seg && this.text !== '') this.writes.push(this.seg.journal!.append(this.text))
    this.text = ''
    this.seg = null
  }
}

export class Wal {
  private readonly segments = new Map<number, Segment>()
  current!: Segment
  /** Lines that did not parse on open (kept on disk as evidence, never applied). */
  rejected = 0

  /** `budgetBytes`: the telemetry disk budget, which keeps segments small enough to free room promptly. */
  constructor(
    private readonly dir: string,
    private readonly budgetBytes: () => number
  ) {}

  get bytes(): number {
    let n = 0
    for (const s of this.segments.values()) n += s.bytes
    return n
  }

  /** Segments stay small against a small budget, so sealing frees WAL room promptly. */
  segmentLimit(): number {
    return Math.min(SEGMENT_BYTES, Math.max(4096, Math.floor(this.budgetBytes() / 4)))
  }

  append(): WalAppend {
    return new WalAppend(this)
  }

  async rotate(): Promise<void> {
    const old = this.current
    this.current = await this.newSegment(old.n + 1)
    await old.journal!.close() // drains what is queued first
    old.journal = null
  }

  /** Start a fresh segment when the current one holds only sealed readings (before a flush's reclaim). */
  async rotateIfSealed(): Promise<void> {
    if (this.current.pending === 0 && this.current.bytes > WAL_HEADER.length) await this.rotate()
  }

  private async newSegment(n: number): Promise<Segment> {
    const path = join(this.dir, WAL_DIR, `${String(n).padStart(8, '0')}.wal`)
    const seg: Segment = {
      n,
      path,
      journal: await Journal.open(path, WAL_HEADER),
      bytes: WAL_HEADER.length,
      pending: 0,
      writing: 0
    }
    this.segments.set(n, seg)
    return seg
  }

  /**
   * Open: hand every reading of every segment to `take`, oldest first (it says
   * whether the reading still waits for a batch), then start a new segment. A
   * line that does not parse is counted and pins its segment on disk.
   */
  async replay(take: (reading: Reading, line: string, seg: Segment) => Promise<boolean>): Promise<void> {
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
          try {
            reading = parseCanonical(line) as unknown as Reading
          } catch {
            this.rejected++
            seg.pending = Infinity
            continue
          }
          if (await take(reading, line, seg)) seg.pending++
        }
      } finally {
        await journal.close()
      }
    }
    this.current = await this.newSegment(last + 1)
  }

  /**
   * Delete the segments whose readings are all sealed, after `barrier` makes
   * the batches durable. Says whether any was deleted (room was freed).
   */
  async reclaim(barrier: () => Promise<void>): Promise<boolean> {
    if (this.current.pending === 0 && this.current.writing === 0 && this.current.bytes >= this.segmentLimit())
      await this.rotate()
    const done = [...this.segments.values()].filter((s) => s !== this.current && s.pending === 0 && s.writing === 0)
    if (done.length === 0) return false
    await barrier()
    for (const s of done) {
      await unlink(s.path).catch(() => undefined) // a sealed segment already removed is what we wanted
      this.segments.delete(s.n)
    }
    return true
  }

  async close(): Promise<void> {
    for (const s of this.segments.values()) await s.journal?.close()
  }
}
