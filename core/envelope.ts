/**
 * Envelope v1: the signed, versioned form of every event.
 *
 * Signed bytes = domain tag || canonical JSON of the envelope without `sig`.
 * The domain tag names the purpose and the vault ("tresor/v1/event/<vault>"),
 * so a signature made for one vault or purpose never verifies for another.
 * The event id is SHA-256 of the canonical JSON of the signed envelope.
 */
import { canonicalize, parseCanonical, type Json } from './canonical.js'
import { fromHex, isHex, sha256Hex, toHex, utf8, concatBytes } from './bytes.js'
import { signDetached, verifyStrict, isWeakPublicKey, type Ed25519Backend } from './ed25519.js'
import { BAD_SIGNATURE, MALFORMED, VaultError, WEAK_KEY, WRONG_VAULT } from './errors.js'
import { LIMITS } from './limits.js'

export const ENVELOPE_VERSION = 1
export const GENESIS_TYPE = 'vault.genesis'

export interface SeenHead { author: string; seq: number; id: string }

export interface UnsignedEvent {
  v: typeof ENVELOPE_VERSION
  /** Vault id (hash of the genesis event); null only in the genesis event itself. */
  vault: string | null
  author: string
  seq: number
  /** Hash of the previous event of this feed; the vault id for a feed's first event; null for genesis. */
  prev: string | null
  ts: string
  type: string
  payload: { [key: string]: Json }
  seen: SeenHead[]
}

export interface SignedEvent extends UnsignedEvent { sig: string }

/** A signed event together with its canonical bytes and id. */
export interface DecodedEvent { event: SignedEvent; raw: string; id: string }

const KEYS = ['author', 'payload', 'prev', 'seen', 'seq', 'sig', 'ts', 'type', 'v', 'vault']
const TS_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const TYPE_RE = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/

/** Domain-separated bytes that a signature covers. */
export function signingBytes(unsigned: UnsignedEvent): Uint8Array {
  const domain = `tresor/v1/event/${unsigned.vault ?? 'genesis'}\n`
  return concatBytes(utf8(domain), utf8(canonicalize(stripSig(unsigned))))
}

/**
 * The same bytes as `signingBytes(event)`, cut from the event's canonical
 * signed form without re-encoding it. Only for `raw` already checked to be
 * canonical: then the top-level `"sig"` member is the last `,"sig":"<sig>"`
 * in the text (the members after it are ts, type, v and vault, whose values
 * cannot contain that text).
 */
export function signingBytesFromRaw(raw: string, event: SignedEvent): Uint8Array {
  const member = `,"sig":"${event.sig}"`
  const at = raw.lastIndexOf(member)
  if (at < 0) return signingBytes(event)
  const domain = `tresor/v1/event/${event.vault ?? 'genesis'}\n`
  return utf8(domain + raw.slice(0, at) + raw.slice(at + member.length))
}

function stripSig(event: UnsignedEvent | SignedEvent): UnsignedEvent {
  const { v, vault, author, seq, prev, ts, type, payload, seen } = event
  return { v, vault, author, seq, prev, ts, type, payload, seen }
}

/** UTC timestamp in the one form envelopes accept. */
export function utcNow(now: Date = new Date()): string {
  return now.toISOString()
}

/** Sign an envelope; the caller owns sequence and chain bookkeeping. */
export function signEvent(unsigned: UnsignedEvent, secretKey: Uint8Array, backend?: Ed25519Backend): DecodedEvent {
  checkShape({ ...unsigned, sig: '0'.repeat(128) })
  const sig = toHex(signDetached(secretKey, signingBytes(unsigned), backend))
  const event: SignedEvent = { ...stripSig(unsigned), sig }
  const raw = canonicalize(event)
  if (raw.length > LIMITS.maxEventBytes) throw new VaultError('OVERSIZED', `event is larger than ${LIMITS.maxEventBytes} bytes`)
  return { event, raw, id: sha256Hex(raw) }
}

/**
 * Decode untrusted bytes: limits, canonical form and shape, then the strict
 * signature. `expectedVault` binds the event to this vault (null accepts only a
 * genesis event). Throws a VaultError naming what is wrong.
 */
export function decodeEvent(raw: string, expectedVault: string | null, backend?: Ed25519Backend): DecodedEvent {
  const decoded = decodeUnverified(raw)
  checkVault(decoded, expectedVault)
  verifyEventSignature(decoded.event, backend, decoded.raw)
  return decoded
}

