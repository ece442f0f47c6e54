/**
 * The signed, versioned form of every event.
 *
 * Signed bytes = domain tag || canonical JSON of the envelope without `sig`.
 * The domain tag names the purpose, the envelope version and the vault
 * ("tresor/v2/event/<vault>"), so a signature made for one vault, purpose or
 * version never verifies for another. The event id is SHA-256 of the
 * canonical JSON of the signed envelope.
 *
 * v2 (written now): `deps` cites the event's causal predecessors in the
 * governance DAG by (author, seq, id): the tips its author held, and its own
 * previous governance event. At most
 * LIMITS.maxDeps, whatever the number of feeds. A gate admits an event only
 * once it holds every event it cites.
 * v1 (read, never written): `seen` listed the heads of up to 64 other feeds.
 */
import { canonicalize, parseCanonical, type Json } from './canonical.js'
import { isHex, sha256Hex, toHex, utf8, concatBytes } from './bytes.js'
import {
  signDetached,
  hexKey,
  prepareSpelled,
  verifyPrepared,
  type Ed25519Backend,
  type PreparedVerify
} from './ed25519.js'
import { BAD_SIGNATURE, MALFORMED, OVERSIZED, WEAK_KEY, WRONG_VAULT, type VaultError } from './errors.js'
import { LIMITS } from './limits.js'
import { DOMAIN_TAG } from './formats.js'

export const GENESIS_TYPE = 'vault.genesis'

/** A citation of another event: its slot and its id (the hash of its signed bytes). */
export interface Cite {
  author: string
  seq: number
  id: string
}
/** v1's name for a citation. */
export type SeenHead = Cite

interface EnvelopeBody {
  /** Vault id (hash of the genesis event); null only in the genesis event itself. */
  vault: string | null
  author: string
  seq: number
  /** Hash of the previous event of this feed; the vault id for a feed's first event; null for genesis. */
  prev: string | null
  ts: string
  type: string
  payload: { [key: string]: Json }
}

export interface UnsignedEventV1 extends EnvelopeBody {
  v: 1
  seen: Cite[]
}
export interface UnsignedEventV2 extends EnvelopeBody {
  v: 2
  deps: Cite[]
}
export type UnsignedEvent = UnsignedEventV1 | UnsignedEventV2

export type SignedEvent = UnsignedEvent & { sig: string }

/** A signed event together with its canonical bytes and id. */
export interface DecodedEvent {
  event: SignedEvent
  raw: string
  id: string
}

const KEYS_V1 = ['author', 'payload', 'prev', 'seen', 'seq', 'sig', 'ts', 'type', 'v', 'vault']
const KEYS_V2 = ['author', 'deps', 'payload', 'prev', 'seq', 'sig', 'ts', 'type', 'v', 'vault']
const TS_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const TYPE_RE = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/

/** Domain-separated bytes that a signature covers. */
export function signingBytes(unsigned: UnsignedEvent): Uint8Array {
  return concatBytes(utf8(domainOf(unsigned)), utf8(canonicalize(stripSig(unsigned))))
}

function domainOf(e: UnsignedEvent): string {
  return DOMAIN_TAG.event(e.v, e.vault)
}

/**
 * The same bytes as `signingBytes(event)`, cut from the event's canonical
 * signed form without re-encoding it. Only for `raw` already checked to be
 * canonical: then the top-level `"sig"` member is the last `,"sig":"<sig>"`
 * in the text (in both versions the members after it are ts, type, v and
 * vault, whose values cannot contain that text).
 */
export function signingBytesFromRaw(raw: string, event: SignedEvent): Uint8Array {
  const at = raw.lastIndexOf(',"sig":"')
  const end = at + 8 + event.sig.length
  if (at < 0 || raw.charCodeAt(end) !== 0x22 || !raw.startsWith(event.sig, at + 8)) return signingBytes(event)
  // A Buffer is a Uint8Array; the message is read once by the verifier and dropped, so it is not copied again.
  return Buffer.from(domainOf(event) + raw.slice(0, at) + raw.slice(end + 1), 'utf8')
}

