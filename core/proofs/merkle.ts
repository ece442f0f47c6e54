/**
 * RFC 6962 / RFC 9162 Merkle trees: leaf hash SHA-256(0x00 || leaf), node hash
 * SHA-256(0x01 || left || right), the tree over n leaves split at the largest
 * power of two below n. Inclusion and consistency proofs and their verifiers
 * follow RFC 9162 §2.1.3-2.1.4 (verification needs only the proof, the sizes
 * and the roots).
 */
import { BAD_ARGUMENT } from '../errors.js'
import { createHash, hash } from 'node:crypto'

export type Hash = Uint8Array

/**
 * A digest as a byte array of its own. node:crypto's one-shot hash (about twice as fast as createHash for small
 * inputs) returns a Buffer slower than a string: ~1.1 µs a call against ~0.6 µs for the latin1 ('binary') string
 * copied into fresh bytes, measured here on 33-byte inputs.
 */
function digest(input: Uint8Array | string): Hash {
  return new Uint8Array(Buffer.from(hash('sha256', input, 'binary'), 'latin1'))
}

export function leafHash(data: Uint8Array): Hash {
  const input = new Uint8Array(data.length + 1) // input[0] = 0x00, the leaf prefix
  input.set(data, 1)
  return digest(input)
}

export function nodeHash(left: Hash, right: Hash): Hash {
  const input = new Uint8Array(65)
  input[0] = 1 // the node prefix
  input.set(left, 1)
  input.set(right, 33)
  return digest(input)
}

export const EMPTY_ROOT: Hash = new Uint8Array(createHash('sha256').digest())

