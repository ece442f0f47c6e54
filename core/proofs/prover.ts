/**
 * Making checkpoints and proofs from a vault's log. Reads the store in one
 * sequential scan (LevelDB's by-sequence bodies), trusting the stored event
 * ids because the vault has verified them: a vault that is READ-ONLY makes
 * neither checkpoints nor proofs.
 */
import { canonicalize } from '../canonical.js'
import { toHex } from '../bytes.js'
import { storedBodies, type Doc } from '../pouch.js'
import { parseEventDocId, eventDocId } from '../store.js'
import { BAD_ARGUMENT, NOT_FOUND } from '../errors.js'

/**
 * What proofs read of the vault: the verified log, its heads and checkpoints, and (to sign a checkpoint) its append.
 */
export type ProverVault = LogHolder
/** To sign one: that, and the vault's append, state and key. */
export type CheckpointVault = Appender & Pick<Vault, 'signDetached' | 'device'>
import { join } from 'node:path'
import type { Appender, LogHolder } from '../vault-views.js'
import type { Vault } from '../vault.js'
import { fromHex } from '../bytes.js'
import { noteSignatureLine } from '../signed-note.js'
import { feedOrigin } from './tlog.js'
import { settingValueOf } from '../settings.js'
import { readJsonFileIfExists, writeJsonFile } from '../files.js'
import type { DecodedEvent } from '../envelope.js'
import {
  checkpointPayload,
  CHECKPOINT_TYPE,
  eventLeaf,
  feedCheckpointText,
  recordText,
  type CheckpointPayload
} from './checkpoint.js'
import { consistencyProof, inclusionProof, type Hash } from './merkle.js'
import { PROOF_FORMAT, type ConsistencyProofFile, type InclusionProofFile } from './proof-file.js'

export interface LogIndex {
  leaves: Map<string, Hash[]>
  slots: Map<string, { author: string; seq: number }>
  /** Checkpoint events, oldest first. */
  checkpoints: { id: string; raw: string; author: string; seq: number; payload: CheckpointPayload }[]
}

/** Leaves of every feed (up to its verified length), where each event id sits, and the checkpoints. */
export async function indexLog(vault: ProverVault): Promise<LogIndex> {
  vault.assertWritable('a proof from a log that does not verify')
  await vault.flush()
  const heads = vault.heads()
  const leaves = new Map<string, Hash[]>()
  const slots = new Map<string, { author: string; seq: number }>()
  const checkpoints: LogIndex['checkpoints'] = []
  for await (const page of storedBodies(vault.store.db)) {
    for (const doc of page as (Doc & { id?: string; raw?: string; type?: string })[]) {
      const slot = parseEventDocId(doc._id)
      if (!slot || doc._deleted || !doc._rev?.startsWith('1-') || slot.seq > (heads[slot.author]?.length ?? 0)) continue
      const list = leaves.get(slot.author) ?? []
      list[slot.seq - 1] = eventLeaf(String(doc.id))
      leaves.set(slot.author, list)
      slots.set(String(doc.id), slot)
      if (doc.type === CHECKPOINT_TYPE) {
        const event = JSON.parse(String(doc.raw)) as DecodedEvent['event']
        checkpoints.push({
          id: String(doc.id),
          raw: String(doc.raw),
          author: slot.author,
          seq: slot.seq,
          payload: event.payload as unknown as CheckpointPayload
        })
      }
    }
  }
  checkpoints.sort(
    (a, b) =>
      a.payload.feeds.reduce((n, f) => n + f.length, 0) - b.payload.feeds.reduce((n, f) => n + f.length, 0) ||
      (a.id < b.id ? -1 : 1)
  )
  return { leaves, slots, checkpoints }
}

/** Sign a checkpoint over every feed as this device holds it now. */
export async function makeCheckpoint(vault: CheckpointVault): Promise<{ id: string; payload: CheckpointPayload }> {
  const { leaves } = await indexLog(vault)
  const lengths = Object.fromEntries(Object.entries(vault.heads()).map(([a, h]) => [a, h.length]))
  const payload = checkpointPayload(leaves, lengths)
  // The same statements as signed notes, under this device's feed origin (checkpoint format 2).
  const origin = feedOrigin(vault.vaultId, vault.device)
  const note = (text: string) =>
    `${text}\n${noteSignatureLine(text, origin, fromHex(vault.device, 32)!, (m) => vault.signDetached(m))}`
  payload.checkpoint = note(feedCheckpointText(vault.vaultId, vault.device, payload))
  payload.record = note(recordText(vault.vaultId, payload))
  const d = await vault.append(CHECKPOINT_TYPE, payload as never)
  return { id: d.id, payload }
}

