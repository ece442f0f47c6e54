/**
 * What a proposal changes, for people: a title and before → after lines for
 * every action kind, read against the governed state as it is now. The CLI's
 * `show`/`approve`/`commit` and the app's proposal screen say the same thing
 * from this one module; so do the screens that print readings (a stream's
 * field units) and times (how far from now). Pure (it reads types,
 * core/settings.ts and core/dict.ts only), so the renderer may run it. Names
 * and values come from members: they are shown as text, never interpreted.
 */
import type { GovState } from './governance/state.js'
import type { RegisterEntry, StreamEntry } from './governance/registers.js'
import { formatSetting, settingProblem, settingSpec } from './settings.js'
import { own } from './dict.js'

export interface Change {
  what: string
  before: string
  after: string
}

export interface Review {
  title: string
  changes: Change[]
}

type Args = { [key: string]: unknown }
const NONE = '—'
const short = (key: unknown) => (typeof key === 'string' && key.length > 16 ? `${key.slice(0, 12)}…` : String(key))
const list = (xs: unknown) => (Array.isArray(xs) && xs.length > 0 ? xs.map(String).join(', ') : NONE)
const text = (v: unknown) => (typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v)))

function settingText(name: string, v: unknown): string {
  if (settingProblem(name, v) !== null) return `${text(v)} (not a valid value: it can never take effect)`
  return formatSetting(name, v as number)
}

function fieldsText(fields: unknown): string {
  if (typeof fields !== 'object' || fields === null) return NONE
  return Object.entries(fields as Args)
    .map(([name, f]) => {
      if (typeof f === 'string') return `${name}: ${f}`
      const spec = f as { type?: unknown; required?: unknown; unit?: unknown }
      const unit = typeof spec.unit === 'string' ? ` in ${spec.unit}` : ''
      return `${name}: ${String(spec.type)}${spec.required === false ? '?' : ''}${unit}`
    })
    .join(', ')
}

function registerReview(state: GovState, a: Args): Review {
  const entry = (a.entry ?? {}) as Args
  switch (a.register) {
    case 'ledger': {
      const postings = Array.isArray(entry.postings) ? (entry.postings as Args[]) : []
      return {
        title: `add ledger entry ${text(entry.id)}: ${text(entry.memo)}`,
        changes: postings.map((p) => ({
          what: `${text(p.side)} ${text(p.account)}`,
          before: NONE,
          after: `${(Number(p.amount) / 100).toFixed(2)} ${text(p.currency)}`
        }))
      }
    }
    case 'streams': {
      const stream = text(entry.stream)
      const held = (state.registers.streams as { stream: string; version: number; fields: unknown }[]).filter(
        (s) => s.stream === stream
      )
      const latest = held.sort((x, y) => y.version - x.version)[0]
      return {
        title: `register stream ${stream}, schema version ${text(entry.version)}`,
        changes: [
          {
            what: `fields of ${stream}`,
            before: latest ? `v${latest.version}: ${fieldsText(latest.fields)}` : 'not registered',
            after: `v${text(entry.version)}: ${fieldsText(entry.fields)}`
          }
        ]
      }
    }
    case 'company': {
      const owners = Array.isArray(entry.owners) ? (entry.owners as Args[]) : []
      return {
        title: `add company ${text(entry.name)} (${text(entry.id)})`,
        changes: owners.map((o) => ({
          what: `owner ${text(o.owner)}`,
          before: NONE,
          after: `${Number(o.shareBp) / 100}%`
        }))
      }
    }
    case 'network':
      return {
        title: `add network node ${text(entry.label)} (${text(entry.id)})`,
        changes: [{ what: 'parent', before: NONE, after: entry.parent === null ? 'none (a root)' : text(entry.parent) }]
      }
    default:
      return {
        title: `append to the ${text(a.register)} register`,
        changes: [{ what: 'entry', before: NONE, after: text(entry) }]
      }
  }
}

