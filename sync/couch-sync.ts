/**
 * Sync with a CouchDB (or any CouchDB-protocol server). The server is not
 * trusted: pulls land in a staging database and only what the ingestion gate
 * admits reaches the vault; each decision leaves a receipt, quarantined input
 * is kept with its reason. Pushes that the server refuses are reported and
 * retried by comparing heads. A server that serves less than it served before
 * (rollback, truncation) is reported and nothing of it is applied.
 */
import { join } from 'node:path'
import type { Vault } from '../core/vault.js'
import type { Db, Doc } from '../core/pouch.js'
import { eventDocId, parseEventDocId } from '../core/store.js'
import type { Verdict } from '../core/ingest.js'
import type { SyncStatus } from '../core/api.js'
import { VaultError } from '../core/errors.js'
import { ensureDesignDoc } from './design-doc.js'
import { openDb, remoteDb, replicate, type Credentials, type Denied } from './remote.js'
import { freshState, loadSyncState, saveSyncState, type SyncState } from './sync-state.js'

export type { SyncStatus }

export const STAGING_DB = 'staging.db'
export const INGEST_DB = 'ingest.db'

export interface SyncRound {
  pulled: number
  admitted: number
  duplicates: number
  quarantined: number
  waiting: number
  pushed: number
  denied: Denied[]
  rollback: string | null
  design: string
}

export interface QuarantineEntry { _id: string; at: string; source: string; docId: string; eventId: string; code: string; reason: string; doc: unknown }

const isEventLike = (id: string) => id.startsWith('ev!') || id.startsWith('fork!')

/** The slot a staged document speaks for (fork evidence speaks for the slot it forks). */
function slotOf(doc: Doc): string | null {
  if (doc._id.startsWith('ev!')) return parseEventDocId(doc._id) ? doc._id : null
  const m = /^fork!([0-9a-f]{64})!(\d{12})!/.exec(doc._id)
  return m ? eventDocId(m[1]!, Number(m[2])) : null
}

export class CouchSync {
  private readonly staging: Db
  private readonly ingestDb: Db
  private state: SyncState
  private online = false

  private constructor(private readonly vault: Vault, private readonly remote: Db, private readonly options: { url: string; credentials?: Credentials; admin?: boolean }, state: SyncState) {
    this.staging = openDb(join(vault.dir, STAGING_DB))
    this.ingestDb = openDb(join(vault.dir, INGEST_DB))
    this.state = state
  }

  static async open(vault: Vault, options: { url: string; credentials?: Credentials; admin?: boolean }): Promise<CouchSync> {
    const prior = await loadSyncState(vault.dir)
    const state = prior && prior.url === options.url ? prior : freshState(options.url, null)
    state.user = options.credentials?.username ?? null
    return new CouchSync(vault, remoteDb(options.url, options.credentials), options, state)
  }

  /** One round: check for rollback, pull into staging, gate, push, retry refused pushes, record. */
  async syncOnce(): Promise<SyncRound> {
    try {
      const round = await this.round()
      this.online = true
      this.state.lastSuccess = new Date().toISOString()
      this.state.lastError = null
      return round
    } catch (err) {
      this.online = false
      this.state.lastError = (err as Error).message
      throw err
    } finally {
      await saveSyncState(this.vault.dir, this.state)
    }
  }

  private async round(): Promise<SyncRound> {
    const info = await this.remote.info() as { error?: string; reason?: string }
    if (info.error) throw new VaultError('BAD_ARGUMENT', `server refused: ${info.reason ?? info.error}`)
    const design = await ensureDesignDoc(this.remote, this.options.admin === true)
    this.state.design = design
    const rollback = await this.checkHighWater()
    const pulled = await replicate(this.remote, this.staging)
    const gate = await this.gate()
    const push = await replicate(this.vault.store.db, this.remote, { filter: (doc: Doc) => isEventLike(doc._id) })
    const retried = await this.pushMissing()
    const denied = [...push.denied, ...retried.denied]
    this.state.denied = denied
    await this.raiseHighWater()
    return {
      pulled: pulled.result.docs_written, ...gate, pushed: push.result.docs_written + retried.pushed,
      denied, rollback, design
    }
  }

