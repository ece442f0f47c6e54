/**
 * Store-and-forward of telemetry to the CouchDB telemetry database (its own
 * database beside the events one, so reviewers need not pull it).
 *
 * Forward: this device's sealed batches go up in order, as stored (same id,
 * same revision, `new_edits: false`), so a batch pushed twice is one document
 * on the server: a round cut by an outage is simply run again. The forwarded
 * mark moves only past batches the server accepted, and a server found to
 * have lost batches it acknowledged gets them again (the mark moves back).
 *
 * Pull (review): other devices' batches come down through the telemetry gate
 * (`TelemetryStore.admitBatches`): forged or altered ones are quarantined with
 * the reason; one whose predecessor is missing waits for a later round.
 */
import { join } from 'node:path'
import {
  batchId,
  NOT_FOUND,
  readJsonFileIfExists,
  writeJsonFile,
  type AdmitVerdict,
  type Db,
  type Doc,
  type TelemetryStore
} from '../core/index.js'
import { ensureDesignDoc, type DesignState } from './design-doc.js'
import type { Denied } from './remote.js'
import { oneRevisionEach, withLeaves } from './leaves.js'

/** Batches per request: up to ~1.5 MB each at the default batch size. */
const PUSH_CHUNK = 10
const PULL_STATE = 'sync-telemetry.json'

/** The telemetry database beside an events database: `…/tresor` → `…/tresor-telemetry`. */
export function telemetryUrl(eventsUrl: string): string {
  const u = new URL(eventsUrl)
  u.pathname = u.pathname.replace(/\/+$/, '') + '-telemetry'
  return u.toString().replace(/\/$/, '')
}

export interface ForwardRound {
  /** Batches and readings the server took this round. */
  batches: number
  readings: number
  forwardedSeq: number
  /** Sealed batches still to send. */
  pending: number
  denied: Denied[]
  /** Set when the server had lost batches it had accepted before; they were sent again. */
  resent: string | null
  design: DesignState | null
}

/** The highest n such that the server holds this device's batches 1..n (at most `upTo`). */
async function serverContiguous(remote: Db, device: string, upTo: number): Promise<number> {
  let have = 0
  for (let from = 1; from <= upTo; from += 1000) {
    const to = Math.min(upTo, from + 999)
    const keys = Array.from({ length: to - from + 1 }, (_, i) => batchId(device, from + i))
    const res = await remote.allDocs({ keys })
    for (const row of res.rows) {
      if (row.error || row.value?.deleted) return have
      have++
    }
  }
  return have
}

export async function forwardTelemetry(
  store: TelemetryStore,
  remote: Db,
  opts: { admin?: boolean } = {}
): Promise<ForwardRound> {
  await remote.info().catch((err: { status?: number; message?: string }) => {
    if (err?.status === 404)
      throw NOT_FOUND(
        'the telemetry database does not exist on the server: create it beside the events database (PUT …-telemetry) and give it the same _security'
      )
    throw err
  }) // fails fast while offline
  const design = await ensureDesignDoc(remote, opts.admin === true).catch(() => null)
  const device = store.device
  let mark = store.forwarded
  let resent: string | null = null
  if (mark > 0) {
    const held = await serverContiguous(remote, device, mark)
    if (held < mark) {
      resent = `the server lacks batches ${held + 1}-${mark} it had accepted; sending them again`
      mark = held
      await store.markForwarded(mark)
    }
  }
  let batches = 0,
    readings = 0
  const denied: Denied[] = []
  for (;;) {
    const docs = await store.ownBatches(mark, PUSH_CHUNK)
    if (docs.length === 0) break
    const res = await remote.bulkDocs(docs as unknown as Doc[], { new_edits: false })
    const failed = new Map(res.filter((r) => r.error).map((r) => [r.id, String(r.reason ?? r.error)]))
    let accepted = 0
    for (const d of docs) {
      const reason = failed.get(d._id)
      if (reason !== undefined) {
        denied.push({ id: d._id, reason })
        break
      }
      accepted++
      readings += d.readings.length
    }
    if (accepted > 0) {
      mark += accepted
      batches += accepted
      await store.markForwarded(mark)
    }
    if (denied.length > 0) break
  }
  return { batches, readings, forwardedSeq: mark, pending: store.head.seq - mark, denied, resent, design }
}

