/**
 * Per-event checks that need nothing but the bytes and the vault id: limits,
 * canonical form, envelope shape, vault binding and the strict signature.
 * Pure and synchronous, so it runs the same inline or in a worker thread.
 */
import {
  GENESIS_TYPE,
  badSignature,
  checkVault,
  decodeUnverified,
  prepareEventSignature,
  type DecodedEvent,
  type SignedEvent
} from './envelope.js'
import { verifyPrepared, type PreparedVerify } from './ed25519.js'
import { sha256Hex } from './bytes.js'
import { VaultError } from './errors.js'
import { EVENT_PREFIX, FORK_PREFIX, parseEventDocId } from './formats.js'
import { isGovernanceType } from './governance/fold.js'
import { CHECKPOINT_TYPE } from './proofs/checkpoint.js'
import type { EventDoc } from './store.js'

export type EventCheck =
  | { ok: true; id: string; author: string; seq: number; prev: string | null; type: string; ts: string }
  | { ok: false; id: string; code: string; message: string }

function failed(raw: string, err: unknown): EventCheck {
  const code = err instanceof VaultError ? err.code : 'MALFORMED'
  return { ok: false, id: raw.length <= 1 << 20 ? sha256Hex(raw) : '', code, message: (err as Error).message }
}

/**
 * Every event's bytes, shape, vault and signature policy first, then the curve checks back to back: interleaved
 * with the rest, each one ran about 8% slower on this machine (measured against bare verifies in one thread), its
 * code and tables pushed out of the CPU caches by the parsing between them.
 */
export function checkRaws(raws: unknown[], vault: string): EventCheck[] {
  const checks: EventCheck[] = new Array<EventCheck>(raws.length)
  const curve: { at: number; decoded: DecodedEvent; prepared: PreparedVerify }[] = []
  for (let at = 0; at < raws.length; at++) {
    const raw = raws[at]
    if (typeof raw !== 'string') {
      checks[at] = { ok: false, id: '', code: 'MALFORMED', message: 'stored event has no raw bytes' }
      continue
    }
    try {
      const decoded = decodeUnverified(raw)
      checkVault(decoded, vault)
      const prepared = prepareEventSignature(decoded.event, decoded.raw)
      if (prepared === null) throw badSignature(decoded.event)
      curve.push({ at, decoded, prepared })
    } catch (err) {
      checks[at] = failed(raw, err)
    }
  }
  for (const { at, decoded, prepared } of curve) {
    const { author, seq, prev, type, ts } = decoded.event
    checks[at] = verifyPrepared(prepared)
      ? { ok: true, id: decoded.id, author, seq, prev, type, ts }
      : failed(decoded.raw, badSignature(decoded.event))
  }
  return checks
}

/**
 * The check of an event whose exact bytes this process already judged under the same policy for this vault (the
 * ingestion gate admitted them: checkRaws ran on them before they were written), read back from storage: the bytes
 * hash to an id in `known`, so checkRaws would give the same verdict (it depends on nothing but the bytes and the
 * vault) and only the fields the walk needs are read. Null when the bytes are not known ones: those are checked.
 */
export function knownCheck(raw: string, known: ReadonlySet<string>): EventCheck | null {
  const id = sha256Hex(raw)
  if (!known.has(id)) return null
  const { author, seq, prev, type, ts } = JSON.parse(raw) as SignedEvent
  return { ok: true, id, author, seq, prev, type, ts }
}

/**
 * Each raw's check, in order: where `known` holds an answer (bytes already judged), that answer; the others from
 * `check`, asked once for all of them and not at all when none is left.
 */
export async function checkUnknown<T>(
  raws: unknown[],
  known: (T | null)[],
  check: (raws: unknown[]) => Promise<EventCheck[]>
): Promise<(T | EventCheck)[]> {
  const ask = raws.filter((_, i) => known[i] === null || known[i] === undefined)
  const asked = ask.length > 0 ? await check(ask) : []
  let k = 0
  return raws.map((_, i) => known[i] ?? asked[k++]!)
}

/**
 * What a worker says of a page of stored bodies, in read order. Most events of a healthy vault form runs: events of
 * one feed, each the next slot of the one before and naming its id as prev, every check passed (bytes, policy,
 * signature, slot, index fields, first revision) and none of them genesis, governance or checkpoint. A run travels
 * as its author, first seq, first prev and ids: the main thread links it to the feed in one step. Everything else
 * (anything that failed, special types, deletions, strays) travels whole, to be judged one by one as before.
 */