  /** Every slot the server held before must still be there, unchanged. */
  private async checkHighWater(): Promise<string | null> {
    const marks = Object.entries(this.state.highWater)
    if (marks.length === 0) return null
    const res = await this.remote.allDocs({ keys: marks.map(([a, h]) => eventDocId(a, h.seq)), include_docs: true })
    const lost = res.rows.filter((r, i) => !r.doc || r.value?.deleted || (r.doc as { id?: string }).id !== marks[i]![1].id)
    if (lost.length === 0) return null
    const message = `the server serves less than it served before: ${lost.length} feed(s) lost events (first: ${lost[0]!.key}); it was rolled back or replaced. Nothing of it was applied here.`
    this.state.lastRollback = { at: new Date().toISOString(), message }
    return message
  }

  /** Pass new and waiting staged documents through the vault's ingestion gate; keep receipts and quarantine. */
  private async gate(): Promise<{ admitted: number; duplicates: number; quarantined: number; waiting: number }> {
    const docs = new Map<string, Doc>()
    for (let since = this.state.gateSeq; ;) {
      const res = await this.staging.changes({ since, limit: 1000, include_docs: true })
      if (res.results.length === 0) break
      for (const c of res.results) if (c.doc && isEventLike(c.id)) docs.set(c.id, c.doc)
      since = res.last_seq
      this.state.gateSeq = since
    }
    if (this.state.waiting.length > 0) {
      const res = await this.staging.allDocs({ keys: this.state.waiting, include_docs: true })
      for (const r of res.rows) if (r.doc && !docs.has(r.id)) docs.set(r.id, r.doc)
    }
    const counts = { admitted: 0, duplicates: 0, quarantined: 0, waiting: 0 }
    if (docs.size === 0) return counts
    const staged = [...docs.values()]
    const quarantine: QuarantineEntry[] = []
    const at = new Date().toISOString()
    const source = this.options.url
    const incoming: { docId: string; raw: unknown; doc: Doc }[] = []
    for (const doc of staged) {
      const slot = slotOf(doc)
      if (!slot || doc._deleted) {
        quarantine.push({ _id: `q!${doc._id}!${doc._rev}`, at, source, docId: doc._id, eventId: '', code: doc._deleted ? 'DELETED' : 'STRAY_DOC', reason: doc._deleted ? 'the server serves a deletion marker for an event; events are never deleted' : 'not an event document', doc })
        continue
      }
      incoming.push({ docId: slot, raw: doc.raw, doc })
    }
    const verdicts: Verdict[] = incoming.length > 0 ? await this.vault.ingest(incoming.map(({ docId, raw }) => ({ docId, raw }))) : []
    const byDoc = new Map<string, Doc[]>()
    for (const x of incoming) byDoc.set(x.docId, [...(byDoc.get(x.docId) ?? []), x.doc])
    const waiting: string[] = []
    for (const v of verdicts) {
      if (v.decision === 'ADMIT') counts.admitted++
      else if (v.decision === 'DUPLICATE') counts.duplicates++
      else if (v.decision === 'WAIT') { counts.waiting++; waiting.push(...(byDoc.get(v.docId) ?? []).map((d) => d._id)) }
      else for (const doc of byDoc.get(v.docId) ?? []) {
        quarantine.push({ _id: `q!${doc._id}!${doc._rev}`, at, source, docId: doc._id, eventId: v.eventId, code: v.code, reason: v.reason, doc })
      }
    }
    counts.quarantined = quarantine.length
    this.state.waiting = [...new Set(waiting)]
    await this.record(verdicts, quarantine, at)
    return counts
  }

  /** Receipts (one document per gate run, one line per input) and quarantine entries, kept for inspection. */
  private async record(verdicts: Verdict[], quarantine: QuarantineEntry[], at: string): Promise<void> {
    const receipt = { _id: `r!${at}!${Math.random().toString(36).slice(2, 10)}`, at, source: this.options.url, verdicts: verdicts.map((v) => [v.docId, v.eventId, v.decision, v.reason]) }
    const existing = await this.ingestDb.allDocs({ keys: quarantine.map((q) => q._id) })
    const fresh = quarantine.filter((_, i) => !existing.rows[i]?.value || existing.rows[i]?.error)
    await this.ingestDb.bulkDocs([receipt, ...fresh] as unknown as Doc[])
  }

