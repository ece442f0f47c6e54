/**
 * Proof files: everything a machine without the vault needs to check that an
 * event is in a checkpoint (inclusion) or that a later checkpoint extends an
 * earlier one (consistency): the genesis (vault id = its hash), the
 * governance events (who the members' keys are), the signed checkpoint(s) and
 * the Merkle paths. Format v1.
 */
import { parseBounded } from '../canonical.js'
import { fromHex, isHex } from '../bytes.js'
import { decodeEvent, GENESIS_TYPE, type DecodedEvent } from '../envelope.js'
import { MALFORMED, VaultError } from '../errors.js'
import { foldGovernance, isGovernanceType } from '../governance/fold.js'
import { everKeys } from '../governance/state.js'
import {
  checkCheckpointNotes,
  checkCheckpointPayload,
  CHECKPOINT_TYPE,
  eventLeaf,
  type CheckpointPayload
} from './checkpoint.js'
import { verifyConsistency, verifyInclusion } from './merkle.js'

export const PROOF_FORMAT = 'tresor-proof' as const

interface ProofBase {
  format: typeof PROOF_FORMAT
  v: 1
  vault: string
  genesis: string
  gov: string[]
}
export interface InclusionProofFile extends ProofBase {
  kind: 'inclusion'
  checkpoint: string
  event: string
  path: string[]
}
export interface ConsistencyProofFile extends ProofBase {
  kind: 'consistency'
  checkpoints: [string, string]
  feeds: { author: string; path: string[] }[]
}
export type ProofFile = InclusionProofFile | ConsistencyProofFile

export interface ProofResult {
  ok: boolean
  kind: string
  vault: string
  reason: string | null
  event?: { author: string; seq: number; id: string; type: string }
  checkpoints?: string[]
}

/** Decode a signed checkpoint and check that a member of the vault signed it. */
function checkpointOf(
  raw: unknown,
  vault: string,
  keys: Set<string>
): { decoded: DecodedEvent; payload: CheckpointPayload } {
  const decoded = decodeEvent(String(raw), vault)
  if (decoded.event.type !== CHECKPOINT_TYPE) throw MALFORMED('not a checkpoint event')
  if (!keys.has(decoded.event.author)) throw MALFORMED('checkpoint is signed by a key that is not a key of this vault')
  const payload = checkCheckpointPayload(decoded.event.payload)
  checkCheckpointNotes(payload, vault, decoded.event.author)
  return { decoded, payload }
}

const hashes = (list: unknown): Uint8Array[] => {
  if (!Array.isArray(list) || list.length > 64 || !list.every((h) => isHex(h, 32)))
    throw MALFORMED('a Merkle path is a list of at most 64 hashes of 32 bytes (hex)')
  return list.map((h) => fromHex(h as string, 32)!)
}

/** Check a proof file on its own. Never throws for a bad proof: `ok: false` with the reason. */
export function verifyProofFile(text: string): ProofResult {
  let kind = '?',
    vault = ''
  try {
    const p = parseBounded(text, 16 * 1024 * 1024, 6) as unknown as ProofFile
    if (p?.format !== PROOF_FORMAT || p.v !== 1 || !isHex(p.vault, 32)) throw MALFORMED('not a Tresor v1 proof file')
    kind = String(p.kind)
    vault = p.vault
    const genesis = decodeEvent(String(p.genesis), p.vault)
    if (genesis.id !== p.vault || genesis.event.type !== GENESIS_TYPE)
      throw MALFORMED('genesis does not hash to the vault id')
    if (!Array.isArray(p.gov)) throw MALFORMED('gov must list governance events')
    const gov = p.gov.map((raw) => decodeEvent(String(raw), p.vault)).filter((d) => isGovernanceType(d.event.type))
    const keys = everKeys(
      foldGovernance(
        p.vault,
        [genesis, ...gov].map((d) => ({ id: d.id, event: d.event }))
      )
    )
    if (p.kind === 'inclusion') {
      const { decoded: cp, payload } = checkpointOf(p.checkpoint, p.vault, keys)
      const event = decodeEvent(String(p.event), p.vault)
      const record = payload.feeds.find((f) => f.author === event.event.author)
      if (!record || event.event.seq > record.length) throw MALFORMED('the checkpoint does not cover this event')
      const ok = verifyInclusion(
        eventLeaf(event.id),
        event.event.seq - 1,
        record.length,
        hashes(p.path),
        fromHex(record.root, 32)!
      )
      const { author, seq, type } = event.event
      return {
        ok,
        kind,
        vault,
        reason: ok ? null : 'the Merkle path does not lead to the checkpoint root',
        event: { author, seq, id: event.id, type },
        checkpoints: [cp.id]
      }
    }
    if (p.kind === 'consistency') {
      if (!Array.isArray(p.checkpoints) || p.checkpoints.length !== 2 || !Array.isArray(p.feeds))
        throw MALFORMED('a consistency proof names two checkpoints and a path per feed')
      const [a, b] = p.checkpoints.map((raw) => checkpointOf(raw, p.vault, keys))
      for (const r1 of a!.payload.feeds) {
        const r2 = b!.payload.feeds.find((f) => f.author === r1.author)
        if (!r2 || r2.length < r1.length)
          return {
            ok: false,
            kind,
            vault,
            reason: `feed ${r1.author.slice(0, 8)}… shrank between the checkpoints (rollback)`
          }
        const entry = p.feeds.find((f) => f?.author === r1.author)
        if (!entry) throw MALFORMED(`no path for feed ${r1.author.slice(0, 8)}…`)
        if (
          !verifyConsistency(r1.length, r2.length, hashes(entry.path), fromHex(r1.root, 32)!, fromHex(r2.root, 32)!)
        ) {
          return {
            ok: false,
            kind,
            vault,
            reason: `feed ${r1.author.slice(0, 8)}…: the later checkpoint does not extend the earlier one (fork or rewrite)`
          }
        }
      }
      return { ok: true, kind, vault, reason: null, checkpoints: [a!.decoded.id, b!.decoded.id] }
    }
    throw MALFORMED('proof kind must be inclusion or consistency')
  } catch (err) {
    return {
      ok: false,
      kind,
      vault,
      reason: err instanceof VaultError || err instanceof Error ? err.message : String(err)
    }
  }
}
