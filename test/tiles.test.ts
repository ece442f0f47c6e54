/** The tlog-tiles layout (sync/tiles.ts) against the spec's own examples and a layout made in one go. */
import { describe, expect, it } from 'vitest'
import { leafHash, rootOf } from '../core/proofs/merkle.js'
import { parseTileIndexPath, splitHashes, tileIndexPath, tilesBetween, tilePath, type TileFile } from '../sync/tiles.js'

const leaves = (n: number) => Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`entry ${i}`)))

/** Lay out through `sizes` in turn, reading partial tiles back from what was written. */
function layout(all: Uint8Array[], sizes: number[]): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>()
  let from = 0
  for (const to of sizes) {
    const written: TileFile[] = tilesBetween(
      from,
      to,
      (i) => all[i]!,
      (level, n, width) => splitHashes(files.get(tilePath(level, n, width))!)!
    )
    for (const f of written) files.set(f.path, f.bytes)
    from = to
  }
  return files
}

describe('tlog tiles', () => {
  it('tiles - paths as the spec writes them: 1234067 is x001/x234/067, partial tiles carry .p/<width>', () => {
    expect(tileIndexPath(1234067)).toBe('x001/x234/067')
    expect(tileIndexPath(5)).toBe('005')
    expect(tilePath(0, 1234067, 256)).toBe('tile/0/x001/x234/067')
    expect(tilePath('entries', 2, 17)).toBe('tile/entries/002.p/17')
    expect(tilePath('events', 0, 256)).toBe('events/000')
    expect(parseTileIndexPath(['x001', 'x234', '067'])).toBe(1234067)
    for (const bad of [['1'], ['x001'], ['001', '002'], ['x000', '001']]) expect(parseTileIndexPath(bad)).toBeNull()
  })

  it("tiles - the spec's tree of 70,000: 273 full level-0 tiles, a partial of 112, one full level-1 tile, a partial of 17, a level-2 partial of 1; every hash is the subtree's Merkle hash", () => {
    const all = leaves(70_000)
    const files = layout(all, [70_000])
    const at = (level: number) => [...files.keys()].filter((p) => p.startsWith(`tile/${level}/`))
    expect(at(0).filter((p) => !p.includes('.p/'))).toHaveLength(273)
    expect(at(0).filter((p) => p.includes('.p/'))).toEqual(['tile/0/273.p/112'])
    expect(at(1)).toEqual(['tile/1/000', 'tile/1/001.p/17'])
    expect(at(2)).toEqual(['tile/2/000.p/1'])
    const l1 = splitHashes(files.get('tile/1/001.p/17')!)!
    expect(Buffer.from(l1[16]!)).toEqual(Buffer.from(rootOf(all, (256 + 16) * 256, (256 + 17) * 256)))
    expect(Buffer.from(splitHashes(files.get('tile/2/000.p/1')!)![0]!)).toEqual(Buffer.from(rootOf(all, 0, 65536)))
  })

  it('tiles - growing a log round by round (reading back only the partial tiles) gives the same tiles as laying it out at once', () => {
    const all = leaves(66_000)
    const once = layout(all, [66_000])
    const rounds = layout(all, [1, 255, 256, 257, 1000, 65_535, 65_536, 65_537, 65_990, 66_000])
    const differ = [...once].filter(([path, bytes]) => Buffer.compare(rounds.get(path) ?? Buffer.alloc(0), bytes) !== 0)
    expect(differ.map(([path]) => path)).toEqual([])
  })
})
