/**
 * Witnessed inclusion proofs as c2sp.org/tlog-proof@v1 files: the event's
 * signed bytes as the extra data (its hash is the entry, so nothing in it is
 * trusted before it is hashed), its index in its device's feed, the
 * inclusion path, and that device's checkpoint note with every cosignature
 * the vault holds for it. `verifyTlogProof` checks one against a witness
 * policy (core/proofs/witness-policy.ts) on a machine with no vault: the
 * log's signature under a key the policy lists, each cosignature of a policy
 * witness, the quorum, the path.
 */
import { decodeEvent } from '../envelope.js'
import { NOT_FOUND } from '../errors.js'
import { splitNote, openNote, noteKeyId } from '../signed-note.js'
import { fromHex } from '../bytes.js'
import { cosignaturesIn } from '../vault-witness.js'
import { eventLeaf, type CheckpointPayload } from './checkpoint.js'
import { inclusionProof, verifyInclusion } from './merkle.js'
import { indexLog, type ProverVault } from './prover.js'
import {
  cosignerKeyId,
  formatTlogProof,
  mergeNote,
  parseCheckpoint,
  parseFeedOrigin,
  parseTlogProof,
  verifyCosignature
} from './tlog.js'
import { parseWitnessPolicy, quorumHolds, quorumNeeds } from './witness-policy.js'

/** The tlog-proof of an event: its own feed's latest format-2 checkpoint covering it, with every cosignature held. */
export async function proveTlog(vault: ProverVault, eventId: string): Promise<string> {
  const index = await indexLog(vault)
  const slot = index.slots.get(eventId)
  if (!slot) throw NOT_FOUND(`no verified event ${eventId.slice(0, 16)}… in this vault`)
  const cp = [...index.checkpoints]
    .reverse()
    .find(
      (c) =>
        c.author === slot.author &&
        c.payload.checkpoint !== undefined &&
        c.payload.feeds.some((f) => f.author === slot.author && f.length >= slot.seq)
    )
  if (!cp)
    throw NOT_FOUND(
      'no checkpoint of its own device covers this event yet: that device signs one with tresor checkpoint'
    )
  const size = cp.payload.feeds.find((f) => f.author === slot.author)!.length
  // Every cosignature of this very checkpoint body, whoever recorded it (a pass, or a witness call from outside).
  const body = splitNote(cp.payload.checkpoint!).text
  const cosigned = new Map<string, string[]>()
  for (const [author, head] of Object.entries(vault.heads()))
    for await (const page of vault.store.range(author, 1, head.length))
      cosignaturesIn(
        page.map((d) => d.raw),
        cosigned
      )
  const cosignatures = cosigned.get(body) ?? []
  const raw = (await vault.store.get(slot.author, slot.seq))!.raw
  return formatTlogProof({
    extra: new TextEncoder().encode(raw),
    index: slot.seq - 1,
    path: inclusionProof(index.leaves.get(slot.author)!, slot.seq - 1, 0, size),
    checkpoint: mergeNote((cp.payload as CheckpointPayload).checkpoint!, cosignatures)
  })
}

export interface TlogProofResult {
  ok: boolean
  reason: string | null
  origin: string | null
  event?: { author: string; seq: number; id: string; type: string; vault: string }
  size?: number
  /** Policy witnesses whose cosignature verified; policy witnesses that did not cosign. */
  witnesses?: { signed: string[]; missing: string[]; ignored: number }
  quorum?: { holds: boolean; needs: number }
}

/** Check a tlog-proof against a policy. Never throws for a bad proof: `ok: false` with the reason. */
export function verifyTlogProof(text: string, policyText: string): TlogProofResult {
  let origin: string | null = null
  const fail = (reason: string, more: Partial<TlogProofResult> = {}): TlogProofResult => ({
    ok: false,
    reason,
    origin,
    ...more
  })
  try {
    const policy = parseWitnessPolicy(policyText)
    const proof = parseTlogProof(text)
    const { text: body, signatures } = splitNote(proof.checkpoint)
    const cp = parseCheckpoint(body)
    origin = cp.origin
    const feed = parseFeedOrigin(cp.origin)
    if (!feed) return fail('the checkpoint is not of a Tresor device feed')
    if (!policy.logs.some((l) => l.key === feed.author))
      return fail(`the log key ${feed.author.slice(0, 12)}… is not a log of the policy`)
    const logKey = {
      name: cp.origin,
      id: noteKeyId(cp.origin, fromHex(feed.author, 32)!),
      publicKey: fromHex(feed.author, 32)!
    }
    try {
      openNote(proof.checkpoint, [logKey])
    } catch (err) {
      return fail(`the log's signature on the checkpoint: ${(err as Error).message}`)
    }
    // A log is no witness of itself: its own key never counts toward the quorum, whatever name it signs under.
    const signed = new Set<string>()
    let ignored = 0
    for (const s of signatures) {
      if (s.name === logKey.name && s.id === logKey.id) continue
      const w = policy.witnesses.get(s.name)
      const cosigner = w && { name: w.name, publicKey: fromHex(w.key, 32)! }
      if (!cosigner || s.id !== cosignerKeyId(cosigner.name, cosigner.publicKey) || w.key === feed.author) {
        ignored++ // a stranger's cosignature, or the log's own: never counted
        continue
      }
      if (verifyCosignature(body, s, cosigner) === null) return fail(`the cosignature of ${s.name} does not verify`)
      signed.add(s.name)
    }
    const witnesses = {
      signed: [...signed].sort(),
      missing: [...policy.witnesses.values()]
        .filter((w) => !signed.has(w.name) && w.key !== feed.author)
        .map((w) => w.name)
        .sort(),
      ignored
    }
    const quorum = { holds: quorumHolds(policy, signed), needs: quorumNeeds(policy) }
    if (!proof.extra) return fail('the proof carries no event (extra data)', { witnesses, quorum })
    const event = decodeEvent(new TextDecoder('utf-8', { fatal: true }).decode(proof.extra), feed.vault)
    const e = {
      author: event.event.author,
      seq: event.event.seq,
      id: event.id,
      type: event.event.type,
      vault: feed.vault
    }
    if (e.author !== feed.author || e.seq !== proof.index + 1)
      return fail('the event is not the entry at that index of this feed', { event: e, witnesses, quorum })
    if (!verifyInclusion(eventLeaf(event.id), proof.index, cp.size, proof.path, cp.root))
      return fail('the inclusion path does not lead to the checkpoint root', { event: e, witnesses, quorum })
    if (!quorum.holds)
      return fail(
        `the witness quorum does not hold: ${signed.size} of the policy's witnesses cosigned (${witnesses.signed.join(', ') || 'none'}), at least ${quorum.needs} needed`,
        { event: e, size: cp.size, witnesses, quorum }
      )
    return { ok: true, reason: null, origin, event: e, size: cp.size, witnesses, quorum }
  } catch (err) {
    return fail((err as Error).message)
  }
}

/** A policy listing every member device of the vault as log and witness, quorum k of them (a starting point). */
export function policyTemplate(vault: string, keys: { member: string; key: string }[], k: number): string {
  const lines = [`# Tresor vault ${vault}: every member device is a log and a witness`]
  for (const { member, key } of keys) lines.push(`log ${key}  # ${member}`)
  const names = keys.map(({ member, key }) => {
    const name = `tresor.vault/${vault}/${key}`
    lines.push(`witness ${name} ${key}  # ${member}`)
    return name
  })
  lines.push(`group members ${Math.min(Math.max(1, k), names.length)} ${names.join(' ')}`, 'quorum members')
  return lines.join('\n') + '\n'
}
