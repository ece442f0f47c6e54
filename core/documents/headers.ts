/**
 * Document headers, as the planning notes write them (issue 17):
 *   - YAML front matter: a first line `---`, YAML, a line `---` (fields such
 *     as id, title, version, domain, lifecycle, authority, mode, scope)
 *   - the migration header comment `<!-- OS4_MIGRATION_HEADER_V2 … -->` with
 *     `KEY: value` lines (BATCH, ID, DATE, SCOPE, STATUS, NOTES)
 * Parsing is bounded and never evaluates anything: YAML aliases are refused,
 * only the first 64 KiB are read, values are kept as short text. Field names
 * come from the file, so they live in a null-prototype record.
 */
import { dict, type Dict } from '../dict.js'
import { lazyPackage } from '../lazy.js'

const yaml = lazyPackage<typeof import('yaml')>('yaml')

export type HeaderKind = 'front-matter' | 'migration-header'

export interface DocumentHeader {
  kind: HeaderKind
  /** Every field as text (lower-case names), at most 64 fields of at most 1,000 characters. */
  fields: Dict<string>
  /** The fields a document is known by, where the header has them. */
  id: string | null
  version: string | null
  lifecycle: string | null
  domain: string | null
  title: string | null
  mode: string | null
}

const MAX_HEADER = 64 * 1024
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/

function text(v: unknown): string | null {
  if (v === null || v === undefined) return null
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v).slice(0, 1000)
  if (Array.isArray(v))
    return v
      .map((x) => text(x) ?? '')
      .join('\n')
      .slice(0, 1000)
  return null // nested maps are not header fields
}

function header(kind: HeaderKind, raw: Record<string, unknown>): DocumentHeader | null {
  const fields = dict<string>()
  for (const [k, v] of Object.entries(raw).slice(0, 64)) {
    const t = text(v)
    if (t !== null && /^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(k)) fields[k.toLowerCase()] = t
  }
  if (Object.keys(fields).length === 0) return null
  const f = (name: string) => (Object.prototype.hasOwnProperty.call(fields, name) ? fields[name]!.trim() : null)
  const id = f('id')
  return {
    kind,
    fields,
    id: id && ID_RE.test(id) ? id : null,
    version: f('version') ?? f('date'),
    lifecycle: (f('lifecycle') ?? f('status'))?.toUpperCase() ?? null,
    domain: f('domain') ?? f('scope'),
    title: f('title'),
    mode: f('mode')?.toUpperCase() ?? null
  }
}

/** The header of a text document, or null when it has none (or it does not read). */
export function parseHeader(content: string): DocumentHeader | null {
  const head = content.slice(0, MAX_HEADER).replace(/^\uFEFF/, '')
  const fm = /^---\r?\n([\s\S]*?)\r?\n---\s*(?:\r?\n|$)/.exec(head)
  if (fm) {
    try {
      const y = yaml().parse(fm[1]!, { maxAliasCount: 0, prettyErrors: false }) as unknown
      if (typeof y === 'object' && y !== null && !Array.isArray(y))
        return header('front-matter', y as Record<string, unknown>)
    } catch {
      return null // front matter that is not YAML: no header (the file is classified as needing review)
    }
    return null
  }
  const mh = /^\s*<!--\s*\r?\n?\s*OS4_MIGRATION_HEADER_V2\s*\r?\n([\s\S]*?)-->/.exec(head)
  if (mh) {
    const raw: Record<string, unknown> = Object.create(null)
    for (const line of mh[1]!.split(/\r?\n/)) {
      const m = /^\s*([A-Za-z][A-Za-z0-9_-]*)\s*:\s*(.*?)\s*$/.exec(line)
      if (m) raw[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1')
    }
    return header('migration-header', raw)
  }
  return null
}
