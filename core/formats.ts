/**
 * Every namespace Tresor signs under or stores by, in one place (as
 * hypercore's lib/caps.js keeps its). A signature is over a domain tag and
 * the canonical bytes, so one kind of signed statement can never be replayed
 * as another; documents are found by their id prefix. Lint refuses these
 * literals anywhere else in the code (`eslint.config.js`); the one exception
 * is the CouchDB design document, which is JavaScript run by the server.
 */

/** The domain tag of each signed format; the vault id binds every signature to one vault. */
export const DOMAIN_TAG = Object.freeze({
  /** An event, envelope v1 or v2; a genesis (no vault yet) signs under "genesis". */
  event: (v: number, vault: string | null) => `tresor/v${v}/event/${vault ?? 'genesis'}\n`,
  /** A bundle file's outer signature. */
  bundle: (vault: string) => `tresor/v1/bundle/${vault}\n`,
  /** The verified point kept beside the database. */
  verifiedPoint: (vault: string) => `tresor/v1/verified-point/${vault}\n`,
  /** A sealed telemetry batch header. */
  telemetryBatch: (vault: string) => `tresor/v1/telemetry-batch/${vault}\n`
})

/** Event documents: `ev!<author>!<seq>` (seq zero-padded to 12 digits). */
export const EVENT_PREFIX = 'ev!'
/** Fork evidence: a second event for a taken slot, `fork!<author>!<seq>!<id>`. */
export const FORK_PREFIX = 'fork!'
/** Digits of the zero-padded seq in event and fork ids (key order = seq order). */
export const SEQ_DIGITS = 12

export function eventDocId(author: string, seq: number): string {
  return `${EVENT_PREFIX}${author}!${String(seq).padStart(SEQ_DIGITS, '0')}`
}

/** Parse `ev!<author>!<seq>`; null for anything else. */
export function parseEventDocId(docId: string): { author: string; seq: number } | null {
  const m = /^ev!([0-9a-f]{64})!(\d{12})$/.exec(docId)
  if (!m) return null
  const seq = Number(m[2])
  return seq >= 1 ? { author: m[1]!, seq } : null
}

/** Whether a document id is an event or fork evidence (what the vault reads and syncs). */
export const isEventLikeId = (id: string): boolean => id.startsWith(EVENT_PREFIX) || id.startsWith(FORK_PREFIX)

/** The key range of every document under `prefix` (optionally one author's feed). */
export function idRange(prefix: string, author?: string): { startkey: string; endkey: string } {
  const start = author ? `${prefix}${author}!` : prefix
  return { startkey: start, endkey: `${start}\uffff` }
}
