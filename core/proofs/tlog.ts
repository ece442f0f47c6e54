/**
 * The transparency-log ecosystem's formats, as C2SP writes them:
 *   tlog-checkpoint    origin, tree size, root hash (base64), extension lines;
 *                      a signed note whose key name is the origin
 *   tlog-cosignature   cosignature/v1: an Ed25519 note signature (key ID type
 *                      0x04) over "cosignature/v1\ntime T\n" + the checkpoint
 *                      body, carrying its POSIX time T
 *   tlog-proof         c2sp.org/tlog-proof@v1: optional extra data, the entry's
 *                      index, its inclusion path, then the checkpoint verbatim
 * Each Tresor device feed is such a log: its origin is
 * `tresor.vault/<vault id>/<device key>`, its entries are the event ids in
 * feed order (so the leaf hash is RFC 6962's over the 32-byte id, the same
 * tree the vault's own proofs use), and the device key signs its checkpoints.
 *
 * One key signs events, notes and cosignatures; what each signs cannot be
 * read as another: event bytes start with the "tresor/v…" domain tag, a
 * Tresor checkpoint with its "tresor.vault/" origin, a cosigned message with
 * "cosignature/v1\n", and the vault record (core/proofs/checkpoint.ts) with a
 * first line holding a space, which no origin can.
 */
import { createHash } from 'node:crypto'
import { signDetached, verifyStrict } from '../ed25519.js'
import { BAD_ARGUMENT, MALFORMED } from '../errors.js'
import { isKeyName, parseSignatureLine, signatureLineOf, splitNote, hex8, type NoteSignature } from '../signed-note.js'

export const ALG_COSIGNATURE_V1 = 0x04
/** What a Tresor feed's origin starts with. */
export const FEED_ORIGIN_PREFIX = 'tresor.vault/'
const HEX64 = /^[0-9a-f]{64}$/

export interface CheckpointBody {
  origin: string
  size: number
  /** 32 bytes. */
  root: Uint8Array
  extensions: string[]
}

/** The origin of a device feed's log. */
export function feedOrigin(vault: string, author: string): string {
  if (!HEX64.test(vault) || !HEX64.test(author)) throw BAD_ARGUMENT('a feed origin needs the vault id and a device key')
  return `${FEED_ORIGIN_PREFIX}${vault}/${author}`
}

