/**
 * Every device sees every device. Each device signs a small `device.status`
 * event of itself (format v1): its feed heads, its health and last check, its
 * software and format versions, and how its sync stands. It is signed at
 * start, after every check, when its health changes, and as a heartbeat —
 * only when something changed since the last one, or when the last one is
 * getting old (so a quiet vault does not fill its log). A READ-ONLY device
 * still signs it: that a check failed is what the others most need to hear.
 *
 * What a status says is the device's own word about itself; it is shown as
 * such and never changes what anything else counts. A status another key
 * signed cannot speak for this one (the author is the signer), and a payload
 * that does not read as v1 is shown as unreadable, not guessed at.
 */
import type { Json } from './canonical.js'
import { dict, own, type Dict } from './dict.js'
import type { GovState } from './governance/state.js'

export const DEVICE_STATUS = 'device.status'
export const DEVICE_STATUS_V = 1
/** A heartbeat status is signed at most this often, and only when something changed since the last. */
export const STATUS_HEARTBEAT_MS = 15 * 60_000
/** With nothing changed, a status is signed again after this long (so "last seen" stays honest). */
export const STATUS_IDLE_MS = 6 * 3_600_000
/** Beyond this many feeds a status lists the heads of the largest ones only (it stays small). */
const MAX_HEADS = 256

export type StatusReason = 'start' | 'check' | 'health' | 'sync' | 'heartbeat'
const REASONS: readonly StatusReason[] = ['start', 'check', 'health', 'sync', 'heartbeat']

export interface DeviceStatus {
  v: 1
  reason: StatusReason
  /** Events held per feed (by author key). */
  heads: Dict<number>
  health: 'ok' | 'read-only'
  /** Why it is READ-ONLY (null when ok). */
  why: string | null
  /** The last check it ran: full or incremental, passed or not, when, how many issues. */
  check: { mode: 'full' | 'incremental'; ok: boolean; at: string; issues: number } | null
  software: string
  formats: { event: number; state: number }
  /** How its sync with a server stands (null: it syncs with none). */
  sync: { online: boolean; pendingUp: number; pendingDown: number; lastSuccess: string | null } | null
}

/** What a device is shown as, from the governed state and its latest status. */
export interface DeviceRow {
  member: string
  key: string
  /** active: an active key of an active member; revoked: the key was revoked; removed: its member was. */
  keyState: 'active' | 'revoked' | 'removed'
  thisDevice: boolean
  /** The key signed two events at one position from here on (core's fork freeze). */
  forkedAt: number | null
  /** When its latest status was signed (its own clock), and its seq. */
  lastSeen: string | null
  status: DeviceStatus | null
  /** A status was signed but does not read as v1. */
  unreadable: boolean
  /** Events this device holds that the other had not when it signed its status. */
  behind: number | null
}

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0
const isTime = (v: unknown): v is string => typeof v === 'string' && v.length <= 40 && !Number.isNaN(Date.parse(v))
const short = (v: unknown, max: number): string | null => (typeof v === 'string' ? v.slice(0, max) : null)

const FIELDS = new Set(['v', 'reason', 'heads', 'health', 'why', 'check', 'software', 'formats', 'sync'])

