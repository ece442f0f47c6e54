import { describe, expect, it } from 'vitest'
import {
  consistencyProof,
  inclusionProof,
  leafHash,
  nodeHash,
  rootOf,
  rootOfIds,
  verifyConsistency,
  verifyInclusion,
  EMPTY_ROOT,
  type Hash
} from '../core/proofs/merkle.js'

const leaves = (n: number) => Array.from({ length: n }, (_, i) => leafHash(new TextEncoder().encode(`leaf ${i}`)))
const hex = (h: Hash) => Buffer.from(h).toString('hex')
const flip = (h: Hash, bit = 0) => {
  const c = Uint8Array.from(h)
  c[bit >> 3]! ^= 1 << (bit & 7)
  return c
}

describe('merkle', () => {
  it('merkle - RFC 6962 hashing: empty tree, leaf and node prefixes', () => {
    expect(hex(EMPTY_ROOT)).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
    expect(hex(leafHash(new Uint8Array(0)))).toBe('6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d')
    const [a, b, c] = leaves(3)
    expect(hex(rootOf([a!, b!, c!]))).toBe(hex(nodeHash(nodeHash(a!, b!), c!)))
  })

  it('merkle - the root over event ids in one pass equals the tree over their event leaves, at every size', async () => {
    const { eventLeaf } = await import('../core/proofs/checkpoint.js')
    const ids = Array.from({ length: 300 }, (_, i) => hex(leafHash(new TextEncoder().encode(`event ${i}`))))
    for (let n = 0; n <= 300; n++) {
      const want = rootOf(ids.slice(0, n).map(eventLeaf))
      expect(hex(rootOfIds(ids.slice(0, n).join(''))), `n=${n}`).toBe(hex(want))
    }
    expect(() => rootOfIds('ab')).toThrow(/64 hex digits/)
    expect(() => rootOfIds('zz'.repeat(32))).toThrow(/64 hex digits/)
  })

  it('merkle - every inclusion proof up to 64 leaves verifies', () => {
    for (let n = 1; n <= 64; n++) {
      const l = leaves(n),
        root = rootOf(l)
      for (let m = 0; m < n; m++)
        expect(verifyInclusion(l[m]!, m, n, inclusionProof(l, m), root), `${m}/${n}`).toBe(true)
    }
  })

  it('merkle - every consistency proof up to 64 leaves verifies', () => {
    for (let n = 1; n <= 64; n++) {
      const l = leaves(n),
        root = rootOf(l)
      for (let m = 1; m <= n; m++)
        expect(verifyConsistency(m, n, consistencyProof(l, m), rootOf(l, 0, m), root), `${m}/${n}`).toBe(true)
    }
  })

  // Broken proofs in the style of transparency-dev/merkle's consistency and inclusion test data.
  it('merkle - broken inclusion proofs are rejected: bit flips, truncated, extra hashes, wrong sizes, wrong index, swapped root', () => {
    const l = leaves(13),
      root = rootOf(l),
      m = 6,
      proof = inclusionProof(l, m)
    expect(verifyInclusion(l[m]!, m, 13, proof, root)).toBe(true)
    for (let i = 0; i < proof.length; i++)
      for (const bit of [0, 100, 255]) {
        expect(
          verifyInclusion(
            l[m]!,
            m,
            13,
            proof.map((h, j) => (j === i ? flip(h, bit) : h)),
            root
          )
        ).toBe(false)
      }
    expect(verifyInclusion(flip(l[m]!), m, 13, proof, root)).toBe(false)
    expect(verifyInclusion(l[m]!, m, 13, proof.slice(0, -1), root)).toBe(false)
    expect(verifyInclusion(l[m]!, m, 13, [...proof, proof[0]!], root)).toBe(false)
    expect(verifyInclusion(l[m]!, m, 13, [...proof.slice(0, -1), Uint8Array.from([...proof.at(-1)!, 0])], root)).toBe(
      false
    )
    // A size that changes the path's shape is caught here; the size itself is bound to the
    // root by the signed checkpoint (which names both), so verifiers take it from there.
    for (const size of [7, 6, 0, -1]) expect(verifyInclusion(l[m]!, m, size, proof, root)).toBe(false)
    const bigger = leaves(14)
    expect(verifyInclusion(l[m]!, m, 14, proof, rootOf(bigger))).toBe(false)
    for (const idx of [5, 7, 13, -1]) expect(verifyInclusion(l[m]!, idx, 13, proof, root)).toBe(false)
    expect(verifyInclusion(l[m]!, m, 13, proof, rootOf(l, 0, 12))).toBe(false)
    expect(verifyInclusion(l[m]!, m, 13, [...proof].reverse(), root)).toBe(false)
  })

  it('merkle - broken consistency proofs are rejected: bit flips, truncated, extra hashes, swapped roots, sizes off by one', () => {
    const l = leaves(21)
    for (const m of [1, 4, 7, 8, 13, 20]) {
      const proof = consistencyProof(l, m),
        r1 = rootOf(l, 0, m),
        r2 = rootOf(l)
      expect(verifyConsistency(m, 21, proof, r1, r2)).toBe(true)
      for (let i = 0; i < proof.length; i++)
        expect(
          verifyConsistency(
            m,
            21,
            proof.map((h, j) => (j === i ? flip(h, 7) : h)),
            r1,
            r2
          )
        ).toBe(false)
      expect(verifyConsistency(m, 21, proof.slice(0, -1), r1, r2)).toBe(false)
      expect(verifyConsistency(m, 21, proof.slice(1), r1, r2)).toBe(false)
      expect(verifyConsistency(m, 21, [...proof, proof[0]!], r1, r2)).toBe(false)
      expect(verifyConsistency(m, 21, [...proof.slice(0, -1), proof.at(-1)!.subarray(0, 31)], r1, r2)).toBe(false)
      expect(verifyConsistency(m, 21, proof, r2, r1)).toBe(false)
      expect(verifyConsistency(m, 21, proof, flip(r1), r2)).toBe(false)
      expect(verifyConsistency(m, 21, proof, r1, flip(r2, 200))).toBe(false)
      expect(verifyConsistency(m + 1, 21, proof, r1, r2)).toBe(false)
      expect(verifyConsistency(m - 1 || 2, 21, proof, r1, r2)).toBe(false)
      // the second size is bound to its root by the signed checkpoint: against the 22-leaf root it fails
      expect(verifyConsistency(m, 22, proof, r1, rootOf(leaves(22)))).toBe(false)
    }
    expect(verifyConsistency(21, 21, [], rootOf(l), rootOf(l))).toBe(true)
    expect(verifyConsistency(21, 21, [rootOf(l)], rootOf(l), rootOf(l))).toBe(false)
    expect(verifyConsistency(0, 21, [], EMPTY_ROOT, rootOf(l))).toBe(false)
    expect(verifyConsistency(22, 21, [], rootOf(l), rootOf(l))).toBe(false)
  })
})
