/**
 * Document blobs through CouchDB (issue 17): each blob one write-once document `blob!<sha256>` holding its bytes
 * as the attachment `data` (the design document refuses updates and deletions from non-admins). Pushed: the blobs
 * this device holds that the vault's documents need and the server lacks. Pulled: replication brings them into
 * staging like every other document; each blob the vault needs and this device lacks goes through the blob gate
 * (core/documents/blob-exchange.ts) — named by a plan, of its size, hashing to its name — or into quarantine.
 */
import { blobExchangeOf, type Db, type Doc, type Vault } from '../core/index.js'
import { unwrap, type Denied } from './remote.js'

export const BLOB_PREFIX = 'blob!'
export const blobDocId = (digest: string) => `${BLOB_PREFIX}${digest}`

interface AttachmentDb {
  get(
    id: string,
    opts: { attachments: boolean; binary: boolean }
  ): Promise<Doc & { _attachments?: Record<string, { data?: unknown; length?: number }> }>
  put(doc: unknown): Promise<{ ok?: boolean }>
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
  const held = (await x.held()).filter((d) => !known.has(d))
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
  for (const digest of lacking) {
    const bytes = await x.blobs.get(digest)
    try {
      await raw(remote).put({
        _id: blobDocId(digest),
        type: 'tresor-blob',
        v: 1,
        digest,
        size: sizes.get(digest)?.size ?? bytes.length,
        _attachments: { data: { content_type: 'application/octet-stream', data: bytes } }
      })
      pushed++
      known.add(digest)
    } catch (err) {
      denied.push({
        id: blobDocId(digest),
        reason: String((err as { reason?: string }).reason ?? (err as Error).message)
      })
    }
  }
  return { pushed, denied }
}

/**
 * Take what staging holds of the blobs this device lacks, each through the gate. `judged` keeps the revisions already
 * refused (a tampered blob is quarantined once, not every round).
 */
export async function takeBlobs(
  vault: Vault,
  staging: Db,
  source: string,
  judged: Set<string>
): Promise<{ pulled: number; quarantined: number }> {
  const x = blobExchangeOf(vault)
  const missing = await x.missing()
  let pulled = 0
  let quarantined = 0
  if (missing.length === 0) return { pulled, quarantined }
  const staged = await staging.allDocs({ keys: missing.map(blobDocId) })
  for (const [i, digest] of missing.entries()) {
    const row = staged.rows[i]
    if (!row || row.error || !row.value || row.value.deleted) continue
    const mark = `${row.id}@${row.value.rev}`
    if (judged.has(mark)) continue
    const doc = await raw(staging).get(row.id, { attachments: true, binary: true })
    const data = doc._attachments?.data?.data
    const bytes = Buffer.isBuffer(data) ? data : Buffer.alloc(0)
    const verdict = await x.accept(digest, bytes, source)
    if (verdict === 'ADMIT') pulled++
    else if (verdict !== 'DUPLICATE') {
      judged.add(mark)
      if (verdict !== 'KNOWN') quarantined++
    }
  }
  return { pulled, quarantined }
}
