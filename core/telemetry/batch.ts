/**
 * Sealed telemetry batches, format v1. A batch is a document
 *   { _id: 'tb!<device>!<seq12>', header: <canonical JSON text>, sig, readings: [<canonical reading>…] }
 * whose header names the vault, the sealing device, its sequence number, the
 * hash of the device's previous batch header (a chain per device), counts,
 * the time span and the RFC 6962 Merkle root over the readings' bytes. The
 * device key signs `tresor/v1/telemetry-batch/<vault>\n` + header, so any
 * reading can be proved in its batch with an inclusion proof and the header.
 */
import { dict, own } from '../dict.js'
import { canonicalize, parseCanonical, type Json } from '../canonical.js'
import { fromHex, isHex, sha256Hex, toHex, utf8, concatBytes } from '../bytes.js'
import { verifyStrict } from '../ed25519.js'
import { OVERSIZED, VaultError } from '../errors.js'
import { inclusionProof, leafHash, leafHashText, rootOf, verifyInclusion, type Hash } from '../proofs/merkle.js'
import { DOMAIN_TAG } from '../formats.js'

export const BATCH_FORMAT = 'tresor-telemetry-batch'
export const BATCH_VERSION = 1
export const BATCH_PREFIX = 'tb!'

export interface BatchHeader {
  format: typeof BATCH_FORMAT
  v: typeof BATCH_VERSION
  vault: string
  device: string
  seq: number
  /** SHA-256 of the previous batch's header text, null for seq 1. */
  prev: string | null
  sealedAt: string
  count: number
  firstTs: string
  lastTs: string
  /** Readings per stream. */
  streams: Record<string, number>
  root: string
}

export interface BatchDoc {
  _id: string
  _rev?: string
  header: string
  sig: string
  readings: string[]
}
export interface CheckedBatch {
  header: BatchHeader
  hash: string
  doc: BatchDoc
}

export function batchId(device: string, seq: number): string {
  return `${BATCH_PREFIX}${device}!${String(seq).padStart(12, '0')}`
}

export function parseBatchId(id: string): { device: string; seq: number } | null {
  const m = /^tb!([0-9a-f]{64})!(\d{12})$/.exec(id)
  return m ? { device: m[1]!, seq: Number(m[2]) } : null
}

function domain(vault: string): Uint8Array {
  return utf8(DOMAIN_TAG.telemetryBatch(vault))
}

export function headerSigningBytes(vault: string, header: string): Uint8Array {
  return concatBytes(domain(vault), utf8(header))
}

export function headerHash(header: string): string {
  return sha256Hex(header)
}

export function readingLeaves(readings: string[]): Hash[] {
  return readings.map(leafHashText)
}

export interface SealInput {
  vault: string
  device: string
  seq: number
  prev: string | null
  sealedAt: string
  readings: { canonical: string; stream: string; ts: string; leaf: Hash }[]
}

/** Build and sign a batch (`sign` is the device key's detached signature). */
export function sealBatch(
  input: SealInput,
  sign: (message: Uint8Array) => Uint8Array
): { doc: BatchDoc; header: BatchHeader; hash: string } {
  const streams = dict<number>() // stream names are data: `constructor` is a stream like any other
  let firstTs = input.readings[0]!.ts,
    lastTs = firstTs
  for (const r of input.readings) {
    streams[r.stream] = (own(streams, r.stream) ?? 0) + 1
    if (r.ts < firstTs) firstTs = r.ts
    if (r.ts > lastTs) lastTs = r.ts
  }
  const header: BatchHeader = {
    format: BATCH_FORMAT,
    v: BATCH_VERSION,
    vault: input.vault,
    device: input.device,
    seq: input.seq,
    prev: input.prev,
    sealedAt: input.sealedAt,
    count: input.readings.length,
    firstTs,
    lastTs,
    streams,
    root: toHex(rootOf(input.readings.map((r) => r.leaf)))
  }
  const text = canonicalize(header as unknown as Json)
  const sig = toHex(sign(headerSigningBytes(input.vault, text)))
  return {
    doc: { _id: batchId(input.device, input.seq), header: text, sig, readings: input.readings.map((r) => r.canonical) },
    header,
    hash: headerHash(text)
  }
}

const bad = (
  code: 'MALFORMED' | 'BAD_SIGNATURE' | 'WRONG_VAULT' | 'NOT_A_MEMBER' | 'MISPLACED' | 'TAMPERED',
  message: string
) => new VaultError(code, message)

function checkHeaderShape(h: BatchHeader): void {
  const keys = [
    'count',
    'device',
    'firstTs',
    'format',
    'lastTs',
    'prev',
    'root',
    'sealedAt',
    'seq',
    'streams',
    'v',
    'vault'
  ]
  if (typeof h !== 'object' || h === null || Array.isArray(h) || Object.keys(h).sort().join() !== keys.join())
    throw bad('MALFORMED', 'batch header has the wrong fields')
  if (h.format !== BATCH_FORMAT || h.v !== BATCH_VERSION)
    throw bad('MALFORMED', `unknown batch format ${String(h.format)} v${String(h.v)}`)
  if (!isHex(h.device, 32) || !isHex(h.root, 32) || !(h.prev === null || isHex(h.prev, 32)))
    throw bad('MALFORMED', 'batch header: device, root and prev must be hex digests')
  if (!Number.isSafeInteger(h.seq) || h.seq < 1 || (h.seq === 1) !== (h.prev === null))
    throw bad('MALFORMED', 'batch header: seq starts at 1 and only batch 1 has no predecessor')
  if (!Number.isSafeInteger(h.count) || h.count < 1) throw bad('MALFORMED', 'batch header: count must be positive')
}

