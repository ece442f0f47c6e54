/**
 * Governance state: members, keys, roles, policy, flags, registers,
 * proposals. It is a pure function of the vault's governance events (see
 * fold.ts), so two devices holding the same events hold the same state, byte
 * for byte: `stateHash` is the proof. Every record keyed by a name someone
 * chose is a null-prototype Dict (core/dict.ts).
 */
import { canonicalize, type Json } from '../canonical.js'
import { sha256Hex } from '../bytes.js'
import { checkPolicy, defaultPolicy, type ActionKind, type Policy } from './policy.js'
import type { RegisterEntry } from './registers.js'
import type { DocRules } from '../documents/rules.js'
import { BAD_ARGUMENT } from '../errors.js'
import { isHex } from '../bytes.js'
import { dict, own, type Dict } from '../dict.js'

/** Version of the state's shape (what `stateHash` hashes). */
export const STATE_VERSION = 2

export interface MemberState {
  name: string
  roles: string[]
  /** Active device keys. */
  keys: string[]
  revokedKeys: string[]
  active: boolean
}

export interface Approval {
  member: string
  key: string
  roles: string[]
  id: string
}
export interface Rejection {
  member: string
  reason: string
  id: string
}

export type ProposalStatus = 'open' | 'committed' | 'rejected' | 'withdrawn' | 'failed'

export interface ProposalState {
  id: string
  proposer: string
  action: { kind: ActionKind; args: { [key: string]: Json } }
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
  /**
   * Rejections or withdrawals made concurrently with the commit that closed it: a commit that had not seen them stands.
   */
  overridden: string[]
  /**
   * A later commit (in the order every device computes) set the same flag or setting: its value stands, this one's was
   * replaced. Absent when nothing superseded it.
   */
  supersededBy?: string
}

/** An event that is a governance violation: a verification failure. */
export interface GovIssue {
  id: string
  code: 'INVALID_COMMIT' | 'BAD_GENESIS'
  message: string
}
/** An event that had no effect, and why (e.g. an approval from a revoked key). */
export interface Ignored {
  id: string
  reason: string
}
/**
 * A key that signed two different events at one position: frozen from `seq` on (events other keys had cited still
 * count).
 */
export interface FrozenKey {
  key: string
  seq: number
}

export interface Registers {
  company: RegisterEntry[]
  ledger: RegisterEntry[]
  network: RegisterEntry[]
  streams: RegisterEntry[]
}

export interface GovState {
  v: typeof STATE_VERSION
  vaultId: string
  name: string
  settings: Dict<Json>
  members: Dict<MemberState>
  policy: Policy
  flags: Dict<boolean>
  registers: Registers
  proposals: Dict<ProposalState>
  issues: GovIssue[]
  ignored: Ignored[]
  frozen: FrozenKey[]
  /** The batches of the committed migrations, in the vault's order (core/documents/register.ts); absent when none. */
  migrated?: string[]
  /** The committed witness policy (Sigsum syntax, core/proofs/witness-policy.ts); absent when none. */
  witnessPolicy?: string
  /** The committed documents rules (core/documents/rules.ts); absent while the defaults hold. */
  docRules?: DocRules
  /**
   * The committed lifecycle changes and new versions of documents, in the vault's order, each with how many migrations
   * came before it (the register replays them between the migrations: core/documents/register.ts); absent when none.
   */
  docActs?: [proposal: string, afterMigrations: number][]
  /** Governance events folded. */
  height: number
}

export interface GenesisMember {
  name: string
  roles: string[]
  keys: string[]
}

/**
 * Who may sign: members, their keys and the policy. It changes only through committed member, key and policy actions.
 */
export interface Authority {
  members: Dict<MemberState>
  /** Every key ever added → its member's name. */
  keys: Map<string, string>
  policy: Policy
}

const emptyRegisters = (): Registers => ({ company: [], ledger: [], network: [], streams: [] })

