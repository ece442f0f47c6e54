/**
 * Checkpoints: a signed event (`proof.checkpoint`) stating each feed's length
 * and Merkle root, and a root over those records. Each feed is an RFC 6962
 * tree whose leaves are the event ids in sequence order.
 *
 * Since checkpoint format 2 the event also carries the same statements as C2SP
 * signed notes (core/proofs/tlog.ts), signed by the device key under its
 * feed's origin, so they can leave the vault verbatim: `checkpoint`, the
 * tlog-checkpoint of the signer's own feed (what witnesses cosign), and
 * `record`, the vault-level record of every feed as a note. A format-1
 * checkpoint (no notes) still reads.
 */
import { canonicalize } from '../canonical.js'
import { fromHex, isHex, toHex, utf8 } from '../bytes.js'
import { MALFORMED, VERIFY_FAILED } from '../errors.js'
import { noteKeyId, openNote } from '../signed-note.js'
import { EMPTY_ROOT, leafHash, rootOf, type Hash } from './merkle.js'
import { feedOrigin, formatCheckpoint } from './tlog.js'

export const CHECKPOINT_TYPE = 'proof.checkpoint'

export interface FeedRecord {
  author: string
  length: number
  root: string
}
export interface CheckpointPayload {
  feeds: FeedRecord[]
  root: string
  /** Format 2: the signer's own feed as a signed tlog-checkpoint note. */
  checkpoint?: string
  /** Format 2: the record (every feed) as a signed note. */
  record?: string
}

/** The leaf of an event in its feed's tree. */
export function eventLeaf(eventId: string): Hash {
  return leafHash(fromHex(eventId, 32)!)
}

/** The leaf of a feed record in the checkpoint's tree. */
export function recordLeaf(r: FeedRecord): Hash {
  return leafHash(utf8(canonicalize({ author: r.author, length: r.length, root: r.root })))
}

export function checkpointPayload(leaves: Map<string, Hash[]>, lengths: Record<string, number>): CheckpointPayload {
  const feeds = Object.keys(lengths)
    .sort()
    .filter((a) => lengths[a]! > 0)
    .map((author) => {
      const l = leaves.get(author) ?? []
      const length = lengths[author]!
      if (l.length < length) throw MALFORMED(`feed ${author.slice(0, 8)}… has ${l.length} leaves, ${length} expected`)
      return { author, length, root: toHex(rootOf(l, 0, length)) }
    })
  return { feeds, root: toHex(rootOf(feeds.map(recordLeaf))) }
}

/** Shape and internal consistency of a checkpoint payload (the root over the records). */
export function checkCheckpointPayload(value: unknown): CheckpointPayload {
  const p = value as CheckpointPayload
  if (typeof p !== 'object' || p === null || !Array.isArray(p.feeds) || !isHex(p.root, 32))
    throw MALFORMED('checkpoint payload is {feeds, root}')
  let last = ''
  for (const f of p.feeds) {
    if (
      !isHex(f?.author, 32) ||
      !Number.isSafeInteger(f.length) ||
      f.length < 1 ||
      !isHex(f.root, 32) ||
      f.author <= last
    ) {
      throw MALFORMED('checkpoint feeds are {author, length, root}, sorted by author')
    }
    last = f.author
  }
  if (toHex(rootOf(p.feeds.map(recordLeaf))) !== p.root)
    throw MALFORMED('checkpoint root does not match its feed records')
  const keys = Object.keys(p).sort().join(',')
  if (keys !== 'feeds,root' && keys !== 'checkpoint,feeds,record,root')
    throw MALFORMED('a checkpoint payload is {feeds, root} or, with its notes, {feeds, root, checkpoint, record}')
  return p
}

/** The vault record as note text: its first line holds a space, so it is never a checkpoint of any origin. */
export function recordText(vault: string, p: Pick<CheckpointPayload, 'feeds' | 'root'>): string {
  const b64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64')
  const lines = [`tresor.vault/${vault} record v1`, `root ${b64(p.root)}`]
  for (const f of p.feeds) lines.push(`${f.author} ${f.length} ${b64(f.root)}`)
  return lines.join('\n') + '\n'
}

/** The tlog-checkpoint body of `author`'s feed as the record states it (size 0 when it does not list the feed). */
export function feedCheckpointText(vault: string, author: string, p: Pick<CheckpointPayload, 'feeds'>): string {
  const f = p.feeds.find((r) => r.author === author)
  return formatCheckpoint({
    origin: feedOrigin(vault, author),
    size: f?.length ?? 0,
    root: f ? fromHex(f.root, 32)! : EMPTY_ROOT
  })
}

/**
 * A format-2 checkpoint's notes: each is exactly the text its record states, signed by the author's key under the
 * author's feed origin. VERIFY_FAILED otherwise; nothing to check for format 1.
 */
export function checkCheckpointNotes(p: CheckpointPayload, vault: string, author: string): void {
  if (p.checkpoint === undefined) return
  const origin = feedOrigin(vault, author)
  const key = { name: origin, id: noteKeyId(origin, fromHex(author, 32)!), publicKey: fromHex(author, 32)! }
  const open = (note: unknown, expected: string, what: string) => {
    if (typeof note !== 'string') throw MALFORMED(`the ${what} note is text`)
    const opened = openNote(note, [key])
    if (opened.text !== expected) throw VERIFY_FAILED(`the ${what} note does not state what the checkpoint records`)
  }
  open(p.checkpoint, feedCheckpointText(vault, author, p), 'checkpoint')
  open(p.record, recordText(vault, p), 'record')
}
