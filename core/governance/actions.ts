/**
 * Governed actions, checked in three layers:
 *   shape      names, keys, entries: the same on every device, whatever the state
 *   authority  against members and policy (who may sign): the fold asks this of
 *              the state in the proposal's and the commit's causal past
 *   register   against flags, settings and registers as the commit finds them
 *              in the vault's one order; a commit that no longer fits "fails"
 * and their effects. Nothing else changes governance state.
 */
import type { Json } from '../canonical.js'
import { isHex } from '../bytes.js'
import { isWeakPublicKey } from '../ed25519.js'
import { BAD_ARGUMENT } from '../errors.js'
import { dictOf, own, type Dict } from '../dict.js'
import { ACTION_KINDS, checkPolicy, isValidFlag, isValidRole, type ActionKind, type Policy } from './policy.js'
import { checkEntryFits, checkEntryShape, REGISTER_FLAGS, type RegisterEntry, type RegisterName } from './registers.js'
import { type Authority, type GovState, type MemberState } from './state.js'
import { parseWitnessPolicy } from '../proofs/witness-policy.js'
import { checkMigrationFits, checkMigrationShape } from '../documents/register.js'
import { checkDocChangeFits, checkDocChangeShape } from '../documents/changes.js'
import type { DocRules } from '../documents/rules.js'

export interface Action {
  kind: ActionKind
  args: { [key: string]: Json }
}

const NAME_RE = /^[\p{L}\p{N}][\p{L}\p{N} ._-]{0,63}$/u
const SETTING_RE = /^[a-z][a-zA-Z0-9_]{0,31}$/

/** Actions that change who may sign (members, keys, policy): the causal past of every event is judged by them. */
const AUTHORITY_KINDS: readonly ActionKind[] = [
  'member.add',
  'member.remove',
  'member.roles',
  'key.add',
  'key.revoke',
  'policy.set'
]

export function isAuthorityAction(kind: ActionKind): boolean {
  return AUTHORITY_KINDS.includes(kind)
}

export function isValidMemberName(v: unknown): v is string {
  return typeof v === 'string' && NAME_RE.test(v)
}

function memberName(v: unknown): string {
  if (!isValidMemberName(v)) throw BAD_ARGUMENT('member name: 1-64 letters, digits, spaces, . _ -')
  return v
}

function roles(v: unknown): string[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > 16 || !v.every(isValidRole))
    throw BAD_ARGUMENT('roles: 1-16 lower-case role names')
  return [...new Set(v as string[])].sort()
}

function deviceKey(v: unknown): string {
  if (!isHex(v, 32)) throw BAD_ARGUMENT('key: 64 lower-case hex characters')
  if (isWeakPublicKey(Buffer.from(v, 'hex'))) throw BAD_ARGUMENT('key is of small order or not canonical')
  return v
}

function plainRecord(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw BAD_ARGUMENT(`${what} must be an object`)
  return v as Record<string, unknown>
}