/** A status payload as v1, or null when it does not read as one (any field out of shape, or one v1 does not define). */
export function parseStatus(payload: unknown): DeviceStatus | null {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return null
  const p = payload as { [k: string]: unknown }
  if (Object.keys(p).some((k) => !FIELDS.has(k))) return null
  if (p.v !== DEVICE_STATUS_V || !REASONS.includes(p.reason as StatusReason)) return null
  if (p.health !== 'ok' && p.health !== 'read-only') return null
  if (typeof p.heads !== 'object' || p.heads === null || Array.isArray(p.heads)) return null
  const heads = dict<number>()
  const entries = Object.entries(p.heads as object)
  if (entries.length > MAX_HEADS) return null
  for (const [author, n] of entries) {
    if (!/^[0-9a-f]{64}$/.test(author) || !isCount(n)) return null
    heads[author] = n
  }
  let check: DeviceStatus['check'] = null
  if (p.check !== null) {
    const c = p.check as { [k: string]: unknown } | undefined
    if (typeof c !== 'object' || c === null) return null
    if ((c.mode !== 'full' && c.mode !== 'incremental') || typeof c.ok !== 'boolean' || !isTime(c.at)) return null
    if (!isCount(c.issues)) return null
    check = { mode: c.mode, ok: c.ok, at: c.at, issues: c.issues }
  }
  let sync: DeviceStatus['sync'] = null
  if (p.sync !== null) {
    const s = p.sync as { [k: string]: unknown } | undefined
    if (typeof s !== 'object' || s === null || typeof s.online !== 'boolean') return null
    if (!isCount(s.pendingUp) || !isCount(s.pendingDown)) return null
    if (s.lastSuccess !== null && !isTime(s.lastSuccess)) return null
    sync = { online: s.online, pendingUp: s.pendingUp, pendingDown: s.pendingDown, lastSuccess: s.lastSuccess }
  }
  const f = p.formats as { event?: unknown; state?: unknown } | undefined
  if (typeof f !== 'object' || f === null || !isCount(f.event) || !isCount(f.state)) return null
  return {
    v: 1,
    reason: p.reason as StatusReason,
    heads,
    health: p.health,
    why: p.health === 'read-only' ? (short(p.why, 500) ?? 'no reason given') : null,
    check,
    software: short(p.software, 40) ?? '?',
    formats: { event: f.event, state: f.state },
    sync
  }
}

/** The payload a device signs about itself. */
export function statusPayload(s: Omit<DeviceStatus, 'v'>): { [key: string]: Json } {
  // The largest feeds, if there are more than a status lists.
  const heads = Object.entries(s.heads)
    .sort((a, b) => b[1] - a[1])
    .slice(0, MAX_HEADS)
  const out = dict<number>()
  for (const [author, n] of heads.sort((a, b) => (a[0] < b[0] ? -1 : 1))) out[author] = n
  return {
    v: DEVICE_STATUS_V,
    reason: s.reason,
    heads: out,
    health: s.health,
    why: s.why === null ? null : s.why.slice(0, 500),
    check: s.check,
    software: s.software.slice(0, 40),
    formats: s.formats,
    sync: s.sync
  }
}

/** Whether a new status says something the last one did not (heads, health, check, sync standing). */
export function statusChanged(last: DeviceStatus | null, next: Omit<DeviceStatus, 'v'>): boolean {
  if (!last) return true
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)
  return (
    last.health !== next.health ||
    !same(last.check, next.check) ||
    !same(Object.entries(last.heads).sort(), Object.entries(next.heads).sort()) ||
    last.sync?.online !== next.sync?.online ||
    (last.sync?.pendingUp ?? 0) !== (next.sync?.pendingUp ?? 0)
  )
}

/**
 * Every member's devices (active, revoked and removed keys) with what their latest status says, read against what
 * this device holds now (`heads`).
 */
export function devicesView(
  state: GovState,
  latest: Map<string, { ts: string; seq: number; payload: unknown }>,
  heads: Record<string, { length: number }>,
  device: string
): DeviceRow[] {
  const frozen = new Map((state.frozen ?? []).map((f) => [f.key, f.seq]))
  const rows: DeviceRow[] = []
  for (const m of Object.values(state.members)) {
    const keys: [string, DeviceRow['keyState']][] = [
      ...m.keys.map((k) => [k, m.active ? 'active' : 'removed'] as [string, DeviceRow['keyState']]),
      ...m.revokedKeys.map((k) => [k, 'revoked'] as [string, DeviceRow['keyState']])
    ]
    for (const [key, keyState] of keys) {
      const l = latest.get(key)
      const status = l ? parseStatus(l.payload) : null
      let behind: number | null = null
      if (status && l) {
        // its own feed it held up to the status itself (signed after the heads it lists)
        const held = (author: string) =>
          author === key ? Math.max(l.seq, own(status.heads, author) ?? 0) : (own(status.heads, author) ?? 0)
        behind = 0
        for (const [author, h] of Object.entries(heads)) behind += Math.max(0, h.length - held(author))
      }
      rows.push({
        member: m.name,
        key,
        keyState,
        thisDevice: key === device,
        forkedAt: frozen.get(key) ?? null,
        lastSeen: l?.ts ?? null,
        status,
        unreadable: l !== undefined && status === null,
        behind
      })
    }
  }
  return rows
}