function stripSig(event: UnsignedEvent | SignedEvent): UnsignedEvent {
  const { vault, author, seq, prev, ts, type, payload } = event
  return event.v === 2
    ? { v: 2, vault, author, seq, prev, ts, type, payload, deps: event.deps }
    : { v: 1, vault, author, seq, prev, ts, type, payload, seen: event.seen }
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
  if (raw.length > LIMITS.maxEventBytes) throw OVERSIZED(`event is larger than ${LIMITS.maxEventBytes} bytes`)
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
  if (event.vault !== expectedVault)
    throw WRONG_VAULT(`event belongs to vault ${String(event.vault).slice(0, 12)}…, not this one`)
}

/** Strict signature check; pass the canonical `raw` bytes when known to skip re-encoding. */
export function verifyEventSignature(event: SignedEvent, backend?: Ed25519Backend, raw?: string): void {
  const prepared = prepareEventSignature(event, raw)
  if (prepared === null || !verifyPrepared(prepared, backend)) throw badSignature(event)
}

/**
 * verifyEventSignature's first half: the key's verdict (throws WEAK_KEY), the signed bytes and the signature's
 * policy; null when the signature fails outright (badSignature). verifyPrepared runs the curve check.
 */
export function prepareEventSignature(event: SignedEvent, raw?: string): PreparedVerify | null {
  const key = hexKey(event.author)
  if (!key || key.weak) throw WEAK_KEY('author key is of small order or not canonically encoded')
  const message = raw === undefined ? signingBytes(event) : signingBytesFromRaw(raw, event)
  return prepareSpelled(key, message, event.sig)
}

export function badSignature(event: SignedEvent): VaultError {
  return BAD_SIGNATURE(`signature of ${event.type} #${event.seq} does not verify under the strict policy`)
}

/** Structural rules of envelope v1. Returns the value typed as a SignedEvent. */
export function checkShape(value: unknown): SignedEvent {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw MALFORMED('event must be a JSON object')
  const e = value as Record<string, unknown>
  if (e.v !== 1 && e.v !== 2) throw MALFORMED(`unsupported envelope version ${String(e.v).slice(0, 16)}`)
  const expected = e.v === 2 ? KEYS_V2 : KEYS_V1
  // As many own keys as expected and every expected one present: exactly those keys (no sort needed).
  if (Object.keys(e).length !== expected.length || !expected.every((k) => Object.hasOwn(e, k))) {
    throw MALFORMED(`envelope v${e.v} has exactly the fields ${expected.join(', ')}`)
  }
  if (!isHex32(e.author)) throw MALFORMED('author must be a 32-byte hex public key')
  if (!Number.isSafeInteger(e.seq) || (e.seq as number) < 1) throw MALFORMED('seq must be a positive integer')
  if (typeof e.type !== 'string' || e.type.length > LIMITS.maxTypeLength || !TYPE_RE.test(e.type)) {
    throw MALFORMED('type must look like "domain.verb"')
  }
  if (!isHex(e.sig, 64)) throw MALFORMED('sig must be a 64-byte hex signature')
  checkTimestamp(e.ts)
  checkChainFields(e)
  if (typeof e.payload !== 'object' || e.payload === null || Array.isArray(e.payload))
    throw MALFORMED('payload must be an object')
  if (e.v === 2) checkDeps(e.deps, e.author as string, e.seq as number, e.type === GENESIS_TYPE)
  else checkSeen(e.seen, e.author as string)
  return value as SignedEvent
}

function checkTimestamp(ts: unknown): void {
  if (typeof ts !== 'string' || !TS_RE.test(ts))
    throw MALFORMED('ts must be a UTC timestamp like 2026-01-02T03:04:05.678Z')
  if (!isRealInstant(ts)) throw MALFORMED('ts is not a real UTC instant')
}

const digits = (s: string, at: number, n: number) => {
  let v = 0
  for (let i = at; i < at + n; i++) v = v * 10 + s.charCodeAt(i) - 48
  return v
}