/** The shape layer: validate and normalise an action. Throws BAD_ARGUMENT with the reason. */
export function checkActionShape(action: unknown): Action {
  const a = plainRecord(action, 'action')
  const kind = a.kind
  if (typeof kind !== 'string' || !(ACTION_KINDS as readonly string[]).includes(kind))
    throw BAD_ARGUMENT(`action kind must be one of ${ACTION_KINDS.join(', ')}`)
  const args = plainRecord(a.args ?? {}, 'action args')
  switch (kind as ActionKind) {
    case 'member.add': {
      const keys = (Array.isArray(args.keys) ? args.keys : []).map(deviceKey)
      if (keys.length === 0 || keys.length > 16) throw BAD_ARGUMENT('a new member needs 1-16 device keys')
      return {
        kind: 'member.add',
        args: { name: memberName(args.name), roles: roles(args.roles), keys: [...new Set(keys)].sort() }
      }
    }
    case 'member.remove':
      return { kind: 'member.remove', args: { name: memberName(args.name) } }
    case 'member.roles':
      return { kind: 'member.roles', args: { name: memberName(args.name), roles: roles(args.roles) } }
    case 'key.add':
      return { kind: 'key.add', args: { member: memberName(args.member), key: deviceKey(args.key) } }
    case 'key.revoke':
      return { kind: 'key.revoke', args: { member: memberName(args.member), key: deviceKey(args.key) } }
    case 'policy.set':
      return { kind: 'policy.set', args: { policy: checkPolicy(args.policy) as unknown as Json } }
    case 'flag.set': {
      if (!isValidFlag(args.flag)) throw BAD_ARGUMENT('flag: a name like finance_enabled')
      if (typeof args.value !== 'boolean') throw BAD_ARGUMENT('flag value must be true or false')
      return { kind: 'flag.set', args: { flag: args.flag, value: args.value } }
    }
    case 'register.append': {
      const { register, entry } = checkEntryShape(args.register, args.entry)
      return { kind: 'register.append', args: { register, entry: entry as unknown as Json } }
    }
    case 'vault.settings': {
      const settings = plainRecord(args.settings, 'settings')
      const entries = Object.entries(settings)
      if (entries.length === 0 || entries.length > 32) throw BAD_ARGUMENT('settings must name 1-32 settings')
      for (const [k, v] of entries) {
        if (
          !SETTING_RE.test(k) ||
          (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') ||
          (typeof v === 'string' && v.length > 200)
        ) {
          throw BAD_ARGUMENT(
            `setting ${k.slice(0, 40)}: name like retentionDays, value text (up to 200 characters), number or true/false`
          )
        }
      }
      return { kind: 'vault.settings', args: { settings: dictOf(entries) as Dict<Json> } }
    }
    case 'witness.policy': {
      // Which witnesses' cosignatures make a checkpoint count (Sigsum's policy syntax); empty text removes it.
      if (typeof args.policy !== 'string') throw BAD_ARGUMENT('a witness policy is text (Sigsum policy syntax)')
      if (args.policy.trim() !== '') {
        try {
          parseWitnessPolicy(args.policy)
        } catch (err) {
          throw BAD_ARGUMENT(`witness policy: ${(err as Error).message}`)
        }
      }
      return { kind: 'witness.policy', args: { policy: args.policy } }
    }
    case 'doc.migrate':
      // One archive's migration: its plan by digest, the plan itself in the proposer's doc.plan events.
      return { kind: 'doc.migrate', args: checkMigrationShape(args) }
    case 'doc.lifecycle':
    case 'doc.version':
    case 'doc.rules':
      return { kind: kind as ActionKind, args: checkDocChangeShape(kind as 'doc.rules', args) }
  }
}

function activeMember(a: Authority, name: string): MemberState {
  const m = own(a.members, name)
  if (!m || !m.active) throw BAD_ARGUMENT(`no active member ${name}`)
  return m
}

/** The authority layer: can this (shape-checked) action apply to these members and this policy? */
export function checkAuthority(a: Authority, action: Action): void {
  const args = action.args as Record<string, unknown>
  switch (action.kind) {
    case 'member.add':
      if (own(a.members, args.name as string)) throw BAD_ARGUMENT(`member ${String(args.name)} already exists`)
      for (const k of args.keys as string[])
        if (a.keys.has(k)) throw BAD_ARGUMENT(`key ${k.slice(0, 8)}… already belongs to a member`)
      return
    case 'member.remove': {
      activeMember(a, args.name as string)
      if (Object.values(a.members).filter((m) => m.active).length <= 2)
        throw BAD_ARGUMENT('a vault keeps at least two active members (dual authorization)')
      return
    }
    case 'member.roles':
      activeMember(a, args.name as string)
      return
    case 'key.add':
      activeMember(a, args.member as string)
      if (a.keys.has(args.key as string))
        throw BAD_ARGUMENT(`key ${(args.key as string).slice(0, 8)}… already belongs to a member`)
      return
    case 'key.revoke': {
      const m = activeMember(a, args.member as string)
      if (!m.keys.includes(args.key as string))
        throw BAD_ARGUMENT(`${m.name} has no active key ${(args.key as string).slice(0, 8)}…`)
      return
    }
    case 'flag.set':
      if (!own(a.policy.flags, args.flag as string))
        throw BAD_ARGUMENT(`unknown flag ${String(args.flag)}: flags are ${Object.keys(a.policy.flags).join(', ')}`)
      return
    case 'policy.set':
    case 'register.append':
    case 'vault.settings':
    case 'witness.policy':
    case 'doc.migrate':
    case 'doc.lifecycle':
    case 'doc.version':
    case 'doc.rules':
      return
  }
}

/** The register layer: can this action apply to flags and registers as they are now? */
export function checkRegisters(
  state: Pick<GovState, 'flags' | 'registers' | 'migrated' | 'docRules'>,
  action: Action
): void {
  const args = action.args as Record<string, unknown>
  if (action.kind === 'flag.set' && own(state.flags, args.flag as string) === args.value) {
    throw BAD_ARGUMENT(`${String(args.flag)} is already ${args.value ? 'on' : 'off'}`)
  }
  if (action.kind === 'register.append') {
    const register = args.register as RegisterName
    const flag = REGISTER_FLAGS[register]
    if (own(state.flags, flag) !== true)
      throw BAD_ARGUMENT(`the ${register} register is off: flag ${flag} must be switched on first`)
    checkEntryFits(register, args.entry as unknown as RegisterEntry, state.registers)
  }
  if (action.kind === 'doc.migrate') checkMigrationFits(state, args)
  if (action.kind === 'doc.lifecycle' || action.kind === 'doc.version') checkDocChangeFits(state, action.kind, args)
}

/** The authority an authority action leaves (copy on write: the given authority is never changed). */
export function applyAuthority(a: Authority, action: Action): Authority {
  const args = action.args as Record<string, unknown>
  const members = dictOf(Object.entries(a.members))
  let keys = a.keys
  let policy = a.policy
  const put = (m: MemberState) => {
    members[m.name] = m
  }
  switch (action.kind) {
    case 'member.add': {
      const name = args.name as string
      put({ name, roles: args.roles as string[], keys: args.keys as string[], revokedKeys: [], active: true })
      keys = new Map(keys)
      for (const k of args.keys as string[]) keys.set(k, name)
      break
    }
    case 'member.remove': {
      const m = own(members, args.name as string)!
      put({ ...m, active: false, keys: [], revokedKeys: [...m.revokedKeys, ...m.keys].sort() })
      break
    }
    case 'member.roles':
      put({ ...own(members, args.name as string)!, roles: args.roles as string[] })
      break
    case 'key.add': {
      const m = own(members, args.member as string)!
      put({ ...m, keys: [...m.keys, args.key as string].sort() })
      keys = new Map(keys).set(args.key as string, m.name)
      break
    }
    case 'key.revoke': {
      const m = own(members, args.member as string)!
      put({
        ...m,
        keys: m.keys.filter((k) => k !== args.key),
        revokedKeys: [...m.revokedKeys, args.key as string].sort()
      })
      break
    }
    case 'policy.set':
      policy = args.policy as unknown as Policy
      break
    default:
      return a
  }
  return { members, keys, policy }
}

/** Apply a non-authority action to flags, settings and registers (the fold owns the state and journals it). */
export function applyRegisters(state: GovState, action: Action, proposal = ''): void {
  const args = action.args as Record<string, unknown>
  switch (action.kind) {
    case 'flag.set':
      state.flags[args.flag as string] = args.value as boolean
      return
    case 'register.append':
      state.registers[args.register as RegisterName].push(args.entry as never)
      return
    case 'vault.settings': {
      for (const [k, v] of Object.entries(args.settings as Dict<Json>)) state.settings[k] = v
      const name = own(state.settings, 'name')
      if (typeof name === 'string') state.name = name
      return
    }
    case 'doc.migrate':
      // absent until a first migration, so the state hashes pinned before documents stand
      state.migrated = [...(state.migrated ?? []), args.batch as string]
      return
    case 'doc.lifecycle':
    case 'doc.version':
      // the register judges these against the documents as the migrations before them left them
      state.docActs = [...(state.docActs ?? []), [proposal, (state.migrated ?? []).length]]
      return
    case 'doc.rules':
      state.docRules = args.rules as unknown as DocRules
      return
    case 'witness.policy':
      // absent until a policy is first committed, so the state hashes pinned before policies stand
      if ((args.policy as string).trim() === '') delete state.witnessPolicy
      else state.witnessPolicy = args.policy as string
      return
    default:
      return
  }
}

/** The authority held in a folded state (members, their keys, the policy). */
export function authorityOf(state: Pick<GovState, 'members' | 'policy'>): Authority {
  const keys = new Map<string, string>()
  for (const m of Object.values(state.members)) for (const k of [...m.keys, ...m.revokedKeys]) keys.set(k, m.name)
  return { members: state.members, keys, policy: state.policy }
}

/** Everything a proposal is checked against before it is signed here: shape, authority and registers as they stand. */
export function checkAction(state: GovState, action: unknown): Action {
  const checked = checkActionShape(action)
  checkAuthority(authorityOf(state), checked)
  checkRegisters(state, checked)
  return checked
}