/** The vault and device of a Tresor feed origin, or null for any other log. */
export function parseFeedOrigin(origin: string): { vault: string; author: string } | null {
  const m = /^tresor\.vault\/([0-9a-f]{64})\/([0-9a-f]{64})$/.exec(origin)
  return m ? { vault: m[1]!, author: m[2]! } : null
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64')

/** A checkpoint's note text (the body a log signs and witnesses cosign). */
export function formatCheckpoint(c: { origin: string; size: number; root: Uint8Array; extensions?: string[] }): string {
  if (!isKeyName(c.origin)) throw BAD_ARGUMENT('an origin is non-empty, without spaces or "+"')
  if (!Number.isSafeInteger(c.size) || c.size < 0) throw BAD_ARGUMENT('a tree size is a whole number')
  if (c.root.length !== 32) throw BAD_ARGUMENT('a root hash is 32 bytes')
  const ext = c.extensions ?? []
  if (ext.some((l) => l === '' || /[\n\u0000-\u001f]/.test(l))) throw BAD_ARGUMENT('extension lines are non-empty text')
  return [c.origin, String(c.size), b64(c.root), ...ext].join('\n') + '\n'
}

/** Read a checkpoint body strictly: exactly what formatCheckpoint writes, or MALFORMED. */
export function parseCheckpoint(text: string): CheckpointBody {
  if (!text.endsWith('\n')) throw MALFORMED('a checkpoint body ends with a newline')
  const lines = text.slice(0, -1).split('\n')
  if (lines.length < 3) throw MALFORMED('a checkpoint has an origin, a tree size and a root hash')
  const [origin, size, root, ...extensions] = lines as [string, string, string, ...string[]]
  if (!isKeyName(origin)) throw MALFORMED('a checkpoint origin is non-empty, without spaces or "+"')
  if (!/^(0|[1-9][0-9]{0,15})$/.test(size) || !Number.isSafeInteger(Number(size)))
    throw MALFORMED('a checkpoint tree size is a decimal without leading zeroes')
  const hash = Buffer.from(root, 'base64')
  if (hash.length !== 32 || hash.toString('base64') !== root)
    throw MALFORMED('a checkpoint root hash is the base64 of 32 bytes')
  if (extensions.some((l) => l === '')) throw MALFORMED('checkpoint extension lines are non-empty')
  return { origin, size: Number(size), root: new Uint8Array(hash), extensions }
}

/** The key ID of an Ed25519 cosigner: SHA-256(name || "\n" || 0x04 || key)[:4]. */
export function cosignerKeyId(name: string, publicKey: Uint8Array): number {
  return createHash('sha256')
    .update(name)
    .update(Uint8Array.of(0x0a, ALG_COSIGNATURE_V1))
    .update(publicKey)
    .digest()
    .readUInt32BE(0)
}

/** A cosigner's verifier key as a vkey: `name+id+base64(0x04 || key)`. */
export function cosignerVerifierKey(name: string, publicKey: Uint8Array): string {
  if (!isKeyName(name)) throw BAD_ARGUMENT('a cosigner name is non-empty, without spaces or "+"')
  if (publicKey.length !== 32) throw BAD_ARGUMENT('an Ed25519 public key is 32 bytes')
  const body = Buffer.concat([Uint8Array.of(ALG_COSIGNATURE_V1), publicKey]).toString('base64')
  return `${name}+${hex8(cosignerKeyId(name, publicKey))}+${body}`
}

export interface Cosigner {
  name: string
  publicKey: Uint8Array
}

function cosignedMessage(body: string, time: number): Uint8Array {
  return new TextEncoder().encode(`cosignature/v1\ntime ${time}\n${body}`)
}

/** Something that signs with one Ed25519 key (a secret key here, or the vault's device key). */
export interface NoteKey {
  name: string
  publicKey: Uint8Array
  sign: (message: Uint8Array) => Uint8Array
}

/** A cosignature/v1 line (with its newline) over a checkpoint body, dated `time` (POSIX seconds). */
export function cosign(body: string, signer: NoteKey, time: number): string {
  parseCheckpoint(body)
  if (!isKeyName(signer.name)) throw BAD_ARGUMENT('a cosigner name is non-empty, without spaces or "+"')
  if (!Number.isSafeInteger(time) || time < 0) throw BAD_ARGUMENT('a cosignature time is POSIX seconds')
  const sig = Buffer.alloc(76)
  sig.writeUInt32BE(cosignerKeyId(signer.name, signer.publicKey), 0)
  sig.writeBigUInt64BE(BigInt(time), 4)
  sig.set(signer.sign(cosignedMessage(body, time)), 12)
  return `— ${signer.name} ${sig.toString('base64')}\n`
}

/** A note key from an Ed25519 secret key (64 bytes, tweetnacl's). */
export function noteKeyOf(name: string, secretKey: Uint8Array): NoteKey {
  return { name, publicKey: secretKey.subarray(32), sign: (m) => signDetached(secretKey, m) }
}

/** Is this signature line a cosignature/v1 by `cosigner` over `body`? Its time when it is, null when not. */
export function verifyCosignature(
  body: string,
  sig: NoteSignature & { raw: Buffer },
  cosigner: Cosigner
): number | null {
  if (sig.name !== cosigner.name || sig.id !== cosignerKeyId(cosigner.name, cosigner.publicKey)) return null
  if (sig.raw.length !== 76) return null
  const t = sig.raw.readBigUInt64BE(4)
  if (t > BigInt(Number.MAX_SAFE_INTEGER)) return null
  const time = Number(t)
  return verifyStrict(cosigner.publicKey, cosignedMessage(body, time), sig.raw.subarray(12)) ? time : null
}

/** The time a cosignature line states (unverified: for display and evidence only). */
export function cosignatureTime(line: string): number | null {
  const sig = parseSignatureLine(line.replace(/\n$/, ''))
  return sig.raw.length === 76 ? Number(sig.raw.readBigUInt64BE(4)) : null
}

/** Merge signature lines into a note (each once, the first signer's first). */
export function mergeNote(note: string, extra: string[]): string {
  const { text, signatures } = splitNote(note)
  const lines = new Set(signatures.map(signatureLineOf))
  for (const l of extra) lines.add(signatureLineOf(parseSignatureLine(l.replace(/\n$/, ''))))
  return `${text}\n${[...lines].join('')}`
}

export const TLOG_PROOF_HEADER = 'c2sp.org/tlog-proof@v1'

export interface TlogProof {
  extra: Uint8Array | null
  index: number
  path: Uint8Array[]
  /** The checkpoint note, verbatim (body, blank line, signature lines). */
  checkpoint: string
}

/** A proof file's text. */
export function formatTlogProof(p: TlogProof): string {
  const lines = [TLOG_PROOF_HEADER]
  if (p.extra) lines.push(`extra ${b64(p.extra)}`)
  lines.push(`index ${p.index}`, ...p.path.map(b64))
  return `${lines.join('\n')}\n\n${p.checkpoint}`
}

/** Read a tlog-proof strictly (the checkpoint's signatures are not checked here). */
export function parseTlogProof(text: string): TlogProof {
  const cut = text.indexOf('\n\n')
  if (cut < 0) throw MALFORMED('a tlog proof has a blank line before its checkpoint')
  const lines = text.slice(0, cut).split('\n')
  if (lines.shift() !== TLOG_PROOF_HEADER) throw MALFORMED(`a tlog proof starts with ${TLOG_PROOF_HEADER}`)
  let extra: Uint8Array | null = null
  if (lines[0]?.startsWith('extra ')) {
    const e = lines.shift()!.slice(6)
    const raw = Buffer.from(e, 'base64')
    if (raw.toString('base64') !== e || e === '') throw MALFORMED('the extra line is base64')
    extra = new Uint8Array(raw)
  }
  const index = /^index (0|[1-9][0-9]{0,15})$/.exec(lines.shift() ?? '')
  if (!index || !Number.isSafeInteger(Number(index[1]))) throw MALFORMED('a tlog proof names the entry index')
  if (lines.length > 63) throw MALFORMED('an inclusion path has at most 63 hashes')
  const path = lines.map((l) => {
    const h = Buffer.from(l, 'base64')
    if (h.length !== 32 || h.toString('base64') !== l) throw MALFORMED('inclusion path lines are base64 SHA-256 hashes')
    return new Uint8Array(h)
  })
  const checkpoint = text.slice(cut + 2)
  splitNote(checkpoint)
  return { extra, index: Number(index[1]), path, checkpoint }
}
