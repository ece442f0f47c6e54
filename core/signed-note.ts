/**
 * C2SP signed notes (c2sp.org/signed-note), the format Go's checksum
 * database, Sigsum and the tlog witnesses sign checkpoints in: a text ending
 * in a newline, a blank line, then one line per signature,
 * `— <key name> base64(4-byte key ID || signature)`. Ed25519 only (signature
 * type 0x01): key ID = SHA-256(name || 0x0A || 0x01 || public key)[:4].
 * Verifier keys are written as Go's `note` package writes them:
 * `<name>+<key ID, 8 hex>+base64(0x01 || public key)`.
 *
 * Opening is strict, as the spec and Go's reader are: anything out of shape is
 * MALFORMED; a signature from a key that is not known is kept as unverified
 * (never trusted); a known key whose signature does not verify rejects the
 * whole note; a note no known key signed is refused. Checkpoints (core/proofs/tlog.ts) and
 * cosignatures (core/proofs/cosignature.ts) are notes.
 */
import { createHash } from 'node:crypto'
import type naclType from 'tweetnacl'
import { lazyPackage } from './lazy.js'
import { BAD_ARGUMENT, MALFORMED, VERIFY_FAILED } from './errors.js'
import { signDetached, verifyStrict } from './ed25519.js'

// tweetnacl is loaded when first used (sealing a key file, the tweetnacl backend): ~25 ms a process otherwise.
const nacl = lazyPackage<typeof naclType>('tweetnacl')

export const ALG_ED25519 = 0x01
/** Go's reader refuses more (the spec asks verifiers to accept at least 16). */
export const MAX_NOTE_SIGNATURES = 100
/** A note larger than this is not read at all (a checkpoint with its cosignatures is a few hundred bytes). */
export const MAX_NOTE_BYTES = 1 << 20

export interface NoteVerifier {
  name: string
  /** uint32 key ID. */
  id: number
  publicKey: Uint8Array
}

export interface NoteSignature {
  name: string
  id: number
  /** The signature as written (base64 of key ID and signature). */
  base64: string
}

export interface OpenedNote {
  text: string
  /** Signatures from known keys that verified, in note order, each once. */
  verified: NoteSignature[]
  /** Signatures from keys not known here (kept, never trusted), each once. */
  unverified: NoteSignature[]
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const enc = new TextEncoder()

/** A key name: non-empty, no Unicode space, no plus. */
export function isKeyName(name: string): boolean {
  return name.length > 0 && !/[\s+\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u.test(name)
}

/** The spec's recommended key ID for an Ed25519 key. */
export function noteKeyId(name: string, publicKey: Uint8Array): number {
  const h = createHash('sha256')
    .update(enc.encode(name))
    .update(Uint8Array.of(0x0a, ALG_ED25519))
    .update(publicKey)
    .digest()
  return h.readUInt32BE(0)
}

export const hex8 = (id: number) => id.toString(16).padStart(8, '0')

/** A verifier key in Go's text form: `name+id+base64(0x01 || key)`. */
export function verifierKey(name: string, publicKey: Uint8Array): string {
  if (!isKeyName(name)) throw BAD_ARGUMENT('a note key name is non-empty, without spaces or "+"')
  if (publicKey.length !== 32) throw BAD_ARGUMENT('an Ed25519 public key is 32 bytes')
  const body = Buffer.concat([Uint8Array.of(ALG_ED25519), publicKey]).toString('base64')
  return `${name}+${hex8(noteKeyId(name, publicKey))}+${body}`
}

/** Read a verifier key; MALFORMED unless every part is exactly as a writer would have written it. */
export function parseVerifierKey(text: string): NoteVerifier {
  const m = /^([^+]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/]+={0,2})$/.exec(text)
  if (!m || !isKeyName(m[1]!)) throw MALFORMED('not a note verifier key (name+keyid+base64)')
  const raw = Buffer.from(m[3]!, 'base64')
  if (raw.toString('base64') !== m[3]) throw MALFORMED('the verifier key is not canonical base64')
  if (raw.length !== 33 || raw[0] !== ALG_ED25519) throw MALFORMED('the verifier key is not an Ed25519 key')
  const publicKey = new Uint8Array(raw.subarray(1))
  const id = noteKeyId(m[1]!, publicKey)
  if (hex8(id) !== m[2]) throw MALFORMED('the verifier key ID does not match its name and key')
  return { name: m[1]!, id, publicKey }
}

/** A signer from Go's private key text: `PRIVATE+KEY+name+id+base64(0x01 || 32-byte seed)`. */
export function parseSignerKey(text: string): { name: string; id: number; secretKey: Uint8Array } {
  const m = /^PRIVATE\+KEY\+([^+]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/]+={0,2})$/.exec(text)
  if (!m || !isKeyName(m[1]!)) throw MALFORMED('not a note signer key')
  const raw = Buffer.from(m[3]!, 'base64')
  if (raw.toString('base64') !== m[3] || raw.length !== 33 || raw[0] !== ALG_ED25519)
    throw MALFORMED('the signer key is not an Ed25519 seed')
  const pair = nacl().sign.keyPair.fromSeed(new Uint8Array(raw.subarray(1)))
  const id = noteKeyId(m[1]!, pair.publicKey)
  if (hex8(id) !== m[2]) throw MALFORMED('the signer key ID does not match its name and key')
  return { name: m[1]!, id, secretKey: pair.secretKey }
}

