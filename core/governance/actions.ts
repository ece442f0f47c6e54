/**
 * Governed actions: argument checks (at proposal time and again when a
 * commit applies them) and their effect on the state. Nothing else changes
 * governance state.
 */
import type { Json } from '../canonical.js'
import { isHex } from '../bytes.js'
import { isWeakPublicKey } from '../ed25519.js'
import { BAD_ARGUMENT } from '../errors.js'
import { ACTION_KINDS, checkPolicy, isValidFlag, isValidRole, type ActionKind } from './policy.js'
import { checkEntry, REGISTER_FLAGS, type RegisterName } from './registers.js'
import { keyOwner, type GovState, type MemberState } from './state.js'

export interface Action { kind: ActionKind; args: Record<string, Json> }

const NAME_RE = /^[\p{L}\p{N}][\p{L}\p{N} ._-]{0,63}$/u

function memberName(v: unknown): string {
  if (typeof v !== 'string' || !NAME_RE.test(v)) throw BAD_ARGUMENT('member name: 1-64 letters, digits, spaces, . _ -')
  return v
}

function roles(v: unknown): string[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > 16 || !v.every(isValidRole)) throw BAD_ARGUMENT('roles: 1-16 lower-case role names')
  return [...new Set(v as string[])].sort()
}

function deviceKey(v: unknown): string {
  if (!isHex(v, 32)) throw BAD_ARGUMENT('key: 64 lower-case hex characters')
  if (isWeakPublicKey(Buffer.from(v, 'hex'))) throw BAD_ARGUMENT('key is of small order or not canonical')
  return v
}

function activeMember(state: GovState, name: unknown): MemberState {
  const m = state.members[memberName(name)]
  if (!m || !m.active) throw BAD_ARGUMENT(`no active member ${String(name)}`)
  return m
}

function activeMembers(state: GovState): MemberState[] {
  return Object.values(state.members).filter((m) => m.active)
}

/** Validate an action against `state`; returns it normalised. Throws BAD_ARGUMENT with the reason. */
export function checkAction(state: GovState, action: unknown): Action {
  const a = action as Action
  if (typeof a !== 'object' || a === null || !(ACTION_KINDS as readonly string[]).includes(a.kind)) {
    throw BAD_ARGUMENT(`action kind must be one of ${ACTION_KINDS.join(', ')}`)
  }
  const args = (a.args ?? {}) as Record<string, unknown>
  if (typeof args !== 'object' || Array.isArray(args)) throw BAD_ARGUMENT('action args must be an object')
  switch (a.kind) {
    case 'member.add': {
      const name = memberName(args.name)
      if (state.members[name]) throw BAD_ARGUMENT(`member ${name} already exists`)
      const keys = (Array.isArray(args.keys) ? args.keys : []).map(deviceKey)
      if (keys.length === 0) throw BAD_ARGUMENT('a new member needs at least one device key')
      for (const k of keys) if (keyOwner(state, k)) throw BAD_ARGUMENT(`key ${k.slice(0, 8)}… already belongs to a member`)
      return { kind: a.kind, args: { name, roles: roles(args.roles), keys: [...new Set(keys)].sort() } }
    }
    case 'member.remove': {
      const m = activeMember(state, args.name)
      if (activeMembers(state).length <= 2) throw BAD_ARGUMENT('a vault keeps at least two active members (dual authorization)')
      return { kind: a.kind, args: { name: m.name } }
    }
    case 'member.roles': {
      const m = activeMember(state, args.name)
      return { kind: a.kind, args: { name: m.name, roles: roles(args.roles) } }
    }
    case 'key.add': {
      const m = activeMember(state, args.member)
      const key = deviceKey(args.key)
      if (keyOwner(state, key)) throw BAD_ARGUMENT(`key ${key.slice(0, 8)}… already belongs to a member`)
      return { kind: a.kind, args: { member: m.name, key } }
    }
    case 'key.revoke': {
      const m = activeMember(state, args.member)
      const key = deviceKey(args.key)
      if (!m.keys.includes(key)) throw BAD_ARGUMENT(`${m.name} has no active key ${key.slice(0, 8)}…`)
      return { kind: a.kind, args: { member: m.name, key } }
    }
    case 'policy.set':
      return { kind: a.kind, args: { policy: checkPolicy(args.policy) as unknown as Json } }
    case 'flag.set': {
      if (!isValidFlag(args.flag) || !(args.flag in state.policy.flags)) throw BAD_ARGUMENT(`unknown flag ${String(args.flag)}: flags are ${Object.keys(state.policy.flags).join(', ')}`)
      if (typeof args.value !== 'boolean') throw BAD_ARGUMENT('flag value must be true or false')
      if (state.flags[args.flag] === args.value) throw BAD_ARGUMENT(`${args.flag} is already ${args.value ? 'on' : 'off'}`)
      return { kind: a.kind, args: { flag: args.flag, value: args.value } }
    }
    case 'register.append': {
      const { register, entry } = checkEntry(args.register, args.entry, state.registers)
      const flag = REGISTER_FLAGS[register]
      if (!state.flags[flag]) throw BAD_ARGUMENT(`the ${register} register is off: flag ${flag} must be switched on first`)
      return { kind: a.kind, args: { register, entry: entry as unknown as Json } }
    }
    case 'vault.settings': {
      const settings = args.settings as Record<string, Json>
      if (typeof settings !== 'object' || settings === null || Array.isArray(settings) || Object.keys(settings).length === 0) throw BAD_ARGUMENT('settings must be a non-empty object')
      for (const [k, v] of Object.entries(settings)) {
        if (!/^[a-z][a-zA-Z0-9_]{0,31}$/.test(k) || (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')) throw BAD_ARGUMENT(`setting ${k}: name like retentionDays, value text, number or true/false`)
      }
      return { kind: a.kind, args: { settings } }
    }
  }
}

/** Apply a checked action to a state in place (the fold owns the state). */
export function applyAction(state: GovState, action: Action): void {
  const args = action.args as Record<string, unknown>
  switch (action.kind) {
    case 'member.add':
      state.members[args.name as string] = { name: args.name as string, roles: args.roles as string[], keys: args.keys as string[], revokedKeys: [], active: true }
      return
    case 'member.remove': {
      const m = state.members[args.name as string]!
      m.active = false
      m.revokedKeys = [...m.revokedKeys, ...m.keys].sort()
      m.keys = []
      return
    }
    case 'member.roles':
      state.members[args.name as string]!.roles = args.roles as string[]
      return
    case 'key.add': {
      const m = state.members[args.member as string]!
      m.keys = [...m.keys, args.key as string].sort()
      return
    }
    case 'key.revoke': {
      const m = state.members[args.member as string]!
      m.keys = m.keys.filter((k) => k !== args.key)
      m.revokedKeys = [...m.revokedKeys, args.key as string].sort()
      return
    }
    case 'policy.set': {
      state.policy = args.policy as unknown as GovState['policy']
      for (const flag of Object.keys(state.policy.flags)) state.flags[flag] ??= false
      return
    }
    case 'flag.set':
      state.flags[args.flag as string] = args.value as boolean
      return
    case 'register.append':
      state.registers[args.register as RegisterName].push(args.entry as never)
      return
    case 'vault.settings':
      state.settings = { ...state.settings, ...(args.settings as Record<string, Json>) }
      if (typeof state.settings.name === 'string') state.name = state.settings.name
      return
  }
}