/**
 * A timestamp of TS_RE's shape names a real instant exactly when `new Date(ts).toISOString() === ts`: a month
 * 1-12, a day that month has (proleptic Gregorian leap years, as Date counts them), hours below 24, minutes and
 * seconds below 60. Judged from the digits: a Date costs a microsecond an event in a full check.
 */
export function isRealInstant(ts: string): boolean {
  const year = digits(ts, 0, 4),
    month = digits(ts, 5, 2),
    day = digits(ts, 8, 2)
  if (month < 1 || month > 12 || day < 1) return false
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)
  const days = month === 2 ? (leap ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31
  return day <= days && digits(ts, 11, 2) < 24 && digits(ts, 14, 2) < 60 && digits(ts, 17, 2) < 60
}

/** Author keys and vault ids already found to be 32-byte hex: every event of a feed repeats them. */
const hex32 = new Set<string>()
function isHex32(value: unknown): value is string {
  if (typeof value === 'string' && hex32.has(value)) return true
  if (!isHex(value, 32)) return false
  if (hex32.size >= 1024) hex32.clear()
  hex32.add(value)
  return true
}

function checkChainFields(e: Record<string, unknown>): void {
  if (e.type === GENESIS_TYPE) {
    if (e.seq !== 1 || e.vault !== null || e.prev !== null)
      throw MALFORMED('genesis must be seq 1 with null vault and prev')
    return
  }
  if (!isHex32(e.vault)) throw MALFORMED('vault must be a 32-byte hex id')
  if (!isHex(e.prev, 32)) throw MALFORMED('prev must be a 32-byte hex hash')
  if (e.seq === 1 && e.prev !== e.vault) throw MALFORMED('the first event of a feed must name the vault id as prev')
}

function isCite(h: unknown): h is Cite {
  const c = h as Cite
  return (
    typeof c === 'object' &&
    c !== null &&
    !Array.isArray(c) &&
    Object.keys(c).length === 3 &&
    isHex(c.author, 32) &&
    Number.isSafeInteger(c.seq) &&
    c.seq >= 1 &&
    isHex(c.id, 32)
  )
}

/** Citation order: by author, then seq, then id. */
export function compareCites(a: Cite, b: Cite): number {
  return a.author < b.author
    ? -1
    : a.author > b.author
      ? 1
      : a.seq !== b.seq
        ? a.seq - b.seq
        : a.id < b.id
          ? -1
          : a.id > b.id
            ? 1
            : 0
}

/** v2: at most maxDeps citations, sorted without repeats; the author's own feed only once, before this event. */
function checkDeps(deps: unknown, author: string, seq: number, genesis: boolean): void {
  if (!Array.isArray(deps) || deps.length > LIMITS.maxDeps)
    throw MALFORMED(`deps must be a list of at most ${LIMITS.maxDeps} citations`)
  if (genesis && deps.length > 0) throw MALFORMED('the genesis event cites nothing')
  let own = 0
  for (const [i, d] of deps.entries()) {
    if (!isCite(d)) throw MALFORMED('each dep is {author, seq, id}')
    if (i > 0 && compareCites(deps[i - 1] as Cite, d) >= 0)
      throw MALFORMED('deps must be sorted by author, seq and id without repeats')
    if (d.author === author && (++own > 1 || d.seq >= seq))
      throw MALFORMED("deps cite the author's own feed at most once, and only an earlier event")
  }
}

function checkSeen(seen: unknown, author: string): void {
  if (!Array.isArray(seen) || seen.length > LIMITS.maxSeenHeads)
    throw MALFORMED(`seen must be a list of at most ${LIMITS.maxSeenHeads} heads`)
  let last = ''
  for (const head of seen) {
    const h = head as SeenHead
    if (!isCite(h)) throw MALFORMED('each seen head is {author, seq, id}')
    if (h.author <= last) throw MALFORMED('seen heads must be sorted by author without repeats')
    if (h.author === author) throw MALFORMED("seen heads name other feeds, not the author's own")
    last = h.author
  }
}