function base(vault: ProverVault) {
  const gov = vault.governanceEvents()
  const genesis = gov.find((e) => e.id === vault.vaultId)
  if (!genesis) throw NOT_FOUND('the genesis event is not loaded')
  return {
    format: PROOF_FORMAT as typeof PROOF_FORMAT,
    v: 1 as const,
    vault: vault.vaultId,
    genesis: canonicalize(genesis.event),
    gov: gov.filter((e) => e !== genesis).map((e) => canonicalize(e.event))
  }
}

async function rawOf(vault: ProverVault, slot: { author: string; seq: number }): Promise<string> {
  const doc = await vault.store.get(slot.author, slot.seq)
  if (!doc) throw NOT_FOUND(`no event at ${eventDocId(slot.author, slot.seq)}`)
  return doc.raw
}

/** Inclusion proof of an event against the latest checkpoint that covers it. */
export async function proveInclusion(vault: ProverVault, eventId: string): Promise<InclusionProofFile> {
  const index = await indexLog(vault)
  const slot = index.slots.get(eventId)
  if (!slot) throw NOT_FOUND(`no verified event ${eventId.slice(0, 16)}… in this vault`)
  const cp = [...index.checkpoints]
    .reverse()
    .find((c) => c.payload.feeds.some((f) => f.author === slot.author && f.length >= slot.seq))
  if (!cp) throw NOT_FOUND('no checkpoint covers this event yet: make one with tresor checkpoint')
  const length = cp.payload.feeds.find((f) => f.author === slot.author)!.length
  const path = inclusionProof(index.leaves.get(slot.author)!, slot.seq - 1, 0, length).map(toHex)
  return { ...base(vault), kind: 'inclusion', checkpoint: cp.raw, event: await rawOf(vault, slot), path }
}

/** Consistency proof between two checkpoints (ids), the earlier first. */
export async function proveConsistency(
  vault: ProverVault,
  first: string,
  second: string
): Promise<ConsistencyProofFile> {
  const index = await indexLog(vault)
  const find = (id: string) => {
    const hits = index.checkpoints.filter((c) => c.id.startsWith(id))
    if (hits.length !== 1) throw BAD_ARGUMENT(`${id} names ${hits.length} checkpoints`)
    return hits[0]!
  }
  const [a, b] = [find(first), find(second)]
  const feeds = a.payload.feeds.map((r1) => {
    const r2 = b.payload.feeds.find((f) => f.author === r1.author)
    if (!r2 || r2.length < r1.length) throw BAD_ARGUMENT('the second checkpoint must be the later one')
    return { author: r1.author, path: consistencyProof(index.leaves.get(r1.author)!, r1.length, r2.length).map(toHex) }
  })
  return { ...base(vault), kind: 'consistency', checkpoints: [a.raw, b.raw], feeds }
}

const SCHEDULE_FILE = 'checkpoint-schedule.json'

/**
 * The policy interval: sign a checkpoint when at least `checkpointInterval`
 * events (a vault setting, changed by governance) were added since the last
 * one. The event count at the last checkpoint is kept in a small local file,
 * a scheduling hint only (checkpoints themselves are verified from the log).
 */
export async function maybeCheckpoint(vault: CheckpointVault): Promise<string | null> {
  if (!vault.unlocked || vault.health.state !== 'ok' || !vault.member) return null
  const interval = settingValueOf(vault.state.settings, 'checkpointInterval')
  const total = Object.values(vault.heads()).reduce((n, h) => n + h.length, 0)
  const path = join(vault.dir, SCHEDULE_FILE)
  const last = Number(
    ((await readJsonFileIfExists(path, 4096, 2).catch(() => null)) as { at?: number } | null)?.at ?? 0
  )
  if (total - last < interval) return null
  const index = await indexLog(vault)
  const covered = Math.max(0, ...index.checkpoints.map((c) => c.payload.feeds.reduce((n, f) => n + f.length, 0)))
  if (total - covered < interval) {
    await writeJsonFile(path, { at: covered })
    return null
  }
  const cp = await makeCheckpoint(vault)
  await writeJsonFile(path, { at: total + 1 })
  return cp.id
}