/** Title and before → after lines of `action` against `state` as it is now. */
export function reviewAction(state: GovState, action: { kind: string; args: Args }): Review {
  const a = action.args
  const member = own(state.members, String(a.name ?? a.member ?? ''))
  switch (action.kind) {
    case 'flag.set': {
      const flag = String(a.flag)
      const now = own(state.flags, flag) === true
      return {
        title: `switch ${flag} ${a.value === true ? 'on' : 'off'}`,
        changes: [{ what: flag, before: now ? 'on' : 'off', after: a.value === true ? 'on' : 'off' }]
      }
    }
    case 'vault.settings': {
      const settings = (a.settings ?? {}) as Args
      return {
        title: `change ${Object.keys(settings).length === 1 ? 'a setting' : `${Object.keys(settings).length} settings`}`,
        changes: Object.entries(settings).map(([name, v]) => {
          const spec = settingSpec(name)
          const held = own(state.settings as Args, name)
          return {
            what: spec ? `${name} (${spec.label})` : `${name} (not a setting of this vault)`,
            before: spec
              ? settingText(name, held === undefined ? spec.dflt : held) + (held === undefined ? ' (default)' : '')
              : NONE,
            after: spec ? settingText(name, v) : text(v)
          }
        })
      }
    }
    case 'doc.migrate': {
      const zip = (a.zip ?? {}) as Args
      const plan = (a.plan ?? {}) as Args
      const c = (a.counts ?? {}) as Args
      return {
        title: `migrate ${text(zip.name)} (batch ${text(a.batch)}): ${text(plan.files)} file(s)`,
        changes: [
          { what: 'current (MIG_A)', before: NONE, after: `${text(c.MIG_A)} document(s)` },
          { what: 'to review (MIG_B)', before: NONE, after: `${text(c.MIG_B)} file(s)` },
          { what: 'legacy (MIG_C)', before: NONE, after: `${text(c.MIG_C)} file(s), archived` },
          { what: 'refused', before: NONE, after: `${text(c.refused)} entr${Number(c.refused) === 1 ? 'y' : 'ies'}` }
        ]
      }
    }
    case 'doc.lifecycle':
      return {
        title: `${text(a.doc)}: ${text(a.from ?? 'no lifecycle')} → ${text(a.to)}`,
        changes: [{ what: `lifecycle of ${text(a.doc)}`, before: text(a.from ?? NONE), after: text(a.to) }]
      }
    case 'doc.version':
      return {
        title: `new version ${text(a.version)} of ${text(a.doc)}${a.readOnly === true ? ' (a READ-ONLY document: this proposal says so)' : ''}`,
        changes: [
          { what: 'version', before: NONE, after: `${text(a.version)}: ${text(a.path)}, ${text(a.size)} bytes` },
          { what: 'bytes (SHA-256)', before: NONE, after: text(a.digest) },
          ...(a.lifecycle ? [{ what: 'lifecycle', before: NONE, after: text(a.lifecycle) }] : [])
        ]
      }
    case 'doc.rules': {
      const r = (a.rules ?? {}) as Args
      const was = (state.docRules ?? null) as Args | null
      const p = (x: Args | null) => (x?.private ?? {}) as Args
      const moves = (t: unknown) =>
        Object.entries((t ?? {}) as Args)
          .map(([from, to]) => `${from} → ${list(to)}`)
          .join('; ') || NONE
      return {
        title: 'change the documents rules',
        changes: [
          {
            what: 'live lifecycles (MIG_A)',
            before: was ? list(was.live) : 'ACTIVE, PLANNED (default)',
            after: list(r.live)
          },
          {
            what: 'retired lifecycles (MIG_C)',
            before: was ? list(was.retired) : 'ARCHIVED, DEPRECATED, LEGACY, SUPERSEDED (default)',
            after: list(r.retired)
          },
          {
            what: 'lifecycle changes',
            before: was ? moves(was.transitions) : '(default)',
            after: moves(r.transitions)
          },
          { what: 'private domains', before: list(p(was).domains), after: list(p(r).domains) },
          { what: 'private paths', before: list(p(was).paths), after: list(p(r).paths) },
          {
            what: 'private classifications',
            before: was ? list(p(was).classifications) : 'CONFIDENTIAL, PRIVATE (default)',
            after: list(p(r).classifications)
          }
        ]
      }
    }
    case 'witness.policy': {
      const lines = (t: unknown) =>
        typeof t === 'string' && t.trim() !== ''
          ? t
              .split('\n')
              .map((l) => l.replace(/#.*$/, '').trim())
              .filter(Boolean)
              .join('; ')
          : 'none'
      return {
        title: String(a.policy).trim() === '' ? 'remove the witness policy' : 'set the witness policy',
        changes: [{ what: 'witness policy', before: lines(state.witnessPolicy), after: lines(a.policy) }]
      }
    }
    case 'member.add':
      return {
        title: `add member ${text(a.name)}`,
        changes: [
          { what: 'roles', before: NONE, after: list(a.roles) },
          { what: 'device keys', before: NONE, after: Array.isArray(a.keys) ? a.keys.map(short).join(', ') : NONE }
        ]
      }
    case 'member.remove':
      return {
        title: `remove member ${text(a.name)}`,
        changes: [
          { what: text(a.name), before: member ? `member (${list(member.roles)})` : 'not a member', after: 'removed' }
        ]
      }
    case 'member.roles':
      return {
        title: `change the roles of ${text(a.name)}`,
        changes: [{ what: 'roles', before: member ? list(member.roles) : NONE, after: list(a.roles) }]
      }
    case 'key.add':
      return {
        title: `add a device key for ${text(a.member)}`,
        changes: [
          { what: 'device keys', before: member ? list(member.keys.map(short)) : NONE, after: `+ ${short(a.key)}` }
        ]
      }
    case 'key.revoke':
      return {
        title: `revoke a device key of ${text(a.member)}`,
        changes: [
          { what: 'device keys', before: member ? list(member.keys.map(short)) : NONE, after: `− ${short(a.key)}` }
        ]
      }
    case 'policy.set': {
      const next = (a.policy ?? {}) as { actions?: Args; flags?: Args }
      const changes: Change[] = []
      for (const part of ['actions', 'flags'] as const) {
        const before = (state.policy[part] ?? {}) as Args
        const after = (next[part] ?? {}) as Args
        for (const k of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) {
          const b = own(before, k)
          const n = own(after, k)
          if (JSON.stringify(b) !== JSON.stringify(n))
            changes.push({
              what: `${part === 'actions' ? 'rule' : 'gate'} ${k}`,
              before: b === undefined ? NONE : text(b),
              after: n === undefined ? 'removed' : text(n)
            })
        }
      }
      return { title: 'change the policy', changes }
    }
    case 'register.append':
      return registerReview(state, a)
    default:
      return { title: action.kind, changes: [{ what: 'arguments', before: NONE, after: text(a) }] }
  }
}

/** Each field's unit as the newest registered schema version of `stream` names it (a field without one is absent). */
export function fieldUnits(streams: readonly RegisterEntry[], stream: string): Map<string, string> {
  const units = new Map<string, string>()
  const newest = (streams as StreamEntry[])
    .filter((e) => e.stream === stream)
    .sort((a, b) => b.version - a.version)
    .at(0)
  for (const [name, spec] of Object.entries(newest?.fields ?? {})) if (spec.unit) units.set(name, spec.unit)
  return units
}

/** In from now, or ago: "in 7 days", "3 h ago". */
export function relativeTime(ms: number): string {
  const abs = Math.abs(ms)
  const [n, unit] =
    abs >= 86_400_000 ? [abs / 86_400_000, 'day'] : abs >= 3_600_000 ? [abs / 3_600_000, 'h'] : [abs / 60_000, 'min']
  const r = Math.round(n)
  const text = unit === 'day' ? `${r} day${r === 1 ? '' : 's'}` : `${r} ${unit}`
  return ms >= 0 ? `in ${text}` : `${text} ago`
}
