/**
 * Ed25519 with one strict verification policy, the same on every device:
 * - signature is 64 bytes, key 32 bytes
 * - S must be canonical (S < L): tweetnacl alone accepts S + L (malleability)
 * - the public key must be a canonical encoding and not of small order
 * - R must not be of small order
 * Only then does the curve check run, natively (node:crypto) where present or in
 * tweetnacl. Both backends sign byte-identically from the same tweetnacl keypair
 * (Ed25519 is deterministic); tests hold them to it.
 */
import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto'
import type naclType from 'tweetnacl'
import { lazyPackage } from './lazy.js'
import { INTERNAL } from './errors.js'
import { fromHex } from './bytes.js'

// tweetnacl is loaded when first used (sealing a key file, the tweetnacl backend): ~25 ms a process otherwise.
const nacl = lazyPackage<typeof naclType>('tweetnacl')

export type Ed25519Backend = 'native' | 'tweetnacl'

// The group order L, little-endian, as bytes: S must be strictly below it.
const L = Uint8Array.from([
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10
])

// Encodings (sign bit masked) of the points of order 1, 2, 4 and 8, plus the
// non-canonical spellings p and p+1 of y = 0 and y = 1. Same list libsodium refuses.
const SMALL_ORDER_HEX = [
  '0000000000000000000000000000000000000000000000000000000000000000', // y = 0, order 4
  '0100000000000000000000000000000000000000000000000000000000000000', // y = 1, identity
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', // order 8 (= -y of the above)
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p - 1, order 2
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p (non-canonical 0)
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f' // y = p + 1 (non-canonical 1)
]
const SMALL_ORDER = SMALL_ORDER_HEX.map((h) => Uint8Array.from(Buffer.from(h, 'hex')))

/** S < L, compared as 256-bit little-endian integers. */
export function isCanonicalScalar(s: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    if (s[i]! < L[i]!) return true
    if (s[i]! > L[i]!) return false
  }
  return false // equal to L
}

/** True when the 32-byte encoding names a point of small order (sign bit ignored). */
export function hasSmallOrder(p: Uint8Array): boolean {
  for (const bad of SMALL_ORDER) {
    // Their first bytes differ from each other: one compare rules out most (public bytes: no timing to hide).
    if (p[0] !== bad[0]) continue
    let diff = (p[31]! & 0x7f) ^ bad[31]!
    for (let i = 0; i < 31; i++) diff |= p[i]! ^ bad[i]!
    if (diff === 0) return true
  }
  return false
}

/** The y coordinate is below p = 2^255 - 19 (one encoding per point). */
export function isCanonicalPoint(p: Uint8Array): boolean {
  if ((p[31]! & 0x7f) !== 0x7f) return true
  for (let i = 30; i > 0; i--) if (p[i] !== 0xff) return true
  return p[0]! < 0xed
}

/** Policy checks on the signature that do not touch the curve (the key is checked by isWeakPublicKey). */
function signaturePassesPolicy(signature: Uint8Array): boolean {
  return (
    signature.length === 64 && isCanonicalScalar(signature.subarray(32)) && !hasSmallOrder(signature.subarray(0, 32))
  )
}

/** A public key that the policy will never verify against (small order or non-canonical). */
export function isWeakPublicKey(publicKey: Uint8Array): boolean {
  if (publicKey.length === 32 && publicKeyCache.size > 0) {
    const cached = publicKeyCache.get(Buffer.from(publicKey.buffer, publicKey.byteOffset, 32).toString('latin1'))
    if (cached) return cached.weak
  }
  return publicKey.length !== 32 || !isCanonicalPoint(publicKey) || hasSmallOrder(publicKey)
}

const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
/** Per public key: the policy verdict on the key and, when it passes, its native key object. */
const publicKeyCache = new Map<string, { weak: boolean; key: KeyObject | null }>()
const privateKeyCache = new WeakMap<Uint8Array, KeyObject>()

function cachedKey(publicKey: Uint8Array): { weak: boolean; key: KeyObject | null } {
  const id = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('latin1')
  let entry = publicKeyCache.get(id)
  if (!entry) {
    const weak = isWeakPublicKey(publicKey)
    let key: KeyObject | null = null
    if (!weak) {
      try {
        key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' })
      } catch {
        key = null
      }
    }
    entry = { weak, key }
    if (publicKeyCache.size > 4096) publicKeyCache.clear()
    publicKeyCache.set(id, entry)
  }
  return entry
}

function nativePrivateKey(secretKey: Uint8Array): KeyObject {
  let key = privateKeyCache.get(secretKey)
  if (!key) {
    // A tweetnacl secret key is seed (32) || public key (32); OpenSSL wants the seed.
    key = createPrivateKey({
      key: Buffer.concat([PKCS8_PREFIX, secretKey.subarray(0, 32)]),
      format: 'der',
      type: 'pkcs8'
    })
    privateKeyCache.set(secretKey, key)
  }
  return key
}

