/**
 * The append journal: a write-ahead file in front of PouchDB. An append is
 * acknowledged once its signed bytes are in this file and fdatasync'd (one
 * sync for every append waiting at that moment: group commit); PouchDB is
 * then written in batches behind it. On open, journal entries that PouchDB
 * lacks are re-verified and indexed, so an acknowledged append is never lost.
 *
 * The file is written with synchronous calls: one fdatasync blocks the event
 * loop for a fraction of a millisecond, which costs less than the two thread
 * pool round trips of the asynchronous calls (measured: about 2-3x the rate).
 * Writes queued in the same turn of the event loop share one fdatasync.
 *
 * Format v1: a header line `{"format":"tresor-journal","v":1}`, then one
 * canonical signed event per line. A torn last line (crash mid-write) was
 * never acknowledged and is ignored.
 */
import { closeSync, fdatasyncSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs'
import { MALFORMED } from './errors.js'

export const JOURNAL_FILE = 'append.journal'
const HEADER = journalHeader('tresor-journal', 1)

/** The first line of a journal file: its format name and version. */
export function journalHeader(format: string, v: number): string {
  return `{"format":"${format}","v":${v}}\n`
}

type Op = { kind: 'write'; text: string } | { kind: 'clear' }
interface Waiter {
  op: Op
  resolve: () => void
  reject: (err: Error) => void
}

export class Journal {
  private queue: Waiter[] = []
  private scheduled = false
  private closed = false

  private constructor(
    private readonly fd: number,
    private readonly header: string
  ) {}

  static async open(path: string, header: string = HEADER): Promise<Journal> {
    const journal = new Journal(openSync(path, 'a+', 0o600), header)
    if (fstatSync(journal.fd).size === 0) await journal.run({ kind: 'write', text: header })
    return journal
  }

  /** Durably append lines (each ends with a newline). Resolves after fdatasync. */
  append(text: string): Promise<void> {
    return this.run({ kind: 'write', text })
  }

  /**
   * Whether the file holds its header and nothing else: no entry, and no torn tail a later append would run into. Such
   * a journal needs no clear (an open of a vault whose last close ended well writes nothing and syncs nothing).
   */
  holdsNothing(): boolean {
    return this.queue.length === 0 && fstatSync(this.fd).size === Buffer.byteLength(this.header)
  }

  /** Empty the journal (after everything in it is in PouchDB), ordered with the writes around it. */
  clear(): Promise<void> {
    return this.run({ kind: 'clear' })
  }

  /** Complete entries, in order. */
  async entries(): Promise<string[]> {
    const { size } = fstatSync(this.fd)
    const buf = Buffer.alloc(size)
    let off = 0
    while (off < size) off += readSync(this.fd, buf, off, size - off, off)
    const text = buf.toString('utf8')
    if (text.length === 0) return []
    if (!text.startsWith(this.header))
      throw MALFORMED(`journal ${this.header.trim()} expected: the file has an unknown format`)
    const lines = text.slice(this.header.length).split('\n')
    lines.pop() // the part after the last newline: empty, or a torn write that was never acknowledged
    return lines
  }

  async close(): Promise<void> {
    this.drain()
    this.closed = true
    closeSync(this.fd)
  }

  private run(op: Op): Promise<void> {
    if (this.closed) return Promise.reject(new Error('append journal is closed'))
    return new Promise((resolve, reject) => {
      this.queue.push({ op, resolve, reject })
      if (!this.scheduled) {
        this.scheduled = true
        setImmediate(() => this.drain())
      }
    })
  }

  private drain(): void {
    this.scheduled = false
    while (this.queue.length > 0) {
      const batch = this.takeBatch()
      const before = fstatSync(this.fd).size
      try {
        if (batch[0]!.op.kind === 'clear') {
          ftruncateSync(this.fd, 0)
          writeAll(this.fd, this.header)
        } else {
          writeAll(this.fd, batch.map((w) => (w.op as { text: string }).text).join(''))
        }
        fdatasyncSync(this.fd)
        for (const w of batch) w.resolve()
      } catch (err) {
        // A write cut short (a full disk) leaves nothing half-written behind: the next append starts on a clean line.
        try {
          if (batch[0]!.op.kind !== 'clear') ftruncateSync(this.fd, before)
        } catch {
          /* the file is as the error left it */
        }
        for (const w of batch) w.reject(err as Error)
      }
    }
  }

  /** Consecutive writes go out together; a clear goes alone. */
  private takeBatch(): Waiter[] {
    if (this.queue[0]!.op.kind === 'clear') return this.queue.splice(0, 1)
    let n = 0
    while (n < this.queue.length && this.queue[n]!.op.kind === 'write') n++
    return this.queue.splice(0, n)
  }
}

function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text, 'utf8')
  let off = 0
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off)
}
