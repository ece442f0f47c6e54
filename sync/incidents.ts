/**
 * What a sync round found a witness doing wrong becomes a signed
 * `sync.incident` event (core/incident.ts) in this device's feed, so the
 * other devices learn it from the next sync, and the audit log keeps it.
 * When the device cannot sign right now (key locked, READ-ONLY, catching up
 * after a recovery), the incident waits in the sync state and is signed at
 * the first round that can. The same incident is signed once.
 */
import { canonicalize, INCIDENT_TYPE, incidentJson, sha256Hex, type Incident, type Vault } from '../core/index.js'

/** Kept in a witness's sync state (sync-couch.json, sync-git.json). */
export interface IncidentBook {
  pending: Incident[]
  /** Keys of incidents already signed (the latest 100). */
  signed: string[]
}

/** A book read from a state file, or a fresh one (state files from before incidents have none). */
export function bookOf(value: unknown): IncidentBook {
  const b = value as Partial<IncidentBook> | undefined
  return {
    pending: Array.isArray(b?.pending) ? b!.pending.slice(0, 100) : [],
    signed: Array.isArray(b?.signed) ? b!.signed.filter((s) => typeof s === 'string').slice(-100) : []
  }
}

const keyOf = (i: Incident): string =>
  sha256Hex(canonicalize({ witness: i.witness, kind: i.kind, server: i.server, detail: i.detail, marks: i.marks }))

/** Note an incident and sign whatever is pending that this device can sign now. Returns the ids signed. */
export async function reportIncidents(vault: Vault, book: IncidentBook, found: Incident[]): Promise<string[]> {
  for (const i of found) {
    const key = keyOf(i)
    if (!book.signed.includes(key) && !book.pending.some((p) => keyOf(p) === key)) book.pending.push(i)
  }
  const signed: string[] = []
  if (!vault.unlocked || !vault.member || vault.health.state !== 'ok' || vault.awaitingCatchUp !== null) return signed
  while (book.pending.length > 0) {
    const next = book.pending[0]!
    try {
      const d = await vault.append(INCIDENT_TYPE, incidentJson(next))
      signed.push(d.id)
    } catch {
      break // tried again at the next round
    }
    book.pending.shift()
    book.signed = [...book.signed, keyOf(next)].slice(-100)
  }
  return signed
}