/**
 * Check a batch document from anywhere (a peer, the server, this device's
 * own store): shape, slot id, vault, a key ever held by a member, the
 * signature over the header, and that the readings are exactly the ones the
 * signed root commits to. Throws a VaultError whose code and message are the
 * quarantine reason.
 */
export function checkBatch(raw: unknown, vault: string, memberKeys: Set<string>): CheckedBatch {
  const doc = raw as BatchDoc
  if (
    typeof doc !== 'object' ||
    doc === null ||
    typeof doc.header !== 'string' ||
    typeof doc.sig !== 'string' ||
    !Array.isArray(doc.readings)
  ) {
    throw bad('MALFORMED', 'a batch document has header, sig and readings')
  }
  if (doc.header.length > 64 * 1024) throw OVERSIZED('batch header is too large')
  const header = parseCanonical(doc.header, 64 * 1024, 4) as unknown as BatchHeader
  checkHeaderShape(header)
  if (header.vault !== vault)
    throw bad('WRONG_VAULT', `batch belongs to vault ${String(header.vault).slice(0, 12)}…, not this one`)
  if (doc._id !== batchId(header.device, header.seq))
    throw bad(
      'MISPLACED',
      `batch is stored under ${String(doc._id).slice(0, 90)}, its header says ${batchId(header.device, header.seq)}`
    )
  if (!memberKeys.has(header.device))
    throw bad('NOT_A_MEMBER', `batch signed by ${header.device.slice(0, 12)}…, which is no member's device key`)
  const sig = fromHex(doc.sig, 64)
  if (!sig || !verifyStrict(fromHex(header.device, 32)!, headerSigningBytes(vault, doc.header), sig))
    throw bad('BAD_SIGNATURE', 'batch header signature does not verify')
  if (doc.readings.length !== header.count)
    throw bad('TAMPERED', `batch holds ${doc.readings.length} readings; its signed header says ${header.count}`)
  const streams = dict<number>() // stream names are data: `constructor` is a stream like any other
  for (const r of doc.readings) {
    if (typeof r !== 'string') throw bad('TAMPERED', 'a reading in the batch is not canonical JSON text')
    let reading: { stream?: unknown; ts?: unknown }
    try {
      reading = parseCanonical(r, 64 * 1024, 4) as typeof reading
    } catch (err) {
      throw bad('TAMPERED', `a reading in the batch is not canonical JSON: ${(err as Error).message}`)
    }
    if (
      typeof reading.stream !== 'string' ||
      typeof reading.ts !== 'string' ||
      reading.ts < header.firstTs ||
      reading.ts > header.lastTs
    )
      throw bad('TAMPERED', 'a reading in the batch lies outside the signed header')
    streams[reading.stream] = (own(streams, reading.stream) ?? 0) + 1
  }
  if (canonicalize(streams) !== canonicalize(header.streams))
    throw bad('TAMPERED', 'readings per stream differ from the signed header')
  if (toHex(rootOf(readingLeaves(doc.readings))) !== header.root)
    throw bad('TAMPERED', 'readings do not match the signed Merkle root')
  return { header, hash: headerHash(doc.header), doc }
}

/** A self-contained proof that one reading is in a signed batch. */
export interface ReadingProof {
  format: 'tresor-telemetry-proof'
  v: 1
  batch: string
  header: string
  sig: string
  index: number
  reading: string
  path: string[]
}

export function proveReading(doc: BatchDoc, index: number): ReadingProof {
  const path = inclusionProof(readingLeaves(doc.readings), index).map(toHex)
  return {
    format: 'tresor-telemetry-proof',
    v: 1,
    batch: doc._id,
    header: doc.header,
    sig: doc.sig,
    index,
    reading: doc.readings[index]!,
    path
  }
}

/** Check a reading proof against the vault and its member keys; throws with the reason. */
export function verifyReadingProof(proof: ReadingProof, vault: string, memberKeys: Set<string>): BatchHeader {
  const header = parseCanonical(proof.header, 64 * 1024, 4) as unknown as BatchHeader
  checkHeaderShape(header)
  if (header.vault !== vault) throw bad('WRONG_VAULT', 'the proof is for another vault')
  if (!memberKeys.has(header.device)) throw bad('NOT_A_MEMBER', "the batch was signed by no member's device key")
  const sig = fromHex(proof.sig, 64)
  if (!sig || !verifyStrict(fromHex(header.device, 32)!, headerSigningBytes(vault, proof.header), sig))
    throw bad('BAD_SIGNATURE', 'batch header signature does not verify')
  const path = proof.path.map((h) => fromHex(h, 32))
  if (path.some((h) => h === null) || !Number.isSafeInteger(proof.index))
    throw bad('MALFORMED', 'proof path must be hex digests')
  if (
    !verifyInclusion(
      leafHash(utf8(proof.reading)),
      proof.index,
      header.count,
      path as Hash[],
      fromHex(header.root, 32)!
    )
  ) {
    throw bad('TAMPERED', 'the reading is not in the batch the header signs')
  }
  return header
}
