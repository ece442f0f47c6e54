/**
 * A compact in-memory set of 48-bit fingerprints (open addressing, linear
 * probing, 8 bytes a slot at most half full): the fast "never seen" answer
 * for the dedup index. A hit is only a maybe: the caller confirms it against
 * the exact index on disk, so a fingerprint collision costs a lookup, never a
 * reading.
 */
/**
 * 48 bits of two FNV-1a style lanes over the UTF-16 code units. Not a
 * cryptographic hash and need not be: a crafted collision buys an attacker
 * one disk lookup, never a false DUPLICATE.
 */
export function fingerprint(key: string): number {
  let a = 0x811c9dc5 | 0,
    b = 0x01000193 ^ key.length
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i)
    a = Math.imul(a ^ c, 0x01000193)
    b = Math.imul(b ^ c, 0x5bd1e995)
    b ^= b >>> 15
  }
  const fp = (a >>> 0) * 0x10000 + ((b >>> 16) & 0xffff)
  return fp === 0 ? 1 : fp // 0 marks an empty slot
}

export class FingerprintSet {
  private slots: Float64Array
  private mask: number
  size = 0

  constructor(capacity = 1 << 16) {
    let n = 1 << 4
    while (n < capacity * 2) n *= 2
    this.slots = new Float64Array(n)
    this.mask = n - 1
  }

  private slot(fp: number): number {
    return ((fp % 0x100000000) >>> 0) & this.mask // low 32 bits pick the start slot
  }

  has(fp: number): boolean {
    for (let i = this.slot(fp); ; i = (i + 1) & this.mask) {
      const v = this.slots[i]!
      if (v === 0) return false
      if (v === fp) return true
    }
  }

  add(fp: number): void {
    if ((this.size + 1) * 2 > this.slots.length) this.grow()
    for (let i = this.slot(fp); ; i = (i + 1) & this.mask) {
      const v = this.slots[i]!
      if (v === fp) return
      if (v === 0) {
        this.slots[i] = fp
        this.size++
        return
      }
    }
  }

  get bytes(): number {
    return this.slots.byteLength
  }

  /** The table's slots, for a snapshot (copied). */
  snapshot(): Uint8Array {
    return new Uint8Array(this.slots.buffer.slice(0))
  }

  /** A table from a snapshot's slots; null if they are not a table (wrong length). */
  static fromSnapshot(bytes: Uint8Array, size: number): FingerprintSet | null {
    const n = bytes.byteLength / 8
    if (!Number.isInteger(n) || n < 16 || (n & (n - 1)) !== 0 || size < 0 || size * 2 > n) return null
    const set = new FingerprintSet(1)
    set.slots = new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength))
    set.mask = n - 1
    set.size = size
    return set
  }

  private grow(): void {
    const old = this.slots
    this.slots = new Float64Array(old.length * 2)
    this.mask = this.slots.length - 1
    this.size = 0
    for (const v of old) if (v !== 0) this.add(v)
  }
}
