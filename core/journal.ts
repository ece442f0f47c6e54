/**
 * The append journal: a write-ahead file in front of PouchDB. An append is
 * acknowledged once its signed bytes are in this file and fdatasync'd (one
 * sync for every append waiting at that moment: group commit); PouchDB is
 * then written in batches behind it. On open, journal entries that PouchDB
 * lacks are re-verified and indexed, so an acknowledged append is never lost.
 *
 * Format v1: a header line `{"format":"tresor-journal","v":1}`, then one
 * canonical signed event per line. A torn last line (crash mid-write) was
 * never acknowledged and is ignored.
 */
import { open, type FileHandle } from 'node:fs/promises'
import { MALFORMED } from './errors.js'

export const JOURNAL_FILE = 'append.journal'
const HEADER = '{"format":"tresor-journal","v":1}\n'

type Op = { kind: 'write'; text: string } | { kind: 'clear' }
interface Waiter { op: Op; resolve: () => void; reject: (err: Error) => void }

export class Journal {
  private queue: Waiter[] = []
  private draining: Promise<void> | null = null

  private constructor(private readonly fh: FileHandle) {}

  static async open(path: string): Promise<Journal> {
    const fh = await open(path, 'a+', 0o600)
    const journal = new Journal(fh)
    if ((await fh.stat()).size === 0) await journal.run({ kind: 'write', text: HEADER })
    return journal
  }

  /** Durably append lines (each ends with a newline). Resolves after fdatasync. */
  append(text: string): Promise<void> {
    return this.run({ kind: 'write', text })
  }

  /** Empty the journal (after everything in it is in PouchDB), ordered with the writes around it. */
  clear(): Promise<void> {
    return this.run({ kind: 'clear' })
  }

  /** Complete entries, in order. */
  async entries(): Promise<string[]> {
    const { size } = await this.fh.stat()
    const buf = Buffer.alloc(size)
    await this.fh.read(buf, 0, size, 0)
    const text = buf.toString('utf8')
    if (text.length === 0) return []
    if (!text.startsWith(HEADER)) throw MALFORMED('append journal has an unknown format')
    const lines = text.slice(HEADER.length).split('\n')
    lines.pop() // the part after the last newline: empty, or a torn write that was never acknowledged
    return lines
  }

  async close(): Promise<void> {
    await this.draining
    await this.fh.close()
  }

  private run(op: Op): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ op, resolve, reject })
      this.draining ??= this.drain()
    })
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.takeBatch()
      try {
        if (batch[0]!.op.kind === 'clear') {
          await this.fh.truncate(0)
          await this.fh.write(HEADER)
        } else {
          await this.fh.write(batch.map((w) => (w.op as { text: string }).text).join(''))
        }
        await this.fh.datasync()
        for (const w of batch) w.resolve()
      } catch (err) {
        for (const w of batch) w.reject(err as Error)
      }
    }
    this.draining = null
  }

  /** Consecutive writes go out together; a clear goes alone. */
  private takeBatch(): Waiter[] {
    if (this.queue[0]!.op.kind === 'clear') return this.queue.splice(0, 1)
    let n = 0
    while (n < this.queue.length && this.queue[n]!.op.kind === 'write') n++
    return this.queue.splice(0, n)
  }
}
