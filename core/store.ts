/**
 * The event log on PouchDB: one append-only feed per author key.
 * Doc ids are `ev!<author>!<seq>`, so an (author, seq) slot can hold one event
 * and the id order is feed order. Documents are write-once: this API has no
 * update and no delete. Any other revision seen later is tampering.
 */
import { syncBarrier, type Doc, type GuardedDb } from './pouch.js'
import type { DecodedEvent } from './envelope.js'
import { ALREADY_EXISTS, BAD_ARGUMENT } from './errors.js'
import { EVENT_PREFIX, FORK_PREFIX, SEQ_DIGITS, eventDocId, idRange, parseEventDocId } from './formats.js'

export { EVENT_PREFIX, FORK_PREFIX, eventDocId, parseEventDocId }

/** The stored form of an event. `raw` is the signed canonical JSON; the rest are index hints, re-checked on verify. */
export interface EventDoc {
  _id: string
  _rev?: string
  _deleted?: boolean
  raw: string
  id: string
  type: string
  ts: string
}

/** Consecutive slots from which a read by range beats one by keys. */
const RUN_MIN = 4

export class LogStore {
  readonly db: GuardedDb
  private readBarrier: (() => Promise<void>) | null = null

  constructor(db: GuardedDb) {
    this.db = db
  }

  /**
   * Reads wait for `barrier` first. The vault sets it to "index every
   * acknowledged append", so nobody reading the store can miss an append that
   * was acknowledged (from the journal) but not yet written to PouchDB.
   */
  setReadBarrier(barrier: () => Promise<void>): void {
    this.readBarrier = barrier
  }

  private async settled(): Promise<void> {
    if (this.readBarrier) await this.readBarrier()
  }

  /** Append one event into its slot. Durable when it resolves. */
  async put(decoded: DecodedEvent): Promise<void> {
    await this.putMany([decoded])
  }

  /**
   * Append several events at once; every slot must be empty. Durable when it
   * resolves, unless `durable: false` (the caller then holds the events durably
   * elsewhere, e.g. the append journal, and calls `barrier()` later).
   */
  async putMany(events: DecodedEvent[], options: { durable?: boolean } = {}): Promise<void> {
    if (events.length === 0) return
    const docs = events.map(toDoc)
    const results = await this.db.bulkDocs(docs as never[])
    if (options.durable !== false) await this.barrier()
    const taken = results.filter((r) => 'error' in r && r.error)
    if (taken.length > 0) {
      throw ALREADY_EXISTS(`slot already holds an event: ${taken.map((r) => r.id).join(', ')}`)
    }
  }

  /** Every write so far is on disk when this resolves. */
  barrier(): Promise<void> {
    return syncBarrier(this.db)
  }

  /** Keep a second, different event for a taken slot as fork evidence. */
  async putForkEvidence(decoded: DecodedEvent): Promise<void> {
    const { author, seq } = decoded.event
    const doc = {
      ...toDoc(decoded),
      _id: `${FORK_PREFIX}${author}!${String(seq).padStart(SEQ_DIGITS, '0')}!${decoded.id}`
    }
    try {
      await this.db.put(doc as never)
      await this.barrier()
    } catch (err) {
      if ((err as { status?: number }).status !== 409) throw err // already kept
    }
  }

  /** For each (author, seq): the id of the event in its slot, or null for an empty slot. */
  async idsAt(slots: { author: string; seq: number }[]): Promise<(string | null)[]> {
    await this.settled()
    const docs = await this.byIds(slots.map((s) => eventDocId(s.author, s.seq)))
    return docs.map((d) => (d ? String((d as unknown as EventDoc).id) : null))
  }

  /** Several event docs by doc id, in order; null where absent. */
  async getMany(docIds: string[]): Promise<(EventDoc | null)[]> {
    await this.settled()
    return (await this.byIds(docIds)) as unknown as (EventDoc | null)[]
  }