// RFC 8032 test 1: seed || public key, and the signature of the empty message.
const RFC8032_TEST1 = {
  secretKey:
    '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60' +
    'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
  signature:
    'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b'
}
let nativeAvailable: boolean | undefined
function hasNative(): boolean {
  if (nativeAvailable === undefined) {
    try {
      // A known answer (RFC 8032, section 7.1, test 1) rather than a tweetnacl signature to compare with: signing in
      // tweetnacl cold costs ~20 ms, paid by every process and every verify worker at start.
      const secretKey = Buffer.from(RFC8032_TEST1.secretKey, 'hex')
      const ours = nodeSign(null, new Uint8Array(0), nativePrivateKey(secretKey))
      nativeAvailable = ours.toString('hex') === RFC8032_TEST1.signature
    } catch {
      nativeAvailable = false
    }
  }
  return nativeAvailable
}

let chosen: Ed25519Backend | undefined
/**
 * The backend used when none is named: native if it gives RFC 8032's answer here, else tweetnacl
 * (TRESOR_ED25519=tweetnacl forces it). Chosen once a process: reading process.env costs a microsecond a call.
 */
export function defaultBackend(): Ed25519Backend {
  return (chosen ??= process.env.TRESOR_ED25519 === 'tweetnacl' || !hasNative() ? 'tweetnacl' : 'native')
}

/** Verify under the strict policy. Never throws on bad input: a bad signature is `false`. */
export function verifyStrict(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
  backend: Ed25519Backend = defaultBackend()
): boolean {
  if (publicKey.length !== 32) return false
  return verifyJudged(cachedKey(publicKey), publicKey, message, signature, backend)
}

/** The curve check, after the key's verdict is known: the signature's policy, then the backend. */
function verifyJudged(
  verdict: { weak: boolean; key: KeyObject | null },
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
  backend: Ed25519Backend
): boolean {
  if (verdict.weak || !signaturePassesPolicy(signature)) return false
  if (backend === 'tweetnacl') return nacl().sign.detached.verify(message, signature, publicKey)
  try {
    return verdict.key !== null && nodeVerify(null, message, verdict.key, signature)
  } catch {
    return false
  }
}

const hexKeyCache = new Map<string, { weak: boolean; key: KeyObject | null; bytes: Uint8Array }>()

/** A verification with every policy check passed, the curve check still to run (verifyPrepared). */
export interface PreparedVerify {
  entry: { key: KeyObject | null; bytes: Uint8Array }
  message: Uint8Array
  signature: Uint8Array
}

/**
 * verifyStrict's first half, for a key looked up by its hex spelling (hexKey) and a signature spelled in hex: every
 * check that is not the curve's (spelling, signature policy). Null: the signature fails outright. For checking many
 * at once, the curve checks then run back to back (verifyPrepared; see checkRaws).
 */
export function prepareSpelled(
  entry: { weak: boolean; key: KeyObject | null; bytes: Uint8Array },
  message: Uint8Array,
  signatureHex: string
): PreparedVerify | null {
  if (entry.weak || typeof signatureHex !== 'string' || signatureHex.length !== 128) return null
  // Read by the check and dropped: decoded without fromHex's defensive copy. A digit that is not hex ends the
  // decoding short, and the policy's length check refuses it.
  const signature = Buffer.from(signatureHex, 'hex')
  return signaturePassesPolicy(signature) ? { entry, message, signature } : null
}

/** prepareSpelled's second half: the curve check. */
export function verifyPrepared(
  { entry, message, signature }: PreparedVerify,
  backend: Ed25519Backend = defaultBackend()
): boolean {
  return verifyJudged({ weak: false, key: entry.key }, entry.bytes, message, signature, backend)
}

/** A key spelled in hex: its bytes, policy verdict and native key (cached by spelling); null unless 32-byte hex. */
export function hexKey(publicKeyHex: string): { weak: boolean; key: KeyObject | null; bytes: Uint8Array } | null {
  let entry = hexKeyCache.get(publicKeyHex)
  if (!entry) {
    const bytes = fromHex(publicKeyHex, 32)
    if (!bytes) return null
    entry = { ...cachedKey(bytes), bytes }
    if (hexKeyCache.size > 4096) hexKeyCache.clear()
    hexKeyCache.set(publicKeyHex, entry)
  }
  return entry
}

/** Detached signature with a tweetnacl 64-byte secret key. */
export function signDetached(
  secretKey: Uint8Array,
  message: Uint8Array,
  backend: Ed25519Backend = defaultBackend()
): Uint8Array {
  if (backend === 'tweetnacl') return nacl().sign.detached(message, secretKey)
  return new Uint8Array(nodeSign(null, message, nativePrivateKey(secretKey)))
}

export interface KeyPair {
  publicKey: Uint8Array
  secretKey: Uint8Array
}

export function generateKeyPair(): KeyPair {
  // tweetnacl's keypair is the format; a fresh random seed could in theory
  // produce nothing weak, but check anyway so a broken RNG is caught loudly.
  const kp = nacl().sign.keyPair()
  if (isWeakPublicKey(kp.publicKey)) throw INTERNAL('generated a weak key: random source is broken')
  return kp
}