export interface PullRound {
  pulled: number
  admitted: number
  duplicates: number
  quarantined: number
  waiting: number
}

/**
 * Judge batches, each revision against its own verdict: a verdict names a batch id, so where a server serves two
 * revisions of one batch they go to the gate in calls of their own (in the order given; one call unless an id repeats).
 */
async function judgeByRevision<T extends { doc: Doc }>(
  store: TelemetryStore,
  entries: T[]
): Promise<{ entry: T; verdict: AdmitVerdict }[]> {
  const out: { entry: T; verdict: AdmitVerdict }[] = []
  for (const layer of oneRevisionEach(entries, (e) => e.doc._id)) {
    const byId = new Map(layer.map((e) => [String(e.doc._id).slice(0, 100), e]))
    for (const verdict of await store.admitBatches(layer.map((e) => e.doc))) {
      const entry = byId.get(verdict.id)
      if (entry) out.push({ entry, verdict })
    }
  }
  return out
}

/**
 * Pull other devices' batches through the gate. A batch that must wait (its
 * predecessor is not here) is judged again at the end of the round, after the
 * rest; the checkpoint stays before the first one still waiting, so a later
 * round sees it again.
 */
export async function pullTelemetry(store: TelemetryStore, remote: Db, url: string): Promise<PullRound> {
  const path = join(store.vault.dir, PULL_STATE)
  const saved = (await readJsonFileIfExists(path, 4096)) as { url?: string; since?: string | number } | null
  let since: string | number = saved?.url === url ? (saved.since ?? 0) : 0
  const round: PullRound = { pulled: 0, admitted: 0, duplicates: 0, quarantined: 0, waiting: 0 }
  let checkpoint: string | number | null = null // before the first waiting batch
  let waiting: Doc[] = []
  const count = (decision: string) => {
    if (decision === 'ADMIT') round.admitted++
    else if (decision === 'DUPLICATE') round.duplicates++
    else if (decision === 'QUARANTINE') round.quarantined++
  }
  for (;;) {
    const changes = await remote.changes({ since, limit: 50, include_docs: true, conflicts: true })
    const entries: { doc: Doc; at: number }[] = []
    for (const [at, c] of changes.results.entries()) {
      if (!c.id.startsWith('tb!') || c.deleted || !c.doc) continue
      for (const doc of await withLeaves(remote, [c.doc])) entries.push({ doc, at }) // every live leaf (sync/leaves.ts)
    }
    round.pulled += entries.length
    for (const { entry, verdict } of await judgeByRevision(store, entries)) {
      if (verdict.decision !== 'WAIT') {
        count(verdict.decision)
        continue
      }
      if (checkpoint === null) checkpoint = entry.at > 0 ? changes.results[entry.at - 1]!.seq : since
      waiting.push(entry.doc)
    }
    if (changes.results.length === 0) break
    since = changes.last_seq
  }
  // Those that waited on a batch later in the feed: judge again until nothing moves.
  for (let progress = true; progress && waiting.length > 0;) {
    const judged = await judgeByRevision(
      store,
      waiting.map((doc) => ({ doc, at: 0 }))
    )
    const still = judged.filter((j) => j.verdict.decision === 'WAIT').map((j) => j.entry.doc)
    progress = still.length < waiting.length
    for (const j of judged) if (j.verdict.decision !== 'WAIT') count(j.verdict.decision)
    waiting = still
  }
  round.waiting = waiting.length
  await writeJsonFile(path, { url, since: waiting.length > 0 && checkpoint !== null ? checkpoint : since })
  return round
}