  /** Compare heads: any local event the server lacks is sent again; refusals are reported. */
  private async pushMissing(): Promise<{ pushed: number; denied: Denied[] }> {
    const missing: Doc[] = []
    for (const [author, head] of Object.entries(this.vault.heads())) {
      const remote = await this.remote.allDocs({ startkey: `ev!${author}!`, endkey: `ev!${author}!\uffff` })
      const have = new Set(remote.rows.filter((r) => !r.value?.deleted).map((r) => r.id))
      if (have.has(eventDocId(author, head.length)) && have.size >= head.length) continue
      const wanted: string[] = []
      for (let seq = 1; seq <= head.length; seq++) if (!have.has(eventDocId(author, seq))) wanted.push(eventDocId(author, seq))
      const local = await this.vault.store.db.allDocs({ keys: wanted, include_docs: true })
      for (const r of local.rows) if (r.doc) missing.push(r.doc)
    }
    if (missing.length === 0) return { pushed: 0, denied: [] }
    const results = await this.remote.bulkDocs(missing, { new_edits: false })
    const denied = results.filter((r) => r.error).map((r) => ({ id: r.id, reason: String(r.reason ?? r.error) }))
    return { pushed: missing.length - denied.length, denied }
  }

  /** The server now holds our heads: raise the marks a later rollback is measured against. */
  private async raiseHighWater(): Promise<void> {
    const heads = Object.entries(this.vault.heads())
    if (heads.length === 0) return
    const res = await this.remote.allDocs({ keys: heads.map(([a, h]) => eventDocId(a, h.length)), include_docs: true })
    res.rows.forEach((r, i) => {
      const [author, h] = heads[i]!
      if (r.doc && !r.value?.deleted && (r.doc as { id?: string }).id === h.head) this.state.highWater[author] = { seq: h.length, id: h.head }
    })
  }

  async status(): Promise<SyncStatus> {
    return statusOf(this.vault, this.state, this.online, this.ingestDb)
  }

  async close(): Promise<void> {
    await this.staging.close()
    await this.ingestDb.close()
    await this.remote.close()
  }
}

async function statusOf(vault: Vault, state: SyncState | null, online: boolean, ingestDb: Db): Promise<SyncStatus> {
  const local = Object.values(vault.heads()).reduce((n, h) => n + h.length, 0)
  const onServer = Object.entries(vault.heads()).reduce((n, [a]) => n + Math.min(state?.highWater[a]?.seq ?? 0, vault.heads()[a]!.length), 0)
  const q = await ingestDb.allDocs({ startkey: 'q!', endkey: 'q!\uffff' })
  return {
    url: state?.url ?? null, user: state?.user ?? null, online, pendingUp: local - onServer, pendingDown: state?.waiting.length ?? 0,
    quarantine: q.rows.length, lastSuccess: state?.lastSuccess ?? null, lastError: state?.lastError ?? null,
    lastRollback: state?.lastRollback ?? null, denied: state?.denied ?? [], design: state?.design ?? null
  }
}

/** Sync status from what the device recorded, without contacting the server. */
export async function recordedStatus(vault: Vault): Promise<SyncStatus> {
  const ingestDb = openDb(join(vault.dir, INGEST_DB))
  try {
    return await statusOf(vault, await loadSyncState(vault.dir), false, ingestDb)
  } finally {
    await ingestDb.close()
  }
}

/** Quarantined inputs with their reasons, newest first. */
export async function listQuarantine(vault: Vault): Promise<QuarantineEntry[]> {
  const ingestDb = openDb(join(vault.dir, INGEST_DB))
  try {
    const res = await ingestDb.allDocs({ startkey: 'q!', endkey: 'q!\uffff', include_docs: true })
    return res.rows.map((r) => r.doc as unknown as QuarantineEntry).sort((a, b) => (a.at < b.at ? 1 : -1))
  } finally {
    await ingestDb.close()
  }
}
