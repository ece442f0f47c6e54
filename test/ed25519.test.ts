import { describe, expect, it } from 'vitest'
import nacl from 'tweetnacl'
import { readFileSync } from 'node:fs'
import { hasSmallOrder, isCanonicalScalar, signDetached, verifyStrict, type Ed25519Backend } from '../core/ed25519.js'

interface Vector {
  index: number
  message: string
  pub_key: string
  signature: string
  libsodium_accepts: boolean
  tweetnacl_js_accepts: boolean
}
const vectors = JSON.parse(
  readFileSync(new URL('./fixtures/ed25519-speccheck.json', import.meta.url), 'utf8')
) as Vector[]
const hex = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'))
const BACKENDS: Ed25519Backend[] = ['native', 'tweetnacl']
const L = (1n << 252n) + 27742317777372353535851937790883648493n

function addL(sig: Uint8Array): Uint8Array {
  const s = BigInt('0x' + Buffer.from(sig.subarray(32)).reverse().toString('hex'))
  const bumped = Buffer.from((s + L).toString(16).padStart(64, '0'), 'hex').reverse()
  const out = Uint8Array.from(sig)
  out.set(bumped, 32)
  return out
}

describe('ed25519', () => {
  it('ed25519 - the fixture holds the 12 speccheck vectors', () => {
    expect(vectors.map((v) => v.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
  })

  for (const backend of BACKENDS) {
    it(`ed25519 - ${backend}: speccheck vectors are decided as libsodium does (only vector 3 verifies)`, () => {
      const decided = vectors.map((v) => verifyStrict(hex(v.pub_key), hex(v.message), hex(v.signature), backend))
      expect(decided).toEqual(vectors.map((v) => v.libsodium_accepts))
      expect(decided.flatMap((ok, i) => (ok ? [i] : []))).toEqual([3])
    })

    it(`ed25519 - ${backend}: a malleated signature (S + L) is refused`, () => {
      const kp = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(9))
      const msg = new TextEncoder().encode('approve proposal 42')
      const sig = signDetached(kp.secretKey, msg, backend)
      expect(verifyStrict(kp.publicKey, msg, sig, backend)).toBe(true)
      const malleated = addL(sig)
      expect(nacl.sign.detached.verify(msg, malleated, kp.publicKey)).toBe(true) // tweetnacl alone would accept it
      expect(verifyStrict(kp.publicKey, msg, malleated, backend)).toBe(false)
    })
  }

  it('ed25519 - tweetnacl alone accepts what the speccheck project says it does (the oracle is honest)', () => {
    const accepted = vectors.map((v) => nacl.sign.detached.verify(hex(v.message), hex(v.signature), hex(v.pub_key)))
    expect(accepted).toEqual(vectors.map((v) => v.tweetnacl_js_accepts))
  })

  it('ed25519 - native and tweetnacl sign byte-identically from the same keypair', () => {
    for (let i = 0; i < 64; i++) {
      const kp = nacl.sign.keyPair()
      const msg = nacl.randomBytes(i * 17)
      const a = signDetached(kp.secretKey, msg, 'native')
      const b = signDetached(kp.secretKey, msg, 'tweetnacl')
      expect(Buffer.from(a).toString('hex')).toBe(Buffer.from(b).toString('hex'))
      expect(verifyStrict(kp.publicKey, msg, a, 'tweetnacl')).toBe(true)
      expect(verifyStrict(kp.publicKey, msg, b, 'native')).toBe(true)
    }
  })

  it('ed25519 - both backends refuse a flipped bit anywhere', () => {
    const kp = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(3))
    const msg = new TextEncoder().encode('m')
    const sig = signDetached(kp.secretKey, msg)
    for (let bit = 0; bit < 512; bit += 7) {
      const bad = Uint8Array.from(sig)
      bad[bit >> 3]! ^= 1 << (bit & 7)
      for (const backend of BACKENDS) expect(verifyStrict(kp.publicKey, msg, bad, backend)).toBe(false)
    }
  })

  it('ed25519 - the small-order table holds the order-8 pair y and -y (mod p)', () => {
    const p = (1n << 255n) - 19n
    const y = (h: string) => BigInt('0x' + Buffer.from(h, 'hex').reverse().toString('hex'))
    const a = y('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05')
    const b = y('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a')
    expect((a + b) % p).toBe(0n)
    // sign bit ignored
    expect(hasSmallOrder(hex('0100000000000000000000000000000000000000000000000000000000000080'))).toBe(true)
    expect(hasSmallOrder(nacl.sign.keyPair().publicKey)).toBe(false)
  })

  it('ed25519 - every small-order spelling is caught with either sign bit, and a byte off any of them is not', () => {
    const table = [
      '0000000000000000000000000000000000000000000000000000000000000000',
      '0100000000000000000000000000000000000000000000000000000000000000',
      '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
      'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
      'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'
    ].map(hex)
    for (const bad of table) {
      expect(hasSmallOrder(bad)).toBe(true)
      const signed = Uint8Array.from(bad)
      signed[31]! |= 0x80
      expect(hasSmallOrder(signed)).toBe(true)
      for (let i = 0; i < 32; i++) {
        const off = Uint8Array.from(bad)
        off[i]! ^= i === 31 ? 0x01 : 0x10
        expect(hasSmallOrder(off), `byte ${i} off`).toBe(table.some((t) => t.every((b, k) => b === off[k])))
      }
    }
  })

  it('ed25519 - S equal to L is not canonical, L - 1 is', () => {
    const le = (n: bigint) => Uint8Array.from(Buffer.from(n.toString(16).padStart(64, '0'), 'hex').reverse())
    expect(isCanonicalScalar(le(L))).toBe(false)
    expect(isCanonicalScalar(le(L - 1n))).toBe(true)
    expect(isCanonicalScalar(le((1n << 256n) - 1n))).toBe(false)
  })
})