export type BodyItem =
  | { run: true; author: string; seq: number; prev: string; ids: string; count: number }
  | { run: false; doc: EventDoc; check: EventCheck }

export interface BodiesCheck {
  items: BodyItem[]
  /** Fork evidence documents, whole, in read order (checked after the walk). */
  forks: EventDoc[]
}

/** A stored body PouchDB could not have written is reported as a stray document (empty id). */
function parseStored(text: string): EventDoc {
  try {
    const doc = JSON.parse(text) as EventDoc
    if (typeof doc === 'object' && doc !== null && typeof doc._id === 'string') return doc
  } catch {
    // fall through
  }
  return { _id: '', raw: '', id: '', type: '', ts: '' }
}

/**
 * What is wrong with a stored event body in its slot that its bytes and the document say on their own: its check
 * failed, it claims another slot, or the index fields stored beside it are not the signed ones. Null: nothing.
 */
export function storedEventProblem(
  doc: EventDoc,
  check: EventCheck,
  slot: { author: string; seq: number }
): { code: string; message: string } | null {
  if (!check.ok) return { code: check.code, message: check.message }
  if (check.author !== slot.author || check.seq !== slot.seq)
    return {
      code: 'MISPLACED',
      message: `event claims ${check.author.slice(0, 8)}…#${check.seq} but is stored in another slot`
    }
  if (doc.id !== check.id || doc.type !== check.type || doc.ts !== check.ts)
    return { code: 'INDEX_MISMATCH', message: 'stored index fields do not match the signed bytes' }
  return null
}

/**
 * An event the walk may take as part of a run: in an event slot, its first revision, not deleted, nothing wrong with
 * it on its own (storedEventProblem), and of no type the walk treats specially.
 */
function cleanEvent(doc: EventDoc, check: EventCheck & { ok: true }): boolean {
  const slot = parseEventDocId(doc._id)
  return (
    slot !== null &&
    doc._deleted !== true &&
    typeof doc._rev === 'string' &&
    doc._rev.startsWith('1-') &&
    storedEventProblem(doc, check, slot) === null &&
    check.type !== GENESIS_TYPE &&
    check.type !== CHECKPOINT_TYPE &&
    !isGovernanceType(check.type)
  )
}

interface OpenRun {
  author: string
  seq: number
  prev: string
  ids: string[]
}

/**
 * Check a page of stored body texts (PouchDB's by-sequence values): see BodiesCheck. With `runs` false every event
 * travels whole (the tests hold the two answers to the same verdict).
 */
export function checkBodies(bodies: string[], vault: string, runs = true): BodiesCheck {
  const items: BodyItem[] = []
  const forks: EventDoc[] = []
  let open: OpenRun | null = null
  const close = (r: OpenRun | null) => {
    if (r)
      items.push({ run: true, author: r.author, seq: r.seq, prev: r.prev, ids: r.ids.join(''), count: r.ids.length })
    return null
  }
  // Parsed and sorted first, so the events' signatures are checked together (see checkRaws).
  const docs: EventDoc[] = []
  for (const text of bodies) {
    const doc = parseStored(text)
    if (doc._id.startsWith(FORK_PREFIX)) forks.push(doc)
    else if (doc._id.startsWith(EVENT_PREFIX) || doc._id === '') docs.push(doc)
  }
  const checks = checkRaws(
    docs.map((doc) => (doc._deleted ? '' : doc.raw)),
    vault
  )
  docs.forEach((doc, i) => {
    const check = checks[i]!
    if (runs && check.ok && cleanEvent(doc, check)) {
      const r: OpenRun | null = open
      if (r && r.author === check.author && r.seq + r.ids.length === check.seq && check.prev === r.ids.at(-1)) {
        r.ids.push(check.id)
        return
      }
      close(r)
      open = { author: check.author, seq: check.seq, prev: check.prev!, ids: [check.id] }
      return
    }
    open = close(open)
    // Only what the verifier reads travels: a checkpoint's bytes are read again for its roots, no other event's are.
    const kept: EventDoc = {
      _id: doc._id,
      raw: check.ok && check.type === CHECKPOINT_TYPE ? doc.raw : '',
      id: doc.id,
      type: doc.type,
      ts: doc.ts
    }
    if (doc._rev !== undefined) kept._rev = doc._rev
    if (doc._deleted !== undefined) kept._deleted = doc._deleted
    items.push({ run: false, doc: kept, check })
  })
  close(open)
  return { items, forks }
}
