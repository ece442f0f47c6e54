/**
 * `sync.incident`: a signed statement by one device that a witness (the
 * CouchDB server, the Git mirror) served less than it served before, or
 * rewrote what it had served. The device that notices signs it into its own
 * feed, so it syncs like any event: every device and the audit log show that
 * it happened, who saw it, and the high-water marks the witness fell below.
 * It claims nothing about governance; it is evidence for people.
 *
 * Payload, version 1 (fixtures: test/fixtures/incident-v1.json):
 *   { v: 1, witness: 'couchdb' | 'git', kind: 'rollback' | 'rewrite',
 *     server: the witness's address without credentials (≤ 512),
 *     detail: what the device saw, in words (≤ 2000),
 *     marks: [{ author, seq, id }] ≤ 64: the slots it had seen the witness
 *            hold and found missing or different,
 *     seenAt: when it saw it (ISO UTC) }
 */
import type { Json } from './canonical.js'
import { MALFORMED } from './errors.js'
import { isHex } from './bytes.js'

export const INCIDENT_TYPE = 'sync.incident'
export const MAX_INCIDENT_MARKS = 64

export interface IncidentMark {
  author: string
  seq: number
  id: string
}
export interface Incident {
  v: 1
  witness: 'couchdb' | 'git'
  kind: 'rollback' | 'rewrite'
  server: string
  detail: string
  marks: IncidentMark[]
  seenAt: string
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/

/** A witness's address as an incident names it: scheme, host, port and path; never user, password or query. */
export function witnessAddress(url: string): string {
  try {
    const u = new URL(url)
    return `${u.protocol}//${u.host}${u.pathname}`.slice(0, 512)
  } catch {
    return '(an address that does not parse)'
  }
}

export function makeIncident(
  args: Omit<Incident, 'v' | 'server' | 'marks'> & { url: string; marks: IncidentMark[] }
): Incident {
  return {
    v: 1,
    witness: args.witness,
    kind: args.kind,
    server: witnessAddress(args.url),
    detail: args.detail.slice(0, 2000),
    marks: args.marks.slice(0, MAX_INCIDENT_MARKS).map((m) => ({ author: m.author, seq: m.seq, id: m.id })),
    seenAt: args.seenAt
  }
}

/** The payload of a `sync.incident` event, checked field by field (own fields only; nothing else is allowed). */
export function checkIncident(value: unknown): Incident {
  const p = value as Record<string, unknown>
  if (typeof p !== 'object' || p === null || Array.isArray(p)) throw MALFORMED('a sync.incident payload is an object')
  const allowed = new Set(['v', 'witness', 'kind', 'server', 'detail', 'marks', 'seenAt'])
  for (const k of Object.keys(p))
    if (!allowed.has(k)) throw MALFORMED(`a sync.incident payload has no field "${k.slice(0, 64)}"`)
  if (p.v !== 1) throw MALFORMED('sync.incident payload version must be 1')
  if (p.witness !== 'couchdb' && p.witness !== 'git') throw MALFORMED('sync.incident witness is "couchdb" or "git"')
  if (p.kind !== 'rollback' && p.kind !== 'rewrite') throw MALFORMED('sync.incident kind is "rollback" or "rewrite"')
  if (typeof p.server !== 'string' || p.server.length > 512)
    throw MALFORMED('sync.incident server is a string of at most 512 characters')
  if (typeof p.detail !== 'string' || p.detail.length > 2000)
    throw MALFORMED('sync.incident detail is a string of at most 2000 characters')
  if (typeof p.seenAt !== 'string' || !ISO.test(p.seenAt)) throw MALFORMED('sync.incident seenAt is an ISO UTC time')
  if (!Array.isArray(p.marks) || p.marks.length > MAX_INCIDENT_MARKS)
    throw MALFORMED(`sync.incident marks is a list of at most ${MAX_INCIDENT_MARKS}`)
  for (const m of p.marks as IncidentMark[]) {
    if (
      typeof m !== 'object' ||
      m === null ||
      !isHex(m.author, 32) ||
      !Number.isSafeInteger(m.seq) ||
      m.seq < 1 ||
      !isHex(m.id, 32) ||
      Object.keys(m).length !== 3
    ) {
      throw MALFORMED('sync.incident marks are {author, seq, id}')
    }
  }
  return p as unknown as Incident
}

/** One line for the log and the Sync screen. */
export function describeIncident(i: Incident): string {
  const what =
    i.kind === 'rollback' ? 'served less than it had served before' : 'rewrote or removed files it had served'
  return `${i.witness === 'couchdb' ? 'CouchDB' : 'the Git mirror'} at ${i.server} ${what} (seen ${i.seenAt}${i.marks.length ? `; ${i.marks.length} high-water mark(s) lost` : ''}): ${i.detail}`
}

export const incidentJson = (i: Incident): Record<string, Json> => i as unknown as Record<string, Json>