function checkText(text: string): void {
  if (!text.endsWith('\n')) throw MALFORMED('a note text ends with a newline')
  if (/[\u0000-\u0009\u000b-\u001f]/.test(text)) throw MALFORMED('a note holds no control characters but newlines')
}

/** Sign `text` with each signer (Ed25519): the note, text then signature lines. */
export function signNote(text: string, signers: { name: string; secretKey: Uint8Array }[]): string {
  const lines = signers.map((s) =>
    noteSignatureLine(text, s.name, s.secretKey.subarray(32), (m) => signDetached(s.secretKey, m))
  )
  return `${text}\n${lines.join('')}`
}

/** One Ed25519 note signature line (with its newline) over `text`, by a key that signs through `sign`. */
export function noteSignatureLine(
  text: string,
  name: string,
  publicKey: Uint8Array,
  sign: (message: Uint8Array) => Uint8Array
): string {
  checkText(text)
  if (!isKeyName(name)) throw BAD_ARGUMENT('a note key name is non-empty, without spaces or "+"')
  const id = Buffer.alloc(4)
  id.writeUInt32BE(noteKeyId(name, publicKey))
  return `— ${name} ${Buffer.concat([id, sign(enc.encode(text))]).toString('base64')}\n`
}

/** A note's text and its signature lines, in order, each once; MALFORMED when out of shape (nothing verified here). */
export function splitNote(note: string | Uint8Array): {
  text: string
  signatures: (NoteSignature & { raw: Buffer })[]
} {
  if ((typeof note === 'string' ? enc.encode(note).length : note.length) > MAX_NOTE_BYTES)
    throw MALFORMED(`a note is at most ${MAX_NOTE_BYTES} bytes`)
  let msg: string
  try {
    msg = typeof note === 'string' ? note : UTF8.decode(note)
  } catch {
    throw MALFORMED('a note is valid UTF-8')
  }
  if (/[\u0000-\u0009\u000b-\u001f]/.test(msg)) throw MALFORMED('a note holds no control characters but newlines')
  const cut = msg.lastIndexOf('\n\n')
  if (cut < 0) throw MALFORMED('a note has a blank line before its signatures')
  const text = msg.slice(0, cut + 1)
  const block = msg.slice(cut + 2)
  if (block === '' || !block.endsWith('\n')) throw MALFORMED('a note ends with signature lines')
  const lines = block.slice(0, -1).split('\n')
  if (lines.length > MAX_NOTE_SIGNATURES) throw MALFORMED(`a note carries at most ${MAX_NOTE_SIGNATURES} signatures`)
  const signatures: (NoteSignature & { raw: Buffer })[] = []
  const seen = new Set<string>()
  for (const line of lines) {
    const sig = parseSignatureLine(line)
    const key = `${sig.name}+${sig.id}+${sig.base64}`
    if (seen.has(key)) continue
    seen.add(key)
    signatures.push(sig)
  }
  return { text, signatures }
}

/** A signature as its line in a note (with the newline). */
export const signatureLineOf = (s: NoteSignature): string => `— ${s.name} ${s.base64}\n`

/** One signature line, without its newline: `— <key name> <base64>`. */
export function parseSignatureLine(line: string): NoteSignature & { raw: Buffer } {
  const m = /^— (\S+) ([A-Za-z0-9+/]+={0,2})$/u.exec(line)
  if (!m || !isKeyName(m[1]!)) throw MALFORMED('a signature line is "— <key name> <base64>"')
  const raw = Buffer.from(m[2]!, 'base64')
  if (raw.length < 5 || raw.toString('base64') !== m[2]) throw MALFORMED('a signature is base64 of key ID and bytes')
  return { name: m[1]!, id: raw.readUInt32BE(0), base64: m[2]!, raw }
}

/**
 * Open a signed note against the keys known here. Throws MALFORMED for a note out of shape, VERIFY_FAILED when a known
 * key's signature fails, when two known keys share a name and ID, or when no known key signed it.
 */
export function openNote(note: string | Uint8Array, verifiers: readonly NoteVerifier[]): OpenedNote {
  const { text, signatures } = splitNote(note)
  const verified: NoteSignature[] = []
  const unverified: NoteSignature[] = []
  for (const { raw, ...sig } of signatures) {
    const known = verifiers.filter((v) => v.name === sig.name && v.id === sig.id)
    if (known.length === 0) {
      unverified.push(sig)
      continue
    }
    if (known.length > 1) throw VERIFY_FAILED(`ambiguous key ${sig.name}+${hex8(sig.id)}`)
    const ok = raw.length === 68 && verifyStrict(known[0]!.publicKey, enc.encode(text), raw.subarray(4))
    if (!ok) throw VERIFY_FAILED(`invalid signature for key ${sig.name}+${hex8(sig.id)}`)
    verified.push(sig)
  }
  if (verified.length === 0) throw VERIFY_FAILED('the note has no signature from a key known here')
  return { text, verified, unverified }
}