/** Limits, canonical form and shape only; the signature is checked separately. */
export function decodeUnverified(raw: string): DecodedEvent {
  const value = parseCanonical(raw, LIMITS.maxEventBytes, LIMITS.maxDepth)
  const event = checkShape(value)
  return { event, raw, id: sha256Hex(raw) }
}

export function checkVault({ event, id }: DecodedEvent, expectedVault: string | null): void {
  if (event.type === GENESIS_TYPE) {
    if (expectedVault !== null && id !== expectedVault) {
      throw WRONG_VAULT('genesis event does not hash to this vault id')
    }
    return
  }
  if (event.vault !== expectedVault) throw WRONG_VAULT(`event belongs to vault ${String(event.vault).slice(0, 12)}…, not this one`)
}

/** Strict signature check; pass the canonical `raw` bytes when known to skip re-encoding. */
export function verifyEventSignature(event: SignedEvent, backend?: Ed25519Backend, raw?: string): void {
  const pk = fromHex(event.author, 32)!
  if (isWeakPublicKey(pk)) throw WEAK_KEY('author key is of small order or not canonically encoded')
  const message = raw === undefined ? signingBytes(event) : signingBytesFromRaw(raw, event)
  if (!verifyStrict(pk, message, fromHex(event.sig, 64)!, backend)) {
    throw BAD_SIGNATURE(`signature of ${event.type} #${event.seq} does not verify under the strict policy`)
  }
}

/** Structural rules of envelope v1. Returns the value typed as a SignedEvent. */
export function checkShape(value: unknown): SignedEvent {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw MALFORMED('event must be a JSON object')
  const e = value as Record<string, unknown>
  const keys = Object.keys(e).sort()
  if (keys.length !== KEYS.length || keys.some((k, i) => k !== KEYS[i])) {
    throw MALFORMED(`envelope v1 has exactly the fields ${KEYS.join(', ')}`)
  }
  if (e.v !== ENVELOPE_VERSION) throw MALFORMED(`unsupported envelope version ${String(e.v)}`)
  if (!isHex(e.author, 32)) throw MALFORMED('author must be a 32-byte hex public key')
  if (!Number.isSafeInteger(e.seq) || (e.seq as number) < 1) throw MALFORMED('seq must be a positive integer')
  if (typeof e.type !== 'string' || e.type.length > LIMITS.maxTypeLength || !TYPE_RE.test(e.type)) {
    throw MALFORMED('type must look like "domain.verb"')
  }
  if (!isHex(e.sig, 64)) throw MALFORMED('sig must be a 64-byte hex signature')
  checkTimestamp(e.ts)
  checkChainFields(e)
  if (typeof e.payload !== 'object' || e.payload === null || Array.isArray(e.payload)) throw MALFORMED('payload must be an object')
  checkSeen(e.seen, e.author as string)
  return value as SignedEvent
}

function checkTimestamp(ts: unknown): void {
  if (typeof ts !== 'string' || !TS_RE.test(ts)) throw MALFORMED('ts must be a UTC timestamp like 2026-01-02T03:04:05.678Z')
  const parsed = new Date(ts)
  if (Number.isNaN(parsed.getTime()) || parsed.toISOString() !== ts) throw MALFORMED('ts is not a real UTC instant')
}

function checkChainFields(e: Record<string, unknown>): void {
  if (e.type === GENESIS_TYPE) {
    if (e.seq !== 1 || e.vault !== null || e.prev !== null) throw MALFORMED('genesis must be seq 1 with null vault and prev')
    return
  }
  if (!isHex(e.vault, 32)) throw MALFORMED('vault must be a 32-byte hex id')
  if (!isHex(e.prev, 32)) throw MALFORMED('prev must be a 32-byte hex hash')
  if (e.seq === 1 && e.prev !== e.vault) throw MALFORMED('the first event of a feed must name the vault id as prev')
}

function checkSeen(seen: unknown, author: string): void {
  if (!Array.isArray(seen) || seen.length > LIMITS.maxSeenHeads) throw MALFORMED(`seen must be a list of at most ${LIMITS.maxSeenHeads} heads`)
  let last = ''
  for (const head of seen) {
    const h = head as SeenHead
    const ok = typeof h === 'object' && h !== null && Object.keys(h).length === 3 && isHex(h.author, 32) &&
      Number.isSafeInteger(h.seq) && h.seq >= 1 && isHex(h.id, 32)
    if (!ok) throw MALFORMED('each seen head is {author, seq, id}')
    if (h.author <= last) throw MALFORMED('seen heads must be sorted by author without repeats')
    if (h.author === author) throw MALFORMED('seen heads name other feeds, not the author\'s own')
    last = h.author
  }
}