/** The authority a genesis event establishes. Throws BAD_ARGUMENT for an invalid genesis payload. */
export function genesisAuthority(payload: { [key: string]: Json }): Authority {
  const members = dict<MemberState>()
  const keys = new Map<string, string>()
  const list = payload.members
  if (!Array.isArray(list) || list.length === 0 || list.length > 1000)
    throw BAD_ARGUMENT('genesis names 1-1000 members')
  for (const m of list as unknown as GenesisMember[]) {
    if (
      typeof m?.name !== 'string' ||
      m.name.length === 0 ||
      m.name.length > 128 ||
      own(members, m.name) ||
      !Array.isArray(m.roles) ||
      !Array.isArray(m.keys)
    ) {
      throw BAD_ARGUMENT('genesis members are {name, roles, keys} with unique names')
    }
    if (!m.roles.every((r) => typeof r === 'string' && /^[a-z][a-z0-9_-]{0,31}$/.test(r)))
      throw BAD_ARGUMENT('genesis roles are lower-case names')
    for (const k of m.keys) {
      if (!isHex(k, 32) || keys.has(k)) throw BAD_ARGUMENT('genesis keys are unique 32-byte hex keys')
      keys.set(k, m.name)
    }
    members[m.name] = {
      name: m.name,
      roles: [...new Set(m.roles)].sort(),
      keys: [...m.keys].sort(),
      revokedKeys: [],
      active: true
    }
  }
  const policy = payload.policy === undefined ? defaultPolicy() : checkPolicy(payload.policy)
  return { members, keys, policy }
}

/** The state a genesis establishes, around its authority. */
export function genesisState(vaultId: string, payload: { [key: string]: Json }, authority: Authority): GovState {
  const flags = dict<boolean>()
  for (const flag of Object.keys(authority.policy.flags).sort()) flags[flag] = false
  return {
    v: STATE_VERSION,
    vaultId,
    name: typeof payload.name === 'string' ? payload.name : '',
    settings: dict(),
    members: authority.members,
    policy: authority.policy,
    flags,
    registers: emptyRegisters(),
    proposals: dict(),
    issues: [],
    ignored: [],
    frozen: [],
    height: 1
  }
}

/** The state of a vault whose genesis cannot be read: no members (nothing can be signed), one issue. */
export function brokenState(vaultId: string, message: string): GovState {
  return {
    v: STATE_VERSION,
    vaultId,
    name: '',
    settings: dict(),
    members: dict(),
    policy: defaultPolicy(),
    flags: dict(),
    registers: emptyRegisters(),
    proposals: dict(),
    issues: [{ id: vaultId, code: 'BAD_GENESIS', message }],
    ignored: [],
    frozen: [],
    height: 0
  }
}

/** Which member holds `key`, and whether the key and member are active. */
export function keyOwner(
  state: { members: Dict<MemberState> },
  key: string
): { member: MemberState; active: boolean } | null {
  for (const m of Object.values(state.members)) {
    if (m.keys.includes(key)) return { member: m, active: m.active }
    if (m.revokedKeys.includes(key)) return { member: m, active: false }
  }
  return null
}

/**
 * The member holding `key` in an authority, and whether key and member are active (indexed: the fold asks this per
 * event).
 */
export function authorOf(a: Authority, key: string): { member: MemberState; active: boolean } | null {
  const name = a.keys.get(key)
  const m = name === undefined ? undefined : own(a.members, name)
  return m ? { member: m, active: m.active && m.keys.includes(key) } : null
}

/** Every key that was ever a key of the vault (to recognise authors). */
export function everKeys(state: { members: Dict<MemberState> }): Set<string> {
  const out = new Set<string>()
  for (const m of Object.values(state.members)) for (const k of [...m.keys, ...m.revokedKeys]) out.add(k)
  return out
}

/** SHA-256 of the canonical state: equal on every device that holds the same events. */
export function stateHash(state: GovState): string {
  return sha256Hex(canonicalize(state as unknown as Json, 64))
}
