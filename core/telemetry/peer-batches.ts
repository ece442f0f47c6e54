/**
 * Batches pulled from a peer or server, judged before anything is stored:
 * ADMIT (verified, continues its device's chain), DUPLICATE (held already),
 * WAIT (its predecessor is not here yet) or QUARANTINE with the reason (kept,
 * once per distinct document). This device's own chain takes nothing from
 * outside: a batch there that it never sealed is a fork.
 */
import { createHash, randomBytes } from 'node:crypto'
import { rawBatch, rawGet, type Db, type Doc } from '../pouch.js'
import { VaultError } from '../errors.js'
import { batchId, checkBatch, parseBatchId } from './batch.js'
import type { BatchStore } from './batches.js'
import type { Decision } from './reading.js'

const K_QSEEN = '\xfftq\xff'

export interface AdmitVerdict {
  id: string
  decision: Decision | 'WAIT'
  code?: string
  reason?: string
}

/** What judging a peer's batches uses of the store. */
export interface PeerIntake {
  db: Db
  vaultId: string
  device: string
  /** Every key that was ever a member's (a batch sealed before a key was revoked still verifies). */
  keys: Set<string>
  batches: BatchStore
  receivedAt: string
  /** Write quarantine documents and count their bytes against the budget. */
  record(docs: Doc[]): Promise<void>
}

/** A quarantine document's id: when, and a random tail (two in one millisecond differ). */
export function quarantineId(receivedAt: string): string {
  return `tq!${receivedAt}!${randomBytes(6).toString('hex')}`
}

function quarantineDoc(
  receivedAt: string,
  source: string,
  id: string,
  code: string,
  reason: string,
  raw: unknown
): Doc {
  let text: string
  try {
    text = JSON.stringify(raw) ?? String(raw)
  } catch {
    text = String(raw)
  }
  const receipt = { index: 0, id, stream: null, decision: 'QUARANTINE', code, reason }
  return {
    _id: quarantineId(receivedAt),
    receivedAt,
    source,
    receipt,
    raw: text.slice(0, 4096),
    size: text.length,
    truncated: text.length > 4096
  }
}

export async function admitPeerBatches(ctx: PeerIntake, docs: unknown[], source: string): Promise<AdmitVerdict[]> {
  const verdicts: AdmitVerdict[] = []
  const quarantined: Doc[] = []
  const quarantinedKeys: string[] = []
  const seenQuarantine = new Set<string>()
  const order = docs
    .map((d) => ({ d, slot: parseBatchId(String((d as Doc)?._id ?? '')) }))
    .sort(
      (a, b) => (a.slot?.device ?? '').localeCompare(b.slot?.device ?? '') || (a.slot?.seq ?? 0) - (b.slot?.seq ?? 0)
    )
  const quarantine = async (id: string, code: string, reason: string, d: unknown) => {
    verdicts.push({ id, decision: 'QUARANTINE', code, reason })
    const doc = quarantineDoc(ctx.receivedAt, source, id, code, reason, d)
    // The same forged document seen again (each pull round) is not recorded twice.
    const key = K_QSEEN + createHash('sha256').update(String(doc.raw)).digest('hex')
    if (seenQuarantine.has(key) || (await rawGet(ctx.db, key)) !== null) return
    seenQuarantine.add(key)
    quarantined.push(doc)
    quarantinedKeys.push(key)
  }
  for (const { d } of order) {
    const id = String((d as Doc)?._id ?? '').slice(0, 100)
    let checked
    try {
      checked = checkBatch(d, ctx.vaultId, ctx.keys)
    } catch (err) {
      await quarantine(id, err instanceof VaultError ? err.code : 'MALFORMED', (err as Error).message, d)
      continue
    }
    const { header, hash, doc } = checked
    const held = ctx.batches.get(doc._id)
    if (held) {
      if (held.hash === hash) verdicts.push({ id, decision: 'DUPLICATE', reason: 'this batch is held already' })
      else
        await quarantine(
          id,
          'FORK',
          `conflicts with the batch ${header.seq} of ${header.device.slice(0, 12)}… held here (a fork)`,
          d
        )
      continue
    }
    if (header.device === ctx.device) {
      await quarantine(id, 'FORK', "a batch in this device's own chain that this device never sealed", d)
      continue
    }
    if (header.seq > 1) {
      const prev = ctx.batches.get(batchId(header.device, header.seq - 1))
      if (!prev) {
        verdicts.push({ id, decision: 'WAIT', reason: `waits for batch ${header.seq - 1} of its device` })
        continue
      }
      if (prev.hash !== header.prev) {
        await quarantine(
          id,
          'FORK',
          `does not continue the chain: batch ${header.seq - 1} held here has another hash`,
          d
        )
        continue
      }
    }
    await ctx.batches.putPeer(doc, header, hash)
    verdicts.push({ id, decision: 'ADMIT' })
  }
  if (quarantined.length > 0) {
    await ctx.record(quarantined)
    await rawBatch(
      ctx.db,
      quarantinedKeys.map((key) => ({ type: 'put', key, value: '1' })),
      true
    )
  }
  return verdicts
}
