/**
 * The audit log as a reviewer browses it: every event's id, author, seq,
 * time and type in time order, filtered by type, author and time, paged.
 * Built once from LevelDB's by-sequence store (one sequential read: ~100k
 * events in about a second) and then kept up to date feed by feed from the
 * vault's heads, so paging through 100,000 events costs no scan per page.
 * A derived cache: rebuilt from the events alone, never trusted for checks.
 */
import { storedBodies } from './pouch.js'
import { eventDocId, parseEventDocId } from './store.js'
import type { Vault } from './vault.js'

export interface LogRow {
  id: string
  author: string
  seq: number
  ts: string
  type: string
}
export type Badge = 'verified' | 'unchecked' | 'failed' | 'forked'
export interface LogFilter {
  type?: string
  author?: string
  from?: string
  to?: string
}

/** What the audit log's view reads of the vault. */
export type LogReader = Pick<Vault, 'flush' | 'store' | 'heads' | 'health' | 'state'>

export class LogView {
  private rows: LogRow[] = []
  private readonly lengths = new Map<string, number>()
  private built = false
  private filtered: { key: string; rows: LogRow[] } | null = null

  constructor(private readonly vault: LogReader) {}

  /** Bring the view up to the vault's current heads. */
  async refresh(): Promise<void> {
    await this.vault.flush()
    let added = false
    if (!this.built) {
      const latest = new Map<string, LogRow>()
      for await (const page of storedBodies(this.vault.store.db)) {
        for (const doc of page) {
          const slot = parseEventDocId(doc._id)
          if (!slot || doc._deleted || typeof doc.id !== 'string') continue
          latest.set(doc._id, {
            id: doc.id,
            author: slot.author,
            seq: slot.seq,
            ts: String(doc.ts ?? ''),
            type: String(doc.type ?? '')
          })
        }
      }
      this.rows = [...latest.values()]
      for (const r of this.rows) this.lengths.set(r.author, Math.max(this.lengths.get(r.author) ?? 0, r.seq))
      this.built = true
      added = true
    }
    for (const [author, head] of Object.entries(this.vault.heads())) {
      const known = this.lengths.get(author) ?? 0
      if (head.length <= known) continue
      const ids = Array.from({ length: head.length - known }, (_, i) => eventDocId(author, known + 1 + i))
      for (let i = 0; i < ids.length; i += 1000) {
        for (const doc of await this.vault.store.getMany(ids.slice(i, i + 1000))) {
          if (!doc) continue
          const slot = parseEventDocId(doc._id)!
          this.rows.push({ id: doc.id, author: slot.author, seq: slot.seq, ts: doc.ts, type: doc.type })
        }
      }
      this.lengths.set(author, head.length)
      added = true
    }
    if (added) {
      this.rows.sort((a, b) =>
        a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : a.author < b.author ? -1 : a.author > b.author ? 1 : a.seq - b.seq
      )
      this.filtered = null
    }
  }

  /** Rows matching the filter, in time order. */
  select(filter: LogFilter): LogRow[] {
    const key = JSON.stringify([filter.type, filter.author, filter.from, filter.to])
    if (this.filtered?.key === key) return this.filtered.rows
    const rows = this.rows.filter(
      (r) =>
        (!filter.type || r.type === filter.type) &&
        (!filter.author || r.author === filter.author) &&
        (!filter.from || r.ts >= filter.from) &&
        (!filter.to || r.ts <= filter.to)
    )
    this.filtered = { key, rows }
    return rows
  }

  /** Event types and authors present, for the filter menus. */
  facets(): { types: string[]; authors: string[] } {
    return { types: [...new Set(this.rows.map((r) => r.type))].sort(), authors: [...this.lengths.keys()].sort() }
  }

  /**
   * What the vault knows of a row: named by an issue of the last self-check
   * (failed), signed by a key that forked at or before it (forked: it counts
   * only where another key had acknowledged it), inside a feed the vault
   * holds as verified (checked at boot, by the ingestion gate, or signed
   * here), or neither (not checked yet).
   */
  badge(row: LogRow): Badge {
    const report = this.vault.health.report
    if (report?.issues.some((i) => i.docId === eventDocId(row.author, row.seq))) return 'failed'
    if (this.vault.state.frozen.some((f) => f.key === row.author && row.seq >= f.seq)) return 'forked'
    return row.seq <= (this.vault.heads()[row.author]?.length ?? 0) ? 'verified' : 'unchecked'
  }
}
