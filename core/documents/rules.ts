/**
 * The documents rules: a governed setting (action `doc.rules`), absent from the state while the defaults hold.
 *   live / retired   the lifecycles a migration classes as current (MIG_A) or legacy (MIG_C); any other is MIG_B
 *   transitions      which lifecycle changes (`doc.lifecycle`) are allowed from each lifecycle
 *   private          which documents never leave for the Git mirror: by domain, by path pattern (`*` within a folder,
 *                    `**` across folders) or by their header's `classification` field
 * Lifecycle and classification names are upper case; the names come from files and people, so every record keyed
 * by one is a null-prototype Dict.
 */
import type { Json } from '../canonical.js'
import { BAD_ARGUMENT } from '../errors.js'
import { dictOf, own, type Dict } from '../dict.js'

export interface DocRules {
  live: string[]
  retired: string[]
  transitions: Dict<string[]>
  private: { domains: string[]; paths: string[]; classifications: string[] }
}

export const DEFAULT_DOC_RULES: Readonly<DocRules> = Object.freeze({
  live: ['ACTIVE', 'PLANNED'],
  retired: ['ARCHIVED', 'DEPRECATED', 'LEGACY', 'SUPERSEDED'],
  transitions: dictOf([
    ['PLANNED', ['ACTIVE', 'ARCHIVED']],
    ['ACTIVE', ['ARCHIVED', 'SUPERSEDED']],
    ['SUPERSEDED', ['ARCHIVED']],
    ['DEPRECATED', ['ARCHIVED']],
    ['LEGACY', ['ARCHIVED']]
  ]),
  private: { domains: [], paths: [], classifications: ['CONFIDENTIAL', 'PRIVATE'] }
})

const NAME_RE = /^[A-Z][A-Z0-9_-]{0,31}$/

function names(v: unknown, what: string, max = 32): string[] {
  if (!Array.isArray(v) || v.length > max || !v.every((x) => typeof x === 'string' && NAME_RE.test(x)))
    throw BAD_ARGUMENT(`${what}: at most ${max} upper-case names like ACTIVE`)
  return [...new Set(v as string[])].sort()
}

function texts(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || v.length > 64 || !v.every((x) => typeof x === 'string' && x.length > 0 && x.length <= 200))
    throw BAD_ARGUMENT(`${what}: at most 64 texts of 1-200 characters`)
  return [...new Set(v as string[])].sort()
}

/** A `doc.rules` action's rules, checked and normalised (sorted, no repeats). */
export function checkDocRules(v: unknown): DocRules {
  const r = (typeof v === 'object' && v !== null && !Array.isArray(v) ? v : null) as Record<string, unknown> | null
  if (!r) throw BAD_ARGUMENT('rules: {live, retired, transitions, private}')
  const live = names(r.live, 'rules.live')
  const retired = names(r.retired, 'rules.retired')
  if (live.length === 0) throw BAD_ARGUMENT('rules.live names at least one lifecycle')
  const both = live.find((l) => retired.includes(l))
  if (both) throw BAD_ARGUMENT(`${both} cannot be both live and retired`)
  const known = new Set([...live, ...retired])
  const t = r.transitions
  if (typeof t !== 'object' || t === null || Array.isArray(t)) throw BAD_ARGUMENT('rules.transitions: {FROM: [TO…]}')
  const entries = Object.entries(t)
  if (entries.length > 64) throw BAD_ARGUMENT('rules.transitions: at most 64 lifecycles')
  const transitions = dictOf(
    entries
      .map(([from, to]): [string, string[]] => {
        if (!known.has(from)) throw BAD_ARGUMENT(`rules.transitions: ${from.slice(0, 40)} is neither live nor retired`)
        const list = names(to, `rules.transitions.${from}`)
        const bad = list.find((x) => !known.has(x) || x === from)
        if (bad) throw BAD_ARGUMENT(`rules.transitions.${from}: ${bad} is not another known lifecycle`)
        return [from, list]
      })
      .sort(([a], [b]) => (a < b ? -1 : 1))
  )
  const p = (r.private ?? {}) as Record<string, unknown>
  const paths = texts(p.paths ?? [], 'rules.private.paths')
  for (const x of paths) globRe(x)
  return {
    live,
    retired,
    transitions,
    private: {
      domains: texts(p.domains ?? [], 'rules.private.domains'),
      paths,
      classifications: names(p.classifications ?? [], 'rules.private.classifications')
    }
  }
}

/** The rules in force. */
export const docRulesOf = (state: { docRules?: DocRules }): DocRules => state.docRules ?? DEFAULT_DOC_RULES

/** The rules as action args (JSON; the transitions stay a null-prototype record). */
export const docRulesJson = (r: DocRules): Json => r as unknown as Json

function globRe(pattern: string): RegExp {
  if (pattern.startsWith('/') || pattern.split('/').includes('..'))
    throw BAD_ARGUMENT(`rules.private.paths: ${pattern.slice(0, 40)} is a path inside the archive, like notes/**`)
  const body = pattern
    .split('**')
    .map((part) =>
      part
        .split('*')
        .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('[^/]*')
    )
    .join('.*')
  return new RegExp(`^${body}$`, 'u')
}

/** Why a document is private under these rules, or null when it may go to the Git mirror. */
export function privateBecause(
  f: { path: string; domain: string | null; classification?: string | null },
  rules: DocRules
): string | null {
  if (f.domain && rules.private.domains.includes(f.domain)) return `domain ${f.domain} is private`
  const c = f.classification?.toUpperCase()
  if (c && rules.private.classifications.includes(c)) return `classified ${c}`
  const p = rules.private.paths.find((x) => globRe(x).test(f.path))
  return p ? `path matches ${p}` : null
}

/** Can a document go from lifecycle `from` to `to` under these rules? The reason when not. */
export function transitionProblem(rules: DocRules, from: string | null, to: string): string | null {
  if (![...rules.live, ...rules.retired].includes(to)) return `${to} is not a lifecycle the rules know`
  if (from === to) return `the document is ${to} already`
  if (from === null) return null // a document without a lifecycle may take any known one
  const allowed = own(rules.transitions, from)
  if (!allowed) return `the rules allow no change from ${from}`
  return allowed.includes(to) ? null : `the rules allow ${from} → ${allowed.join(' or ')}, not ${to}`
}
