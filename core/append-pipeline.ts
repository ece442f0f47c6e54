/**
 * Durable appends at journal speed: an event is acknowledged when the journal
 * has it on disk; PouchDB receives events in batches behind it. Readers call
 * `flush()` first so PouchDB holds everything that was acknowledged.
 */
import { Journal, JOURNAL_FILE } from './journal.js'
import type { LogStore } from './store.js'
import { decodeEvent, type DecodedEvent } from './envelope.js'
import { join } from 'node:path'
import { STORAGE_DAMAGED, STORAGE_FULL, VaultError } from './errors.js'

/** Index after this many acknowledged events, or after this long idle. */
const INDEX_BATCH = 1000
const INDEX_DELAY_MS = 20
/** Empty the journal when it grows past this and PouchDB has caught up. */
const JOURNAL_CLEAR_BYTES = 1 << 20

export class AppendPipeline {
  private unindexed: DecodedEvent[] = []
  /** Events given to the journal and not yet in PouchDB: the journal may be cleared only at zero. */
  private outstanding = 0
  private journalBytes = 0
  private indexing: Promise<void> | null = null
  private timer: NodeJS.Timeout | null = null
  private failure: Error | null = null
  private healing = false
  private readonly writing = new Set<Promise<void>>()

  private constructor(
    private readonly store: LogStore | null,
    private readonly journal: Journal
  ) {}

  /**
   * Open the journal in `dir` and index into `store` whatever it holds that
   * PouchDB lacks. Entries are verified first (the file is not trusted): one
   * that does not verify is not applied and is counted in `rejected`; one that
   * disagrees with the event in its slot is kept as fork evidence.
   */
  static async open(
    dir: string,
    store: LogStore,
    vaultId: string
  ): Promise<{ pipeline: AppendPipeline; recovered: number; rejected: number }> {
    const journal = await Journal.open(join(dir, JOURNAL_FILE))
    const lines = await journal.entries()
    let recovered = 0,
      rejected = 0
    for (let i = 0; i < lines.length; i += 1000) {
      const decoded: DecodedEvent[] = []
      for (const raw of lines.slice(i, i + 1000)) {
        try {
          decoded.push(decodeEvent(raw, vaultId))
        } catch {
          rejected++
        }
      }
      const ids = await store.idsAt(decoded.map((d) => d.event))
      const missing = decoded.filter((_, k) => ids[k] === null)
      for (const [k, d] of decoded.entries()) if (ids[k] !== null && ids[k] !== d.id) await store.putForkEvidence(d)
      await store.putMany(missing)
      recovered += missing.length
    }
    // A journal with entries that do not verify is kept as evidence; one with nothing in it is left as it is.
    if (rejected === 0 && !journal.holdsNothing()) await journal.clear()
    return { pipeline: new AppendPipeline(store, journal), recovered, rejected }
  }

  /**
   * The journal opened and left alone (the database is damaged): nothing is
   * replayed, cleared or appended, so whatever it holds stays for recovery.
   */
  static async hold(dir: string, damage: VaultError | null): Promise<AppendPipeline> {
    const journal = await Journal.open(join(dir, JOURNAL_FILE))
    const pipeline = new AppendPipeline(null, journal)
    pipeline.failure =
      damage ?? STORAGE_DAMAGED('the database is damaged: appends are refused until it is recovered (tresor recover)')
    return pipeline
  }

  /** Why appends are refused, if they are (a write failed). */
  get failed(): Error | null {
    return this.failure
  }

  /**
   * After a write failed (a full disk): open the database again, index what
   * the journal holds that PouchDB lacks, and take appends again. Throws
   * (and stays failed) if the disk still refuses. A damaged database does
   * not heal here: that is `tresor recover`.
   */
  async heal(vaultId: string): Promise<void> {
    if (!this.failure || !this.store) return
    if ((this.failure as VaultError).code === 'STORAGE_DAMAGED' || this.store.db.damage) return
    const failure = this.failure
    this.failure = null
    this.healing = true
    try {
      await Promise.allSettled([...this.writing])
      await this.store.db.reopen()
      this.unindexed = []
      const lines = await this.journal.entries()
      const decoded: DecodedEvent[] = []
      for (const raw of lines) {
        try {
          decoded.push(decodeEvent(raw, vaultId))
        } catch {
          /* judged when the vault next opens */
        }
      }
      for (let i = 0; i < decoded.length; i += 1000) {
        const batch = decoded.slice(i, i + 1000)
        const ids = await this.store.idsAt(batch.map((d) => d.event))
        await this.store.putMany(batch.filter((_, k) => ids[k] === null))
      }
      this.outstanding = 0
    } catch (err) {
      this.failure = failure
      throw err
    } finally {
      this.healing = false
    }
  }

  /** Resolves once the event is durable (journal fdatasync); PouchDB follows. */
  async submit(decoded: DecodedEvent): Promise<void> {
    if (this.failure) throw this.failure
    if (this.healing) throw STORAGE_FULL('the vault is recovering from a failed write: try again in a moment')
    this.outstanding++
    this.journalBytes += decoded.raw.length + 1
    const write = this.journal.append(decoded.raw + '\n')
    this.writing.add(write)
    try {
      await write
    } catch (err) {
      this.outstanding--
      this.failure = err as Error
      throw err
    } finally {
      this.writing.delete(write)
    }
    this.unindexed.push(decoded)
    // Indexing failures are kept in this.failure and surface on the next flush/append; the catches only end promises.
    if (this.unindexed.length >= INDEX_BATCH) {
      void this.index().catch(() => undefined) // recorded in this.failure
    } else {
      this.timer ??= setTimeout(() => {
        this.timer = null
        void this.index().catch(() => undefined) // recorded in this.failure
      }, INDEX_DELAY_MS)
    }
  }

  /** Everything acknowledged so far is in PouchDB when this resolves. */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.writing])
    if (this.store) await this.index()
    if (this.failure) throw this.failure
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    try {
      if (this.store) {
        // What cannot be indexed now (a damaged or full database) stays in the journal for the next open.
        const flushed = await this.flush().then(
          () => true,
          () => false
        )
        // A journal with nothing in it (nothing appended since its last clear) needs neither the sync nor the clear.
        const clear = flushed && this.outstanding === 0 && !this.journal.holdsNothing()
        // Clearing needs the database durable first; when it is not, the journal stays (replaying it is harmless).
        if (clear) await this.clearJournal().catch(() => undefined)
      }
    } finally {
      await this.journal.close()
    }
  }

  /** PouchDB's copy is made durable first: only then may the journal forget. */
  private async clearJournal(): Promise<void> {
    this.journalBytes = 0
    await this.store!.barrier()
    await this.journal.clear()
  }

  private index(): Promise<void> {
    this.indexing ??= this.indexLoop().finally(() => {
      this.indexing = null
    })
    return this.indexing
  }

  private async indexLoop(): Promise<void> {
    while (this.unindexed.length > 0) {
      const batch = this.unindexed.splice(0, 1000)
      try {
        await this.store!.putMany(batch, { durable: false }) // the journal holds them durably
      } catch (err) {
        this.failure = err as Error
        throw err
      }
      this.outstanding -= batch.length
    }
    if (this.outstanding === 0 && this.journalBytes > JOURNAL_CLEAR_BYTES) await this.clearJournal()
  }
}
