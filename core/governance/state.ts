/**
 * Governance state: members, keys, roles, policy, flags, registers,
 * proposals. It is a pure function of the vault's governance events (see
 * fold.ts), so two devices holding the same events hold the same state, byte
 * for byte: `stateHash` is the proof.
 */
import { canonicalize, type Json } from '../canonical.js'
import { sha256Hex } from '../bytes.js'
import { checkPolicy, defaultPolicy, type ActionKind, type Policy } from './policy.js'
import type { RegisterEntry, RegisterName } from './registers.js'
import { BAD_ARGUMENT } from '../errors.js'
import { isHex } from '../bytes.js'

export interface MemberState {
  name: string
  roles: string[]
  /** Active device keys. */
  keys: string[]
  revokedKeys: string[]
  active: boolean
}

export interface Approval { member: string; key: string; roles: string[]; id: string }
export interface Rejection { member: string; reason: string; id: string }

export type ProposalStatus = 'open' | 'committed' | 'rejected' | 'withdrawn' | 'failed'

export interface ProposalState {
  id: string
  proposer: string
  action: { kind: ActionKind; args: Record<string, Json> }
  reason: string
  createdAt: string
  expiresAt: string
  status: ProposalStatus
  approvals: Approval[]
  rejections: Rejection[]
  /** Event id of the commit, withdrawal or rejection that closed it. */
  closedBy: string | null
  /** Why a committed proposal could not be applied (status failed). */
  failure: string | null
}

/** An event that is a governance violation: a verification failure. */
export interface GovIssue { id: string; code: 'INVALID_COMMIT' | 'BAD_GENESIS'; message: string }
/** An event that had no effect, and why (e.g. an approval from a revoked key). */
export interface Ignored { id: string; reason: string }

export interface GovState {
  vaultId: string
  name: string
  settings: Record<string, Json>
  members: Record<string, MemberState>
  policy: Policy
  flags: Record<string, boolean>
  registers: Record<RegisterName, RegisterEntry[]>
  proposals: Record<string, ProposalState>
  issues: GovIssue[]
  ignored: Ignored[]
  /** Governance events folded. */
  height: number
}

export interface GenesisMember { name: string; roles: string[]; keys: string[] }

/** The state a genesis event establishes. Throws BAD_ARGUMENT for an invalid genesis payload. */
export function genesisState(vaultId: string, payload: Record<string, Json>): GovState {
  const members: Record<string, MemberState> = {}
  const seenKeys = new Set<string>()
  for (const m of (payload.members ?? []) as unknown as GenesisMember[]) {
    if (typeof m?.name !== 'string' || members[m.name] || !Array.isArray(m.roles) || !Array.isArray(m.keys)) throw BAD_ARGUMENT('genesis members are {name, roles, keys} with unique names')
    for (const k of m.keys) {
      if (!isHex(k, 32) || seenKeys.has(k)) throw BAD_ARGUMENT('genesis keys are unique 32-byte hex keys')
      seenKeys.add(k)
    }
    members[m.name] = { name: m.name, roles: [...m.roles].sort(), keys: [...m.keys].sort(), revokedKeys: [], active: true }
  }
  if (Object.keys(members).length === 0) throw BAD_ARGUMENT('genesis names at least one member')
  const policy = payload.policy === undefined ? defaultPolicy() : checkPolicy(payload.policy)
  const flags: Record<string, boolean> = {}
  for (const flag of Object.keys(policy.flags).sort()) flags[flag] = false
  return {
    vaultId, name: String(payload.name ?? ''), settings: {}, members, policy, flags,
    registers: { company: [], ledger: [], network: [], streams: [] }, proposals: {}, issues: [], ignored: [], height: 1
  }
}

/** The state of a vault whose genesis cannot be read: no members (nothing can be signed), one issue. */
export function brokenState(vaultId: string, message: string): GovState {
  return {
    vaultId, name: '', settings: {}, members: {}, policy: defaultPolicy(), flags: {},
    registers: { company: [], ledger: [], network: [], streams: [] }, proposals: {},
    issues: [{ id: vaultId, code: 'BAD_GENESIS', message }], ignored: [], height: 0
  }
}

/** Which member holds `key`, and whether the key and member are active. */
export function keyOwner(state: GovState, key: string): { member: MemberState; active: boolean } | null {
  for (const m of Object.values(state.members)) {
    if (m.keys.includes(key)) return { member: m, active: m.active }
    if (m.revokedKeys.includes(key)) return { member: m, active: false }
  }
  return null
}

/** Every key that was ever a key of the vault (to recognise authors). */
export function everKeys(state: GovState): Set<string> {
  const out = new Set<string>()
  for (const m of Object.values(state.members)) for (const k of [...m.keys, ...m.revokedKeys]) out.add(k)
  return out
}

/** SHA-256 of the canonical state: equal on every device that holds the same events. */
export function stateHash(state: GovState): string {
  return sha256Hex(canonicalize(state as unknown as Json, 64))
}
