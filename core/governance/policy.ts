/**
 * Policy: who must approve what. Quorums count distinct members, never keys.
 *
 * A rule has a minimum number of distinct signers (the proposer plus the
 * approvers; never below 2, so the proposer alone never suffices) and role
 * clauses, each satisfied by approvers other than the proposer (maker-checker:
 * the checker is never the maker).
 */
import { BAD_ARGUMENT } from '../errors.js'
import { dict, dictFrom, own, type Dict } from '../dict.js'

export interface RoleClause {
  role: string
  count: number
}
export interface Rule {
  minMembers: number
  clauses: RoleClause[]
}
export interface FlagGate extends Rule {
  criterion: string
}

export const ACTION_KINDS = [
  'member.add',
  'member.remove',
  'member.roles',
  'key.add',
  'key.revoke',
  'policy.set',
  'flag.set',
  'register.append',
  'vault.settings',
  'witness.policy',
  'doc.migrate',
  'doc.lifecycle',
  'doc.version',
  'doc.rules'
] as const
export type ActionKind = (typeof ACTION_KINDS)[number]

export interface Policy {
  /** Rule per action kind; kinds without an entry use `default`. */
  default: Rule
  actions: Dict<Rule>
  /** Gates of feature flags: a flag.set proposal must satisfy its flag's gate and the flag.set rule. */
  flags: Dict<FlagGate>
}

const gate = (criterion: string, ...roles: string[]): FlagGate => ({
  criterion,
  minMembers: 2,
  clauses: roles.map((role) => ({ role, count: 1 }))
})

/** The planning notes' gates (phases A-I), as the default template. */
export const DEFAULT_FLAG_GATES: Record<string, FlagGate> = {
  finance_enabled: gate('Ledger tests and audit proof exist', 'operator'),
  corepay_enabled: gate('Payment simulation succeeded', 'operator', 'chain'),
  proof_anchoring_enabled: gate('Hash/anchor logs validated', 'auditor'),
  enablement_enabled: gate('Company enablement endpoints active', 'operator'),
  marketplace_enabled: gate('Orders → fulfillment → proof', 'operator'),
  network_enabled: gate('Commission reversals plus audit proof', 'operator', 'chain'),
  reputation_enabled: gate('Review proofs work', 'operator'),
  avatars_enabled: gate('Avatar orders auditable', 'operator'),
  streaming_enabled: gate('Metering plus proof chain', 'operator')
}

/** Dual authorization everywhere by default: the proposer and one other member. */
export function defaultPolicy(): Policy {
  return {
    default: { minMembers: 2, clauses: [] },
    actions: dict(),
    flags: dictFrom(structuredClone(DEFAULT_FLAG_GATES))
  }
}

const ROLE_RE = /^[a-z][a-z0-9_-]{0,31}$/
const FLAG_RE = /^[a-z][a-z0-9_]{0,63}$/

function checkRule(rule: unknown, where: string): Rule {
  const r = rule as Rule
  if (typeof r !== 'object' || r === null) throw BAD_ARGUMENT(`${where}: a rule is {minMembers, clauses}`)
  if (!Number.isSafeInteger(r.minMembers) || r.minMembers < 2 || r.minMembers > 100) {
    throw BAD_ARGUMENT(`${where}: minMembers must be 2-100 (the proposer alone never suffices)`)
  }
  if (!Array.isArray(r.clauses) || r.clauses.length > 16) throw BAD_ARGUMENT(`${where}: clauses must be a list`)
  for (const c of r.clauses) {
    if (
      typeof c !== 'object' ||
      c === null ||
      !ROLE_RE.test(c.role) ||
      !Number.isSafeInteger(c.count) ||
      c.count < 1 ||
      c.count > 100
    ) {
      throw BAD_ARGUMENT(`${where}: each clause is {role, count >= 1}`)
    }
  }
  return { minMembers: r.minMembers, clauses: r.clauses.map((c) => ({ role: c.role, count: c.count })) }
}