  /**
   * Documents by id, in the order given, null where absent or deleted. A run of consecutive slots of one feed is read
   * as one range (one LevelDB iterator); PouchDB reads `keys` with an iterator and a stream per key, which cost a
   * push of 50,000 events 4.3 s of its 16 s. The rest go by `keys`.
   */
  private async byIds(docIds: string[]): Promise<(Doc | null)[]> {
    const out: (Doc | null)[] = new Array<Doc | null>(docIds.length).fill(null)
    const single: number[] = []
    const reads: Promise<void>[] = []
    for (let i = 0; i < docIds.length;) {
      const first = parseEventDocId(docIds[i]!)
      let j = i + 1
      while (first && j < docIds.length) {
        const next = parseEventDocId(docIds[j]!)
        if (!next || next.author !== first.author || next.seq !== first.seq + (j - i)) break
        j++
      }
      if (j - i < RUN_MIN) {
        for (let k = i; k < j; k++) single.push(k)
      } else {
        const [from, to] = [i, j]
        reads.push(
          this.db.allDocs({ startkey: docIds[i]!, endkey: docIds[j - 1]!, include_docs: true }).then((res) => {
            const at = new Map(res.rows.map((r) => [r.id, r]))
            for (let k = from; k < to; k++) {
              const r = at.get(docIds[k]!)
              out[k] = r?.doc && !r.value?.deleted ? r.doc : null
            }
          })
        )
      }
      i = j
    }
    if (single.length > 0)
      reads.push(
        this.db.allDocs({ keys: single.map((k) => docIds[k]!), include_docs: true }).then((res) => {
          res.rows.forEach((r, n) => {
            out[single[n]!] = r.doc && !r.value?.deleted ? r.doc : null
          })
        })
      )
    await Promise.all(reads)
    return out
  }

  /**
   * Events `from`..`to` (1-based, inclusive) of `author`'s feed, in pages of one range read each (one LevelDB
   * iterator: much cheaper than asking for the ids one by one). Empty slots are skipped.
   */
  async *range(author: string, from: number, to: number, pageSize = 1000): AsyncGenerator<EventDoc[]> {
    await this.settled()
    for (let seq = Math.max(1, from); seq <= to; seq += pageSize) {
      const res = await this.db.allDocs({
        startkey: eventDocId(author, seq),
        endkey: eventDocId(author, Math.min(to, seq + pageSize - 1)),
        include_docs: true
      })
      yield res.rows.flatMap((r) => (r.doc && !r.value?.deleted ? [r.doc as unknown as EventDoc] : []))
    }
  }

  async get(author: string, seq: number): Promise<EventDoc | null> {
    await this.settled()
    try {
      return (await this.db.get(eventDocId(author, seq))) as unknown as EventDoc
    } catch (err) {
      if ((err as { status?: number }).status === 404) return null
      throw err
    }
  }

  /** Stream stored event docs in id order (feed by feed, seq ascending), in pages. */
  async *scan(options: { prefix?: string; pageSize?: number } = {}): AsyncGenerator<EventDoc[]> {
    const prefix = options.prefix ?? EVENT_PREFIX
    const pageSize = options.pageSize ?? 1000
    if (pageSize < 1) throw BAD_ARGUMENT('pageSize must be positive')
    await this.settled()
    let startkey = prefix
    let skip = 0
    for (;;) {
      const res = await this.db.allDocs({
        startkey,
        endkey: `${prefix}\uffff`,
        limit: pageSize,
        skip,
        include_docs: true
      })
      if (res.rows.length === 0) return
      yield res.rows.map((r) => r.doc as unknown as EventDoc)
      if (res.rows.length < pageSize) return
      startkey = res.rows[res.rows.length - 1]!.id
      skip = 1
    }
  }

  /** Doc ids of every piece of fork evidence held (what a peer should also hold). */
  async forkIds(): Promise<string[]> {
    await this.settled()
    return (await this.db.allDocs(idRange(FORK_PREFIX))).rows.map((r) => r.id)
  }

  /**
   * The stored documents themselves, with their revisions, as replication
   * sends them (a peer that receives them with new_edits: false holds the same
   * revision this device holds). Absent ids are left out.
   */
  async docsForPeer(docIds: string[]): Promise<Doc[]> {
    await this.settled()
    if (docIds.length === 0) return []
    return (await this.byIds(docIds)).filter((d): d is Doc => d !== null)
  }

  async count(): Promise<number> {
    await this.settled()
    const info = await this.db.info()
    return info.doc_count
  }

  async updateSeq(): Promise<number> {
    await this.settled()
    const info = await this.db.info()
    return Number(info.update_seq)
  }

  async close(): Promise<void> {
    await this.db.close()
  }
}

function toDoc(decoded: DecodedEvent): EventDoc {
  const { event } = decoded
  return { _id: eventDocId(event.author, event.seq), raw: decoded.raw, id: decoded.id, type: event.type, ts: event.ts }
}
