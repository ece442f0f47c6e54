/**
 * Secrets at rest: a passphrase-derived key (scrypt) and nacl().secretbox.
 * The header (format, KDF parameters, anything the caller names) is bound into
 * the ciphertext, so a changed parameter, name or public key in the file is an
 * authentication failure, exactly like a wrong passphrase.
 */
import { randomBytes, scrypt } from 'node:crypto'
import type naclType from 'tweetnacl'
import { lazyPackage } from './lazy.js'
import { canonicalize, type Json } from './canonical.js'
import { sha256 } from './bytes.js'
import { KDF_OUT_OF_BOUNDS, KEY_AUTH_FAILED, MALFORMED } from './errors.js'

// tweetnacl is loaded when first used (sealing a key file, the tweetnacl backend): ~25 ms a process otherwise.
const nacl = lazyPackage<typeof naclType>('tweetnacl')

export interface ScryptParams {
  name: 'scrypt'
  N: number
  r: number
  p: number
  salt: string
}

/** Bounds every device enforces before deriving: a file cannot make us spend minutes or gigabytes. */
export const KDF_BOUNDS = Object.freeze({
  minN: 2 ** 14,
  maxN: 2 ** 20,
  minR: 8,
  maxR: 32,
  minP: 1,
  maxP: 4,
  minSalt: 16,
  maxSalt: 64,
  maxMemory: 2 ** 28,
  maxWork: 2 ** 21
})
export const DEFAULT_KDF = Object.freeze({ N: 2 ** 15, r: 8, p: 1 })

export interface SealedSecret {
  kdf: ScryptParams
  nonce: string
  box: string
}

export function checkKdf(kdf: unknown): ScryptParams {
  const k = kdf as ScryptParams
  if (typeof k !== 'object' || k === null || k.name !== 'scrypt') throw MALFORMED('key derivation must be scrypt')
  const salt = typeof k.salt === 'string' ? Buffer.from(k.salt, 'base64') : Buffer.alloc(0)
  const b = KDF_BOUNDS
  const powerOfTwo = Number.isInteger(k.N) && k.N > 0 && (k.N & (k.N - 1)) === 0
  if (!powerOfTwo || k.N < b.minN || k.N > b.maxN)
    throw KDF_OUT_OF_BOUNDS(`scrypt N must be a power of two in [${b.minN}, ${b.maxN}]`)
  if (!Number.isInteger(k.r) || k.r < b.minR || k.r > b.maxR)
    throw KDF_OUT_OF_BOUNDS(`scrypt r must be in [${b.minR}, ${b.maxR}]`)
  if (!Number.isInteger(k.p) || k.p < b.minP || k.p > b.maxP)
    throw KDF_OUT_OF_BOUNDS(`scrypt p must be in [${b.minP}, ${b.maxP}]`)
  if (salt.length < b.minSalt || salt.length > b.maxSalt)
    throw KDF_OUT_OF_BOUNDS(`salt must be ${b.minSalt}-${b.maxSalt} bytes`)
  // Each parameter in bounds is not enough: together they set the memory and the time a file can make this device
  // spend.
  if (128 * k.N * k.r * k.p > b.maxMemory)
    throw KDF_OUT_OF_BOUNDS(
      `scrypt N·r·p would need ${Math.round((128 * k.N * k.r * k.p) / 2 ** 20)} MiB; at most ${b.maxMemory / 2 ** 20} MiB (128·N·r·p bytes)`
    )
  if (k.N * k.r * k.p > b.maxWork) throw KDF_OUT_OF_BOUNDS(`scrypt N·r·p is ${k.N * k.r * k.p}; at most ${b.maxWork}`)
  return k
}

function deriveKey(passphrase: string, kdf: ScryptParams): Promise<Uint8Array> {
  const salt = Buffer.from(kdf.salt, 'base64')
  const maxmem = 256 * kdf.N * kdf.r + 1024 * 1024
  return new Promise((resolve, reject) => {
    scrypt(passphrase.normalize('NFC'), salt, 32, { N: kdf.N, r: kdf.r, p: kdf.p, maxmem }, (err, key) =>
      err ? reject(err) : resolve(new Uint8Array(key))
    )
  })
}

function headerDigest(kdf: ScryptParams, header: Json): Uint8Array {
  return sha256(canonicalize({ header, kdf: kdf as unknown as Json }))
}

/** Encrypt `secret` under `passphrase`, binding `header` (public, stored beside it by the caller). */
export async function sealSecret(
  passphrase: string,
  secret: Uint8Array,
  header: Json,
  params: { N: number; r: number; p: number } = DEFAULT_KDF
): Promise<SealedSecret> {
  if (typeof passphrase !== 'string' || passphrase.length === 0) throw MALFORMED('a passphrase is required')
  const kdf = checkKdf({ name: 'scrypt', ...params, salt: randomBytes(16).toString('base64') })
  const key = await deriveKey(passphrase, kdf)
  const nonce = randomBytes(nacl().secretbox.nonceLength)
  const plain = new Uint8Array(32 + secret.length)
  plain.set(headerDigest(kdf, header), 0)
  plain.set(secret, 32)
  const box = nacl().secretbox(plain, nonce, key)
  plain.fill(0)
  key.fill(0)
  return { kdf, nonce: nonce.toString('base64'), box: Buffer.from(box).toString('base64') }
}

/** Decrypt; a wrong passphrase and an altered file both end in KEY_AUTH_FAILED. */
export async function openSecret(passphrase: string, sealed: SealedSecret, header: Json): Promise<Uint8Array> {
  const kdf = checkKdf(sealed?.kdf)
  if (typeof sealed.nonce !== 'string' || typeof sealed.box !== 'string')
    throw MALFORMED('sealed secret lacks nonce or box')
  const nonce = new Uint8Array(Buffer.from(sealed.nonce, 'base64'))
  if (nonce.length !== nacl().secretbox.nonceLength) throw MALFORMED('nonce has the wrong length')
  const key = await deriveKey(passphrase, kdf)
  const plain = nacl().secretbox.open(new Uint8Array(Buffer.from(sealed.box, 'base64')), nonce, key)
  key.fill(0)
  if (!plain) throw KEY_AUTH_FAILED('wrong passphrase, or the file was altered')
  const expected = headerDigest(kdf, header)
  if (Buffer.compare(Buffer.from(plain.subarray(0, 32)), Buffer.from(expected)) !== 0) {
    plain.fill(0)
    throw KEY_AUTH_FAILED('the file header (name, key or parameters) was altered')
  }
  const secret = plain.slice(32)
  plain.fill(0)
  return secret
}
