/**
 * The Git mirror's `logs/` tree (mirror layout 2): each device feed as a
 * tiled transparency log (sync/tiles.ts) in the mirror's working copy.
 * Reading takes what the mirror holds past this device's copy of a feed,
 * bundle by bundle, and checks that each bundle, its entry bundle and its
 * level-0 tile agree and are as wide as their paths say (a truncated or
 * mismatched bundle is a problem and nothing of that feed is taken in).
 * Writing lays each feed out from the size the mirror holds to the size this
 * device holds, and from there only: the events read are those past the
 * mirror's size (and the at most 255 of its last partial bundle).
 */
import {
  eventDocId,
  fromHex,
  feedLeavesOf,
  mergeNote,
  openNote,
  parseCheckpoint,
  rootOf,
  sha256Hex,
  splitNote,
  toHex,
  feedOrigin,
  noteKeyId,
  CHECKPOINT_TYPE,
  checkCheckpointNotes,
  checkCheckpointPayload,
  cosignaturesIn,
  signatureLineOf,
  NOT_FOUND,
  parseEventDocId,
  storedBodies,
  type CheckpointPayload,
  type Hash,
  type SignedEvent,
  type Vault
} from '../core/index.js'
import { readdir, readFile, rm, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { entryBundle, idLeaf, splitHashes, tilePath, tilesBetween, TILE_WIDTH, type TileFile } from './tiles.js'

export const LOGS_DIR = 'logs'

/** The file an event becomes in the mirror: its bytes, or a stub when it carries private data (sync/git-mirror.ts). */
export type MirrorLine = (raw: string, id: string) => string

const logDir = (author: string) => `${LOGS_DIR}/${author}`

async function bytesAt(work: string, path: string): Promise<Uint8Array | null> {
  return readFile(join(work, path)).then(
    (b) => new Uint8Array(b),
    () => null
  )
}

/** The widths of the partial tiles of `path` (its `.p/` folder), ascending. */
async function partialWidths(work: string, path: string): Promise<number[]> {
  const names = await readdir(join(work, `${path}.p`)).catch(() => [] as string[])
  return names
    .filter((n) => /^[1-9]\d{0,2}$/.test(n) && Number(n) < TILE_WIDTH)
    .map(Number)
    .sort((a, b) => a - b)
}

/** How many events of `author`'s feed the mirror's working copy lays out (`hint`: what it held last round). */
export async function mirroredSize(work: string, author: string, hint = 0): Promise<number> {
  const dir = logDir(author)
  let n = Math.floor(hint / TILE_WIDTH)
  // the hint must still hold (a bundle covering its last entry); else count again from the start
  if (n > 0 && !(await bytesAt(work, `${dir}/${tilePath('events', n - 1, TILE_WIDTH)}`))) n = 0
  while (await bytesAt(work, `${dir}/${tilePath('events', n, TILE_WIDTH)}`)) n++
  const widths = await partialWidths(work, `${dir}/events/${tilePath('events', n, TILE_WIDTH).slice(7)}`)
  return n * TILE_WIDTH + (widths.at(-1) ?? 0)
}

/** The devices whose feeds the mirror lays out. */
export async function mirroredFeeds(work: string): Promise<string[]> {
  const names = await readdir(join(work, LOGS_DIR)).catch(() => [] as string[])
  return names.filter((n) => /^[0-9a-f]{64}$/.test(n)).sort()
}

export interface ReadFeed {
  /** Event texts past `from`, in order, with their slots (redacted stubs left out). */
  events: { docId: string; raw: string }[]
  read: number
  redacted: number
  problems: string[]
}

/** The events of `author`'s feed the mirror holds from index `from` to `to`, each bundle checked against its tiles. */
export async function readFeed(work: string, author: string, from: number, to: number): Promise<ReadFeed> {
  const out: ReadFeed = { events: [], read: 0, redacted: 0, problems: [] }
  const dir = logDir(author)
  for (let n = Math.floor(from / TILE_WIDTH); n * TILE_WIDTH < to; n++) {
    const width = Math.min(TILE_WIDTH, to - n * TILE_WIDTH)
    const at = (kind: 'events' | 'entries' | 0) => `${dir}/${tilePath(kind, n, width)}`
    const [bundle, entries, tile] = await Promise.all([
      bytesAt(work, at('events')),
      bytesAt(work, at('entries')),
      bytesAt(work, at(0))
    ])
    if (!bundle || !entries || !tile) {
      out.problems.push(
        `${at('events')}: its ${!bundle ? 'event bundle' : !entries ? 'entry bundle' : 'level-0 tile'} is missing`
      )
      return out
    }
    const lines = Buffer.from(bundle).toString('utf8').split('\n')
    if (lines.pop() !== '' || lines.length !== width || entries.length !== width * 34 || tile.length !== width * 32) {
      out.problems.push(
        `${at('events')}: truncated or padded (${lines.length} events, ${entries.length / 34} entries, ${tile.length / 32} hashes; its path says ${width})`
      )
      return out
    }
    for (const [i, line] of lines.entries()) {
      const index = n * TILE_WIDTH + i
      let id: string
      let stub = false
      try {
        const j = JSON.parse(line) as { format?: string; id?: string }
        stub = j.format === 'tresor-redacted-event'
        id = stub ? String(j.id) : sha256Hex(line)
      } catch {
        out.problems.push(`${at('events')}: entry ${index} is not JSON`)
        return out
      }
      const leaf = tile.subarray(i * 32, i * 32 + 32)
      if (
        !/^[0-9a-f]{64}$/.test(id) ||
        toHex(entries.subarray(i * 34 + 2, i * 34 + 34)) !== id ||
        entries[i * 34] !== 0 ||
        entries[i * 34 + 1] !== 32 ||
        toHex(idLeaf(id)) !== toHex(leaf)
      ) {
        out.problems.push(`${at('events')}: entry ${index} does not match its entry bundle and tile`)
        return out
      }
      if (index < from) continue
      out.read++
      if (stub) out.redacted++
      else out.events.push({ docId: eventDocId(author, index + 1), raw: line })
    }
  }
  return out
}

/** A feed's events from index `start` (0-based) on, as this device holds them. */
export interface FeedDocs {
  raws: string[]
  ids: string[]
  types: string[]
}

/** `author`'s events at indexes [start, to) by one range read. */
export async function feedDocs(vault: Vault, author: string, start: number, to: number): Promise<FeedDocs> {
  const out: FeedDocs = { raws: [], ids: [], types: [] }
  for await (const page of vault.store.range(author, start + 1, to))
    for (const doc of page) {
      out.raws.push(doc.raw)
      out.ids.push(doc.id)
      out.types.push(doc.type)
    }
  return out
}

/**
 * Many feeds' events at once, from each one's `start`: one sequential read of the store's bodies (LevelDB's
 * by-sequence index; much faster than a range read per feed when most of the log is wanted, as at a first push).
 */
export async function allFeedDocs(
  vault: Vault,
  ranges: Map<string, { start: number; to: number }>
): Promise<Map<string, FeedDocs>> {
  const out = new Map<string, FeedDocs>()
  const slots = new Map<string, (string | undefined)[][]>()
  for (const author of ranges.keys()) slots.set(author, [[], [], []])
  for await (const page of storedBodies(vault.store.db)) {
    for (const doc of page as {
      _id: string
      _rev?: string
      _deleted?: boolean
      id?: unknown
      raw?: unknown
      type?: unknown
    }[]) {
      const slot = parseEventDocId(doc._id)
      const r = slot && ranges.get(slot.author)
      if (!slot || !r || doc._deleted || !doc._rev?.startsWith('1-') || slot.seq <= r.start || slot.seq > r.to) continue
      const [raws, ids, types] = slots.get(slot.author)!
      const i = slot.seq - r.start - 1
      raws![i] = String(doc.raw)
      ids![i] = String(doc.id)
      types![i] = String(doc.type)
    }
  }
  for (const [author, [raws, ids, types]] of slots) {
    const r = ranges.get(author)!
    if (raws!.length !== r.to - r.start || raws!.some((x) => x === undefined))
      throw NOT_FOUND(`feed ${author.slice(0, 8)}… lacks an event this device counts`)
    out.set(author, { raws: raws as string[], ids: ids as string[], types: types as string[] })
  }
  return out
}

export interface LaidOut {
  written: string[]
  removed: string[]
  events: number
  /** Checkpoint events (their signed bytes) among the events laid out. */
  checkpoints: string[]
}

/**
 * Lay `author`'s feed out from size `from` (what the mirror holds) to `to` (what this device holds), with partial
 * tiles at the size of the feed's newest checkpoint too, and its checkpoint note. The cosignature events among the
 * events laid out are added to `cosigned` (by checkpoint body). Superseded partial tiles are removed.
 */
export async function layOutFeed(
  vault: Vault,
  work: string,
  author: string,
  from: number,
  to: number,
  line: MirrorLine,
  cosigned: Map<string, string[]>,
  prefetched?: FeedDocs
): Promise<LaidOut> {
  const dir = logDir(author)
  const out: LaidOut = { written: [], removed: [], events: 0, checkpoints: [] }
  const start = Math.floor(from / TILE_WIDTH) * TILE_WIDTH
  // the events from the start of the mirror's last partial bundle (bodies, ids, leaves)
  const docs = prefetched ?? (await feedDocs(vault, author, start, to))
  if (docs.raws.length !== to - start) throw NOT_FOUND(`feed ${author.slice(0, 8)}… lacks an event this device counts`)
  const { raws, ids } = docs
  let checkpoint: { size: number; note: string } | null = null
  for (let i = Math.max(0, from - start); i < raws.length; i++) {
    if (docs.types[i] !== CHECKPOINT_TYPE) continue
    // A member's key can sign a checkpoint that does not hold together: it is neither anchored nor published (the
    // full self-check reports it), and it stops no round.
    let payload: CheckpointPayload
    try {
      payload = checkCheckpointPayload((JSON.parse(raws[i]!) as SignedEvent).payload)
      checkCheckpointNotes(payload, vault.vaultId, author)
    } catch {
      continue
    }
    out.checkpoints.push(raws[i]!)
    if (payload.checkpoint !== undefined)
      checkpoint = { size: parseCheckpoint(splitNote(payload.checkpoint).text).size, note: payload.checkpoint }
  }
  cosignaturesIn(raws.slice(from - start), cosigned)
  const leafAt = (i: number) => idLeaf(ids[i - start]!)
  let allLeaves: Hash[] | null = null
  const existing = async (level: number, n: number, width: number): Promise<Hash[]> => {
    const held = await bytesAt(work, `${dir}/${tilePath(level, n, width)}`)
    const hashes = held ? splitHashes(held) : null
    if (hashes && hashes.length === width) return hashes
    // not on the mirror as it should be: worked out again from this device's own copy of the feed
    allLeaves ??= await feedLeavesOf(vault, author, to)
    const span = TILE_WIDTH ** level
    return Array.from({ length: width }, (_, i) =>
      rootOf(allLeaves!, (n * TILE_WIDTH + i) * span, (n * TILE_WIDTH + i + 1) * span)
    )
  }
  const files: TileFile[] = []
  const stops = checkpoint && checkpoint.size > from && checkpoint.size < to ? [checkpoint.size, to] : [to]
  let at = from
  for (const stop of stops) {
    // The hash tiles above level 0 read back at most one partial tile per level (sync/tiles.ts); gathered first.
    const needed = new Map<string, Hash[]>()
    tilesBetween(at, stop, leafAt, (level, n, width) => {
      needed.set(`${level}/${n}/${width}`, [])
      return Array.from({ length: width }, () => new Uint8Array(32))
    })
    for (const key of needed.keys()) {
      const [level, n, width] = key.split('/').map(Number) as [number, number, number]
      needed.set(key, await existing(level, n, width))
    }
    files.push(...tilesBetween(at, stop, leafAt, (level, n, width) => needed.get(`${level}/${n}/${width}`)!))
    for (let n = Math.floor(at / TILE_WIDTH); n * TILE_WIDTH < stop; n++) {
      const lo = n * TILE_WIDTH
      const width = Math.min(TILE_WIDTH, stop - lo)
      if (lo + width <= at) continue
      files.push({
        path: tilePath('events', n, width),
        bytes: Buffer.from(
          raws
            .slice(lo - start, lo - start + width)
            .map((raw, i) => line(raw, ids[lo - start + i]!))
            .join('')
        )
      })
      files.push({
        path: tilePath('entries', n, width),
        bytes: entryBundle(ids.slice(lo - start, lo - start + width).map((id) => fromHex(id, 32)!))
      })
    }
    at = stop
  }
  for (const f of files) {
    await mkdir(join(work, dir, f.path, '..'), { recursive: true })
    await writeFile(join(work, dir, f.path), f.bytes)
    out.written.push(`${dir}/${f.path}`)
  }
  out.events = to - from
  if (checkpoint) {
    await writeCheckpoint(work, author, checkpoint.note, [])
    out.written.push(`${dir}/checkpoint`)
  }
  // Partial tiles this layout supersedes: those of the same tiles at widths other than the ones just written, and
  // other than those of the size the feed's checkpoint on the mirror states (a tiles client needs them).
  const keep = new Set(out.written)
  const onMirror = await readFile(join(work, dir, 'checkpoint'), 'utf8').catch(() => null)
  const size = onMirror === null ? null : sizeOf(onMirror)
  if (size !== null) for (const p of partialsFor(size)) keep.add(`${dir}/${p}`)
  for (const f of files) {
    const base = f.path.replace(/\.p\/\d+$/, '')
    for (const w of await partialWidths(work, `${dir}/${base}`)) {
      const p = `${dir}/${base}.p/${w}`
      if (keep.has(p)) continue
      await rm(join(work, p))
      out.removed.push(p)
    }
  }
  return out
}

function sizeOf(note: string): number | null {
  try {
    return parseCheckpoint(splitNote(note).text).size
  } catch {
    return null
  }
}

/** The partial tiles and bundles a tree of `size` needs (tlog-tiles: floor(size / 256^l) mod 256 wide at level l). */
function partialsFor(size: number): string[] {
  const out: string[] = []
  for (let level = 0, span = 1; Math.floor(size / span) > 0; level++, span *= TILE_WIDTH) {
    const width = Math.floor(size / span) % TILE_WIDTH
    const n = Math.floor(size / span / TILE_WIDTH)
    if (width === 0) continue
    out.push(tilePath(level, n, width))
    if (level === 0) out.push(tilePath('entries', n, width), tilePath('events', n, width))
  }
  return out
}

/** Write (or merge into) a feed's checkpoint note; the path when it changed. */
export async function writeCheckpoint(
  work: string,
  author: string,
  note: string,
  cosignatures: string[]
): Promise<string | null> {
  const path = `${logDir(author)}/checkpoint`
  const held = await readFile(join(work, path), 'utf8').catch(() => null)
  const body = splitNote(note).text
  let next = mergeNote(note, cosignatures)
  if (held !== null) {
    try {
      const h = splitNote(held)
      if (h.text === body) next = mergeNote(held, splitNote(next).signatures.map(signatureLineOf))
      else if (parseCheckpoint(h.text).size > parseCheckpoint(body).size) return null // the mirror's is newer
    } catch {
      // a checkpoint file out of shape is replaced by this device's
    }
  }
  if (held === next) return null
  await mkdir(join(work, logDir(author)), { recursive: true })
  await writeFile(join(work, path), next)
  return path
}

/**
 * The feed's checkpoint note on the mirror, checked: signed by the feed's key and, where this device holds the feed
 * that far, stating the root its events give. A problem when not.
 */
export async function checkMirrorCheckpoint(vault: Vault, work: string, author: string): Promise<string | null> {
  const text = await readFile(join(work, logDir(author), 'checkpoint'), 'utf8').catch(() => null)
  if (text === null) return null
  const origin = feedOrigin(vault.vaultId, author)
  const key = { name: origin, id: noteKeyId(origin, fromHex(author, 32)!), publicKey: fromHex(author, 32)! }
  try {
    const body = parseCheckpoint(openNote(text, [key]).text)
    if (body.origin !== origin) return `${logDir(author)}/checkpoint is of another log`
    const held = vault.heads()[author]?.length ?? 0
    if (body.size > held) return null
    // The note of the device's own checkpoint event, as this device holds it (the event right after what it covers):
    // the same body is the same statement, checked against the log by the full self-check.
    const event = await vault.store.get(author, body.size + 1)
    if (event?.type === CHECKPOINT_TYPE) {
      const mine = (JSON.parse(event.raw) as SignedEvent).payload.checkpoint
      if (typeof mine === 'string' && splitNote(mine).text === splitNote(text).text) return null
    }
    const leaves = await feedLeavesOf(vault, author, body.size)
    if (toHex(rootOf(leaves)) !== toHex(body.root))
      return `${logDir(author)}/checkpoint states a root for size ${body.size} that the feed's events do not give (fork or split view)`
    return null
  } catch (err) {
    return `${logDir(author)}/checkpoint does not verify: ${(err as Error).message}`
  }
}

/**
 * Check the mirror's level-0 tiles of `author`'s feed from the tile holding `hint` (what this device checked or laid
 * out before) up to what both hold against this device's own copy. A full tile that disagrees is a problem (it never
 * changes, so it stays reported); a partial one is laid out again: the size to lay out from is returned.
 */
export async function checkLaidOut(
  vault: Vault,
  work: string,
  author: string,
  hint: number,
  size: number
): Promise<{ from: number; problems: string[] }> {
  const held = vault.heads()[author]?.length ?? 0
  const top = Math.min(size, held)
  const problems: string[] = []
  for (let n = Math.floor(Math.min(hint, top) / TILE_WIDTH); n * TILE_WIDTH < top; n++) {
    const lo = n * TILE_WIDTH
    const width = Math.min(TILE_WIDTH, size - lo)
    const path = `${logDir(author)}/${tilePath(0, n, width)}`
    const tile = await bytesAt(work, path)
    const docs = await vault.store.getMany(
      Array.from({ length: Math.min(width, top - lo) }, (_, i) => eventDocId(author, lo + i + 1))
    )
    const differs =
      !tile ||
      tile.length !== width * 32 ||
      docs.some((d, i) => !d || toHex(idLeaf(d.id)) !== toHex(tile.subarray(i * 32, i * 32 + 32)))
    if (!differs) continue
    if (width < TILE_WIDTH) return { from: lo, problems } // a partial tile: replaced by this device's layout
    problems.push(
      `${path} disagrees with this device's copy of the feed (a fork or a forgery); full tiles never change`
    )
  }
  return { from: size, problems }
}
