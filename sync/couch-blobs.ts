/**
 * Document blobs through CouchDB (issue 17): each blob one write-once document `blob!<sha256>` holding its bytes
 * as the attachment `data` (the design document refuses updates and deletions from non-admins). Pushed: the blobs
 * this device holds that the vault's documents need and the server lacks. Pulled: read from staging (where a
 * follower's replication writes them) and from the server (a round reads them there, by id); each blob the vault
 * needs and this device lacks goes through the blob gate
 * (core/documents/blob-exchange.ts) — named by a plan, of its size, hashing to its name — or into quarantine.
 */
import { blobExchangeOf, syncFolders, type Db, type Doc, type Vault } from '../core/index.js'
import { unwrap, type Denied } from './remote.js'

export const BLOB_PREFIX = 'blob!'
export const blobDocId = (digest: string) => `${BLOB_PREFIX}${digest}`

type BlobDoc = Doc & { _attachments?: Record<string, { data?: unknown }>; _conflicts?: unknown }
interface AttachmentDb {
  allDocs(opts: { keys: string[]; include_docs: true; attachments: true; binary: true; conflicts: true }): Promise<{
    rows: { id: string; doc?: BlobDoc; value?: { rev: string; deleted?: boolean } }[]
  }>
  get(id: string, opts: { rev: string; attachments: true; binary: true }): Promise<BlobDoc>
}
const raw = (db: Db) => unwrap(db) as unknown as AttachmentDb

export interface BlobRound {
  pulled: number
  pushed: number
  quarantined: number
  denied: Denied[]
}

/**
 * Send every blob the server lacks that this device holds and the documents need. `known` holds the blobs the server
 * was seen to hold (not asked again; a new round starts with an empty set).
 */
export async function pushBlobs(
  vault: Vault,
  remote: Db,
  known: Set<string>
): Promise<{ pushed: number; denied: Denied[] }> {
  const x = blobExchangeOf(vault)
  // what the server was seen to hold is not looked for again: this runs after every push of the live sync
  const held = await x.held(false, known)
  const denied: Denied[] = []
  let pushed = 0
  if (held.length === 0) return { pushed, denied }
  const have = await remote.allDocs({ keys: held.map(blobDocId) })
  const lacking = held.filter((d, i) => {
    const r = have.rows[i]
    const lacks = !r || r.error || !r.value || r.value.deleted
    if (!lacks) known.add(d)
    return lacks
  })
  const sizes = await x.wanted()
  // in batches of at most 64 blobs or 16 MiB: one request each, as replication sends documents
  for (let i = 0; i < lacking.length;) {
    const batch: { digest: string; bytes: Buffer }[] = []
    let bytes = 0
    while (i < lacking.length && batch.length < 64 && (batch.length === 0 || bytes < 16 * 2 ** 20)) {
      const digest = lacking[i++]!
      const b = await x.blobs.get(digest)
      batch.push({ digest, bytes: b })
      bytes += b.length
    }
    const results = await remote.bulkDocs(
      batch.map(({ digest, bytes: b }) => ({
        _id: blobDocId(digest),
        type: 'tresor-blob',
        v: 1,
        digest,
        size: sizes.get(digest)?.size ?? b.length,
        _attachments: { data: { content_type: 'application/octet-stream', data: b.toString('base64') } }
      })) as unknown as Doc[]
    )
    results.forEach((r, k) => {
      if (r.error) denied.push({ id: r.id, reason: String(r.reason ?? r.error) })
      else {
        pushed++
        known.add(batch[k]!.digest)
      }
    })
  }
  return { pushed, denied }
}

/**
 * Take what `held` (staging, or the server itself) holds of the blobs this device lacks, each through the gate.
 * `judged` keeps the revisions already refused (a tampered blob is quarantined once, not every round).
 */
export async function takeBlobs(
  vault: Vault,
  held: Db,
  source: string,
  judged: Set<string>
): Promise<{ pulled: number; quarantined: number }> {
  const x = blobExchangeOf(vault)
  const missing = await x.missing()
  let pulled = 0
  let quarantined = 0
  if (missing.length === 0) return { pulled, quarantined }
  const folders = new Set<string>()
  for (let i = 0; i < missing.length; i += 32) {
    const keys = missing.slice(i, i + 32).map(blobDocId)
    const db = raw(held)
    const staged = await db.allDocs({ keys, include_docs: true, attachments: true, binary: true, conflicts: true })
    for (const row of staged.rows) {
      if (!row.doc || !row.value || row.value.deleted) continue // not staged (yet)
      // Every live leaf, not only the one PouchDB shows: a server can add a forged leaf chosen to win.
      const others = Array.isArray(row.doc._conflicts) ? row.doc._conflicts.filter((r) => typeof r === 'string') : []
      for (const rev of [row.value.rev, ...others]) {
        const mark = `${row.id}@${rev}`
        if (judged.has(mark)) continue
        const doc = rev === row.value.rev ? row.doc : await db.get(row.id, { rev, attachments: true, binary: true })
        const data = doc._attachments?.data?.data
        const bytes = Buffer.isBuffer(data) ? data : Buffer.alloc(0)
        const verdict = await x.accept(row.id.slice(BLOB_PREFIX.length), bytes, source, folders)
        if (verdict === 'ADMIT' || verdict === 'DUPLICATE') {
          if (verdict === 'ADMIT') pulled++
          break // held now: the other leaves are not needed
        }
        judged.add(mark)
        if (verdict !== 'KNOWN') quarantined++
      }
    }
  }
  await syncFolders(folders) // what was kept is durable before the round reports it
  return { pulled, quarantined }
}
