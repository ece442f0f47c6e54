/**
 * What this device knows other devices hold, so a bundle "for bob" carries
 * exactly what bob's device lacks. Knowledge comes only from what a device
 * proved it holds: a bundle it signed holds events it had (and an event is
 * admitted only after its feed's earlier events, so holding seq n of a feed
 * means holding 1..n), and every event cites events its author held. Nothing
 * is assumed from what was sent, which may never have been imported: at worst
 * a bundle carries more than needed, never less. Kept in `peers.json`
 * (format tresor-peers v1), device keys and authors in null-prototype records.
 */
import { join } from 'node:path'
import { readJsonFileIfExists, writeJsonFile } from './files.js'
import { isHex } from './bytes.js'
import { dict } from './dict.js'
import type { DecodedEvent } from './envelope.js'

export const PEERS_FILE = 'peers.json'
const MAX_PEERS_BYTES = 8 * 1024 * 1024

type Heads = Record<string, number>
interface PeerBook {
  format: 'tresor-peers'
  v: 1
  devices: Record<string, { heads: Heads; seenAt: string }>
}

async function loadBook(dir: string): Promise<PeerBook> {
  const raw = (await readJsonFileIfExists(join(dir, PEERS_FILE), MAX_PEERS_BYTES, 5).catch(() => null)) as {
    format?: unknown
    v?: unknown
    devices?: unknown
  } | null
  const book: PeerBook = { format: 'tresor-peers', v: 1, devices: dict() }
  // A damaged or foreign file means knowing nothing: bundles then carry everything, which is safe.
  if (raw?.format !== 'tresor-peers' || raw.v !== 1 || typeof raw.devices !== 'object' || raw.devices === null)
    return book
  for (const [device, entry] of Object.entries(raw.devices as Record<string, unknown>)) {
    const e = entry as { heads?: unknown; seenAt?: unknown }
    if (!isHex(device, 32) || typeof e?.heads !== 'object' || e.heads === null) continue
    const heads = dict<number>()
    for (const [author, n] of Object.entries(e.heads as Record<string, unknown>))
      if (isHex(author, 32) && Number.isSafeInteger(n) && (n as number) > 0) heads[author] = n as number
    book.devices[device] = { heads, seenAt: typeof e.seenAt === 'string' ? e.seenAt : '' }
  }
  return book
}

/** Record what `device` proved it holds by signing a bundle of `events` that this device admitted. */
export async function learnFromBundle(
  dir: string,
  device: string,
  events: DecodedEvent[],
  now = new Date()
): Promise<void> {
  const book = await loadBook(dir)
  const known = book.devices[device] ?? { heads: dict<number>(), seenAt: '' }
  const raise = (author: string, seq: number) => {
    if ((known.heads[author] ?? 0) < seq) known.heads[author] = seq
  }
  for (const d of events) {
    const e = d.event
    raise(e.author, e.seq)
    const cites = e.v === 2 ? e.deps : e.seen
    for (const c of cites) raise(c.author, c.seq)
  }
  known.seenAt = now.toISOString()
  book.devices[device] = known
  await writeJsonFile(join(dir, PEERS_FILE), book)
}

/**
 * What the devices `keys` (one member's) are known to hold, per feed: the
 * least any of them holds, so the bundle serves each. A device never heard
 * from holds nothing known.
 */
export async function knownHeads(dir: string, keys: readonly string[]): Promise<{ heads: Heads; known: boolean }> {
  const book = await loadBook(dir)
  const books = keys.map((k) => book.devices[k]?.heads ?? null)
  const heads = dict<number>()
  if (books.length === 0 || books.some((b) => b === null)) return { heads, known: false }
  const [first, ...rest] = books as Heads[]
  for (const [author, n] of Object.entries(first!)) {
    const least = Math.min(n, ...rest.map((b) => b[author] ?? 0))
    if (least > 0) heads[author] = least
  }
  return { heads, known: true }
}
