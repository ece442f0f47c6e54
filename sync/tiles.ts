/**
 * A device feed laid out as a tiled transparency log (c2sp.org/tlog-tiles),
 * under `logs/<device key>/` of the Git mirror:
 *   tile/<L>/<N>[.p/<W>]        hash tiles: level 0 holds the leaf hashes
 *                               (RFC 6962 over each 32-byte event id), level
 *                               L+1 the roots of full level-L tiles; 256 wide
 *   tile/entries/<N>[.p/<W>]    entry bundles: uint16-length-prefixed entries,
 *                               each entry the event id (what the leaf hashes)
 *   events/<N>[.p/<W>]          the same entries in Tresor's own encoding (the
 *                               spec's "different URL" for other formats): one
 *                               signed event per line, or its redacted stub
 *   checkpoint                  the device's latest checkpoint note with the
 *                               cosignatures held for it
 * Full tiles never change; a partial tile (W < 256) is written for each size
 * laid out and removed once the full tile is there. Laying a feed out from
 * size M to size L reads at most one partial tile per level back and writes
 * only tiles that change: a round costs what was added, not the feed's size.
 */
import { leafHash, nodeHash, type Hash } from '../core/index.js'

export const TILE_WIDTH = 256
const HASH = 32

/** `N` as the spec encodes it: zero-padded 3-digit elements, all but the last prefixed with `x`. */
export function tileIndexPath(n: number): string {
  const parts: string[] = []
  let x = n
  do {
    parts.unshift(String(x % 1000).padStart(3, '0'))
    x = Math.floor(x / 1000)
  } while (x > 0)
  return parts.map((p, i) => (i < parts.length - 1 ? `x${p}` : p)).join('/')
}

/** The path of tile (level, n) of width w under a log prefix; level 'entries' or 'events' for the bundles. */
export function tilePath(level: number | 'entries' | 'events', n: number, width: number): string {
  const base = level === 'events' ? `events/${tileIndexPath(n)}` : `tile/${level}/${tileIndexPath(n)}`
  return width === TILE_WIDTH ? base : `${base}.p/${width}`
}

/** Read an index path back (strictly as written), or null. */
export function parseTileIndexPath(parts: string[]): number | null {
  if (parts.length === 0) return null
  let n = 0
  for (const [i, p] of parts.entries()) {
    const m = (i < parts.length - 1 ? /^x(\d{3})$/ : /^(\d{3})$/).exec(p)
    if (!m) return null
    n = n * 1000 + Number(m[1])
  }
  return Number.isSafeInteger(n) && (parts.length === 1 || !parts[0]!.startsWith('x000')) ? n : null
}

/** MTH of a perfect subtree given its 256 (or any power of two) child hashes. */
export function perfectRoot(hashes: Hash[]): Hash {
  let level = hashes
  while (level.length > 1) {
    const up: Hash[] = []
    for (let i = 0; i < level.length; i += 2) up.push(nodeHash(level[i]!, level[i + 1]!))
    level = up
  }
  return level[0]!
}

export const concatHashes = (hashes: Hash[]): Uint8Array => {
  const out = new Uint8Array(hashes.length * HASH)
  hashes.forEach((h, i) => out.set(h, i * HASH))
  return out
}

export function splitHashes(bytes: Uint8Array): Hash[] | null {
  if (bytes.length === 0 || bytes.length % HASH !== 0 || bytes.length > TILE_WIDTH * HASH) return null
  const out: Hash[] = []
  for (let i = 0; i < bytes.length; i += HASH) out.push(bytes.slice(i, i + HASH))
  return out
}

/** An entry bundle of 32-byte entries. */
export function entryBundle(ids: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(ids.length * (2 + HASH))
  ids.forEach((id, i) => {
    out[i * 34] = 0
    out[i * 34 + 1] = HASH
    out.set(id, i * 34 + 2)
  })
  return out
}

export interface TileFile {
  path: string
  bytes: Uint8Array
}

/**
 * The tiles that change when a feed laid out at size `from` grows to size `to`.
 * `leaf(i)` gives leaf hash i for i in [floor(from / 256) * 256, to); `existing(level, n, width)` the hashes the
 * partial tile (level, n) of that width holds (read back from the mirror, or worked out again where it is not there).
 * Level 0 is the caller's: the entry and event bundles follow it.
 */
export function tilesBetween(
  from: number,
  to: number,
  leaf: (i: number) => Hash,
  existing: (level: number, n: number, width: number) => Hash[]
): TileFile[] {
  const files: TileFile[] = []
  // Level l's entries H_l[j] (j from lo to hi), known from lo = floor(from / 256^l) rounded down to its tile.
  let lo = Math.floor(from / TILE_WIDTH) * TILE_WIDTH
  let entries: Hash[] = []
  for (let i = lo; i < to; i++) entries.push(leaf(i))
  let oldCount = from
  let newCount = to
  for (let level = 0; newCount > 0; level++) {
    // this level's tiles from the one holding entry oldCount to the one holding newCount - 1
    const first = Math.floor(oldCount / TILE_WIDTH)
    const last = Math.floor((newCount - 1) / TILE_WIDTH)
    const up: Hash[] = []
    for (let n = first; n <= last; n++) {
      const start = n * TILE_WIDTH
      const width = Math.min(TILE_WIDTH, newCount - start)
      const tile = entries.slice(start - lo, start - lo + width)
      const oldWidth = Math.max(0, Math.min(TILE_WIDTH, oldCount - start))
      if (width === oldWidth) continue
      files.push({ path: tilePath(level, n, width), bytes: concatHashes(tile) })
      if (width === TILE_WIDTH) up.push(perfectRoot(tile))
    }
    // the next level: entries are the roots of this level's full tiles
    const nextOld = Math.floor(oldCount / TILE_WIDTH)
    const nextNew = Math.floor(newCount / TILE_WIDTH)
    if (nextNew === 0) break
    const nextLo = Math.floor(nextOld / TILE_WIDTH) * TILE_WIDTH
    // what the next level's first tile held before: read back from its partial tile
    const prefixWidth = nextOld - nextLo
    const prefix = prefixWidth > 0 && nextNew > nextOld ? existing(level + 1, nextLo / TILE_WIDTH, prefixWidth) : []
    entries = [...prefix, ...up]
    lo = nextLo
    oldCount = nextOld
    newCount = nextNew
  }
  return files
}

/** The leaf hash of an event id (hex). */
export const idLeaf = (id: string): Hash => leafHash(Buffer.from(id, 'hex'))