/** The largest power of two below n (n ≥ 2): where RFC 6962 splits a tree of n leaves. */
function split(n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

/**
 * The perfect subtrees of a tree over some leaves, left to right: each one's root and leaf count (decreasing powers
 * of two, the binary digits of the leaf count).
 */
export interface Subtrees {
  roots: Hash[]
  sizes: number[]
}

/**
 * The perfect subtrees over the event leaves of `ids`, event ids (64 hex digits each) laid end to end, in one pass
 * with a stack of log2(n) subtree roots and nothing remembered (a full check wants one root per feed, not the proofs
 * rootOf's memo serves). The hashes travel as latin1 ('binary') strings, one character a byte, through two reused
 * input buffers, not even copied into bytes of their own (see digest): a full check runs this over every event of a
 * feed its checkpoint covers.
 */
export function subtreesOfIds(ids: string): Subtrees {
  if (ids.length % 64 !== 0) throw BAD_ARGUMENT('event ids are 64 hex digits each')
  const n = ids.length / 64
  const bytes = Buffer.from(ids, 'hex')
  if (bytes.length !== n * 32) throw BAD_ARGUMENT('event ids are 64 hex digits each')
  const leaf = Buffer.alloc(33) // leaf[0] = 0x00, the leaf prefix
  const node = Buffer.alloc(65)
  node[0] = 1 // the node prefix
  const join = (left: string, right: string) => {
    node.write(left, 1, 'latin1')
    node.write(right, 33, 'latin1')
    return hash('sha256', node, 'binary')
  }
  const stack: { roots: string[]; sizes: number[] } = { roots: [], sizes: [] }
  for (let i = 0; i < n; i++) {
    bytes.copy(leaf, 1, i * 32, i * 32 + 32)
    push(stack, hash('sha256', leaf, 'binary'), 1, join)
  }
  return { roots: stack.roots.map((r) => new Uint8Array(Buffer.from(r, 'latin1'))), sizes: stack.sizes }
}

/**
 * Add a subtree after the others: two neighbours of one size are the two halves of a perfect subtree, joined by
 * `join` (nodeHash; subtreesOfIds joins its latin1 strings).
 */
function push<T>({ roots, sizes }: { roots: T[]; sizes: number[] }, root: T, size: number, join: (l: T, r: T) => T) {
  let h = root
  while (sizes.length > 0 && sizes[sizes.length - 1] === size) {
    h = join(roots.pop()!, h)
    size += sizes.pop()!
  }
  roots.push(h)
  sizes.push(size)
}

/**
 * MTH of leaves given as consecutive parts, each part's perfect subtrees (subtreesOfIds): the same root as one pass
 * over all the leaves, provided the leaves before each part are a multiple of its largest subtree's size (so its
 * subtrees lie where the whole tree has them): parts of one power-of-two size, and after them any smaller part.
 */
export function joinSubtrees(parts: Subtrees[]): Hash {
  const stack: Subtrees = { roots: [], sizes: [] }
  for (const part of parts) part.roots.forEach((root, i) => push(stack, root, part.sizes[i]!, nodeHash))
  if (stack.roots.length === 0) return EMPTY_ROOT
  // The perfect subtrees, largest first, are the left children all the way down the right edge.
  let root = stack.roots.pop()!
  while (stack.roots.length > 0) root = nodeHash(stack.roots.pop()!, root)
  return root
}

/** MTH over the event leaves of `ids` (event ids laid end to end): rootOf over their eventLeaf hashes. */
export function rootOfIds(ids: string): Hash {
  return joinSubtrees([subtreesOfIds(ids)])
}

/** leafHash of a text's UTF-8 bytes, without the intermediate copy (U+0000 encodes as the 0x00 prefix). */
export function leafHashText(text: string): Hash {
  return digest('\u0000' + text)
}

/** Subtree hashes already computed for a leaf array (proofs over one tree share them). */
const memo = new WeakMap<Hash[], Map<number, Hash>>()

/** MTH(D[lo:hi]) over precomputed leaf hashes; subtree hashes are remembered per leaf array. */
export function rootOf(leaves: Hash[], lo = 0, hi = leaves.length): Hash {
  const n = hi - lo
  if (n === 0) return EMPTY_ROOT
  if (n === 1) return leaves[lo]!
  let cache = memo.get(leaves)
  if (!cache) memo.set(leaves, (cache = new Map()))
  const key = lo * 2 ** 26 + n // lo and n below 2^26 each for any feed we hold (64M events)
  const hit = cache.get(key)
  if (hit) return hit
  const k = split(n)
  const h = nodeHash(rootOf(leaves, lo, lo + k), rootOf(leaves, lo + k, hi))
  cache.set(key, h)
  return h
}

/** PATH(m, D[lo:hi]): the audit path for leaf index m (0-based) in the tree over leaves[lo:hi]. */
export function inclusionProof(leaves: Hash[], m: number, lo = 0, hi = leaves.length): Hash[] {
  const n = hi - lo
  if (m < 0 || m >= n) throw BAD_ARGUMENT('leaf index outside the tree')
  if (n === 1) return []
  const k = split(n)
  return m < k
    ? [...inclusionProof(leaves, m, lo, lo + k), rootOf(leaves, lo + k, hi)]
    : [...inclusionProof(leaves, m - k, lo + k, hi), rootOf(leaves, lo, lo + k)]
}

/** PROOF(m, D[0:n]): consistency between the first m leaves and all n. */
export function consistencyProof(leaves: Hash[], m: number, n = leaves.length): Hash[] {
  if (m < 1 || m > n) throw BAD_ARGUMENT('consistency needs 0 < m <= n')
  if (m === n) return []
  return subproof(leaves, m, 0, n, true)
}

function subproof(leaves: Hash[], m: number, lo: number, hi: number, complete: boolean): Hash[] {
  const n = hi - lo
  if (m === n) return complete ? [] : [rootOf(leaves, lo, hi)]
  const k = split(n)
  return m <= k
    ? [...subproof(leaves, m, lo, lo + k, complete), rootOf(leaves, lo + k, hi)]
    : [...subproof(leaves, m - k, lo + k, hi, false), rootOf(leaves, lo, lo + k)]
}

const equal = (a: Hash, b: Hash) => a.length === b.length && a.every((x, i) => x === b[i])

/** RFC 9162 §2.1.3.2: does `proof` show leaf `leaf` at `index` in the tree of `size` with `root`? */
export function verifyInclusion(leaf: Hash, index: number, size: number, proof: Hash[], root: Hash): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false
  if (proof.some((h) => h.length !== 32) || leaf.length !== 32 || root.length !== 32) return false
  let fn = index,
    sn = size - 1
  let r = leaf
  for (const p of proof) {
    if (sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r)
      if (fn % 2 === 0)
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2)
          sn = Math.floor(sn / 2)
        }
    } else {
      r = nodeHash(r, p)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 && equal(r, root)
}

/** RFC 9162 §2.1.4.2: is the tree (size2, root2) an append-only extension of (size1, root1)? */
export function verifyConsistency(size1: number, size2: number, proof: Hash[], root1: Hash, root2: Hash): boolean {
  if (!Number.isSafeInteger(size1) || !Number.isSafeInteger(size2) || size1 < 1 || size1 > size2) return false
  if (proof.some((h) => h.length !== 32) || root1.length !== 32 || root2.length !== 32) return false
  if (size1 === size2) return proof.length === 0 && equal(root1, root2)
  if (proof.length === 0) return false
  let path = proof
  if ((size1 & (size1 - 1)) === 0) path = [root1, ...proof]
  let fn = size1 - 1,
    sn = size2 - 1
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  let fr = path[0]!,
    sr = path[0]!
  for (const c of path.slice(1)) {
    if (sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr)
      sr = nodeHash(c, sr)
      if (fn % 2 === 0)
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2)
          sn = Math.floor(sn / 2)
        }
    } else {
      sr = nodeHash(sr, c)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 && equal(fr, root1) && equal(sr, root2)
}
