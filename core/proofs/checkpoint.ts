/**
 * Checkpoints: a signed event (`proof.checkpoint`) stating each feed's length
 * and Merkle root, and a root over those records. Each feed is an RFC 6962
 * tree whose leaves are the event ids in sequence order.
 */
import { canonicalize } from '../canonical.js'
import { fromHex, isHex, toHex, utf8 } from '../bytes.js'
import { MALFORMED } from '../errors.js'
import { leafHash, rootOf, type Hash } from './merkle.js'

export const CHECKPOINT_TYPE = 'proof.checkpoint'

export interface FeedRecord {
  author: string
  length: number
  root: string
}
export interface CheckpointPayload {
  feeds: FeedRecord[]
  root: string
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
  return p
}