/** Validate a whole policy (genesis or policy.set); returns a normalised copy. */
export function checkPolicy(value: unknown): Policy {
  const p = value as Policy
  if (typeof p !== 'object' || p === null || Array.isArray(p)) throw BAD_ARGUMENT('policy must be an object')
  const record = (v: unknown, where: string): [string, unknown][] => {
    if (v === undefined) return []
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw BAD_ARGUMENT(`${where} must be an object`)
    const entries = Object.entries(v)
    if (entries.length > 64) throw BAD_ARGUMENT(`${where} has at most 64 entries`)
    return entries
  }
  const actions = dict<Rule>()
  for (const [kind, rule] of record(p.actions, 'policy.actions')) {
    if (!(ACTION_KINDS as readonly string[]).includes(kind))
      throw BAD_ARGUMENT(`policy: unknown action kind ${kind.slice(0, 40)}`)
    actions[kind] = checkRule(rule, `policy.actions.${kind}`)
  }
  const flags = dict<FlagGate>()
  for (const [flag, g] of record(p.flags, 'policy.flags')) {
    if (!FLAG_RE.test(flag)) throw BAD_ARGUMENT(`policy: bad flag name ${flag.slice(0, 40)}`)
    const rule = checkRule(g, `policy.flags.${flag}`)
    const criterion = (g as FlagGate).criterion
    if (typeof criterion !== 'string' || criterion.length === 0 || criterion.length > 500)
      throw BAD_ARGUMENT(`policy.flags.${flag}: criterion must be a sentence`)
    flags[flag] = { criterion, ...rule }
  }
  return { default: checkRule(p.default, 'policy.default'), actions, flags }
}

export function isValidRole(role: unknown): role is string {
  return typeof role === 'string' && ROLE_RE.test(role)
}

export function isValidFlag(flag: unknown): flag is string {
  return typeof flag === 'string' && FLAG_RE.test(flag)
}

/** The rules a proposal must satisfy: the action's rule, plus the flag's gate for flag.set. */
export function rulesFor(policy: Policy, kind: ActionKind, args: { [key: string]: unknown }): Rule[] {
  const rules = [own(policy.actions, kind) ?? policy.default]
  if (kind === 'flag.set') {
    const g = own(policy.flags, String(args.flag))
    if (g) rules.push(g)
  }
  return rules
}

export interface Signer {
  member: string
  roles: string[]
}

/**
 * What is still missing for `rules`, as sentences ("needs 1 more approval from
 * role chain"); empty when the quorum is met. `approvers` are the distinct
 * members other than the proposer whose approvals count. `proposerCounts`
 * is false once the proposer is no longer an active member.
 */
export function missingApprovals(
  rules: Rule[],
  proposer: string,
  approvers: Signer[],
  proposerCounts = true
): string[] {
  const missing: string[] = []
  const checkers = approvers.filter((a) => a.member !== proposer)
  const distinct = new Set([...(proposerCounts ? [proposer] : []), ...checkers.map((a) => a.member)]).size
  const need = Math.max(...rules.map((r) => r.minMembers))
  if (distinct < need) {
    missing.push(
      checkers.length === 0
        ? `needs ${need - distinct} approval(s) from members other than the proposer`
        : `needs ${need - distinct} more approval(s) from distinct members`
    )
  }
  for (const rule of rules) {
    for (const clause of rule.clauses) {
      const have = checkers.filter((a) => a.roles.includes(clause.role)).length
      if (have < clause.count) missing.push(`needs ${clause.count - have} more approval(s) from role ${clause.role}`)
    }
  }
  return [...new Set(missing)]
}

/** A member whose rejection ends a proposal: a checker who could have approved it. */
export function isEligibleChecker(rules: Rule[], proposer: string, signer: Signer): boolean {
  if (signer.member === proposer) return false
  const roles = rules.flatMap((r) => r.clauses.map((c) => c.role))
  return roles.length === 0 || signer.roles.some((r) => roles.includes(r))
}
