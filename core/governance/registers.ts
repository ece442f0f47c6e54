/**
 * Append-only governed registers. Entries are validated here; they enter a
 * register only through a committed `register.append` proposal. The ledger is
 * double-entry: per currency, an entry's debits equal its credits. Balances
 * are a view computed from the entries.
 */
import { BAD_ARGUMENT } from '../errors.js'
import { dict, own, type Dict } from '../dict.js'

export const REGISTERS = ['company', 'ledger', 'network', 'streams'] as const
export type RegisterName = (typeof REGISTERS)[number]

/** The flag a register's module needs switched on. */
export const REGISTER_FLAGS: { readonly [name in RegisterName]: string } = {
  company: 'finance_enabled',
  ledger: 'finance_enabled',
  network: 'network_enabled',
  streams: 'streaming_enabled'
}

export interface Posting {
  account: string
  side: 'debit' | 'credit'
  amount: number
  currency: string
}
export interface LedgerEntry {
  id: string
  memo: string
  postings: Posting[]
}
export interface CompanyEntry {
  id: string
  name: string
  owners: { owner: string; shareBp: number }[]
}
export interface NetworkEntry {
  id: string
  parent: string | null
  label: string
}
export type FieldType = 'number' | 'integer' | 'string' | 'boolean'
export interface FieldSpec {
  type: FieldType
  required: boolean
  /** What the values measure in (°C, kPa, m³/h): printed beside them; absent where the schema names none. */
  unit?: string
}
/** A telemetry stream's schema, one entry per version (`id` is `<stream>:<version>`): readings must match it. */
export interface StreamEntry {
  id: string
  stream: string
  version: number
  fields: Dict<FieldSpec>
}
export type RegisterEntry = LedgerEntry | CompanyEntry | NetworkEntry | StreamEntry

export const STREAM_RE = /^[a-z0-9][a-z0-9_.-]{0,63}$/
const FIELD_RE = /^[a-zA-Z][a-zA-Z0-9_]{0,31}$/
const FIELD_TYPES: readonly FieldType[] = ['number', 'integer', 'string', 'boolean']
/** A unit is short text: letters, digits (³ too), currency signs, % ° ‰ / · * ^ . _ - and spaces; no markup. */
const UNIT_RE = /^[\p{L}\p{N}\p{Sc}%°‰/·*^._ -]{1,16}$/u

const ID_RE = /^[a-z0-9][a-z0-9_.:-]{0,63}$/
const CURRENCY_RE = /^[A-Z]{3}$/

function text(value: unknown, name: string, max = 200): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max)
    throw BAD_ARGUMENT(`${name} must be text of 1-${max} characters`)
  return value
}

function id(value: unknown, name: string): string {
  if (typeof value !== 'string' || !ID_RE.test(value))
    throw BAD_ARGUMENT(`${name} must be an id like acme-gmbh or 4711`)
  return value
}

function ledgerEntry(e: Record<string, unknown>): LedgerEntry {
  const postings = e.postings
  if (!Array.isArray(postings) || postings.length < 2 || postings.length > 100)
    throw BAD_ARGUMENT('a ledger entry has 2-100 postings')
  const sums = new Map<string, number>()
  const clean: Posting[] = postings.map((p: Record<string, unknown>, i) => {
    if (p?.side !== 'debit' && p?.side !== 'credit') throw BAD_ARGUMENT(`posting ${i + 1}: side is debit or credit`)
    if (!Number.isSafeInteger(p.amount) || (p.amount as number) <= 0)
      throw BAD_ARGUMENT(`posting ${i + 1}: amount is a positive whole number of minor units (cents)`)
    if (typeof p.currency !== 'string' || !CURRENCY_RE.test(p.currency))
      throw BAD_ARGUMENT(`posting ${i + 1}: currency is a code like EUR`)
    const posting: Posting = {
      account: id(p.account, `posting ${i + 1} account`),
      side: p.side,
      amount: p.amount as number,
      currency: p.currency
    }
    sums.set(
      posting.currency,
      (sums.get(posting.currency) ?? 0) + (posting.side === 'debit' ? posting.amount : -posting.amount)
    )
    return posting
  })
  for (const [currency, diff] of sums) {
    if (diff !== 0) throw BAD_ARGUMENT(`ledger entry does not balance in ${currency}: debits - credits = ${diff}`)
  }
  return { id: id(e.id, 'entry id'), memo: text(e.memo ?? '-', 'memo'), postings: clean }
}

function companyEntry(e: Record<string, unknown>): CompanyEntry {
  const owners = (e.owners ?? []) as { owner: unknown; shareBp: unknown }[]
  if (!Array.isArray(owners) || owners.length > 100) throw BAD_ARGUMENT('owners is a list')
  let total = 0
  const clean = owners.map((o, i) => {
    if (!Number.isSafeInteger(o?.shareBp) || (o.shareBp as number) <= 0)
      throw BAD_ARGUMENT(`owner ${i + 1}: shareBp is a share in basis points (1-10000)`)
    total += o.shareBp as number
    return { owner: id(o.owner, `owner ${i + 1}`), shareBp: o.shareBp as number }
  })
  if (total > 10_000) throw BAD_ARGUMENT('ownership shares add up to more than 100%')
  return { id: id(e.id, 'company id'), name: text(e.name, 'company name'), owners: clean }
}

function networkEntry(e: Record<string, unknown>): NetworkEntry {
  return {
    id: id(e.id, 'node id'),
    parent: e.parent === undefined || e.parent === null ? null : id(e.parent, 'parent'),
    label: text(e.label ?? e.id, 'label')
  }
}

/**
 * `{stream, version, fields: {celsius: 'number', note: 'string?'}}`: a trailing `?` marks an optional field; the
 * object form `{type: 'number', unit: '°C'}` (or `required: false`) names the unit too.
 */
function streamEntry(e: Record<string, unknown>): StreamEntry {
  if (typeof e.stream !== 'string' || !STREAM_RE.test(e.stream))
    throw BAD_ARGUMENT('stream must be a name like boiler.temp (lower case, digits, . _ -)')
  if (!Number.isSafeInteger(e.version) || (e.version as number) < 1 || (e.version as number) > 65535)
    throw BAD_ARGUMENT('schema version must be a whole number 1-65535')
  const given = e.fields as Record<string, unknown>
  if (typeof given !== 'object' || given === null || Array.isArray(given))
    throw BAD_ARGUMENT('fields must be an object like {"celsius": "number"}')
  const names = Object.keys(given)
  if (names.length === 0 || names.length > 64) throw BAD_ARGUMENT('a schema has 1-64 fields')
  const fields = dict<FieldSpec>()
  for (const name of names.sort()) {
    if (!FIELD_RE.test(name)) throw BAD_ARGUMENT(`field ${name.slice(0, 40)}: a name like celsius or flow_rate`)
    const spec = own(given, name)
    const text = typeof spec === 'string' ? spec : (spec as FieldSpec)?.type
    const required =
      !String(text).endsWith('?') && (typeof spec === 'string' || (spec as FieldSpec)?.required !== false)
    const type = String(text).replace(/\?$/, '') as FieldType
    if (!FIELD_TYPES.includes(type))
      throw BAD_ARGUMENT(`field ${name}: type is one of ${FIELD_TYPES.join(', ')} (optional with a trailing ?)`)
    const unit = typeof spec === 'object' && spec !== null ? (spec as { unit?: unknown }).unit : undefined
    if (unit !== undefined && (typeof unit !== 'string' || !UNIT_RE.test(unit) || unit.trim() !== unit))
      throw BAD_ARGUMENT(`field ${name}: a unit is 1-16 characters like °C, kPa or m³/h`)
    fields[name] = unit === undefined ? { type, required } : { type, required, unit }
  }
  return { id: `${e.stream}:${e.version as number}`, stream: e.stream, version: e.version as number, fields }
}

/** Validate an entry's own shape for `register` (nothing that depends on what the register holds). */
export function checkEntryShape(register: unknown, entry: unknown): { register: RegisterName; entry: RegisterEntry } {
  if (!(REGISTERS as readonly string[]).includes(register as string))
    throw BAD_ARGUMENT(`register must be one of ${REGISTERS.join(', ')}`)
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw BAD_ARGUMENT('entry must be an object')
  const name = register as RegisterName
  const e = entry as Record<string, unknown>
  const clean =
    name === 'ledger'
      ? ledgerEntry(e)
      : name === 'company'
        ? companyEntry(e)
        : name === 'streams'
          ? streamEntry(e)
          : networkEntry(e)
  return { register: name, entry: clean }
}

/** Whether a checked entry can be appended to the register as it stands (ids unique, network parents present). */
export function checkEntryFits(
  register: RegisterName,
  entry: RegisterEntry,
  existing: { [name in RegisterName]: RegisterEntry[] }
): void {
  if (existing[register].some((x) => x.id === entry.id))
    throw BAD_ARGUMENT(`${register} already has an entry ${entry.id} (registers are append-only)`)
  if (register === 'network') {
    const parent = (entry as NetworkEntry).parent
    if (parent !== null && !existing.network.some((x) => x.id === parent))
      throw BAD_ARGUMENT(`network has no node ${parent}`)
  }
}

/**
 * Balance per account and currency: debits minus credits, in minor units. Account names are data: null-prototype
 * records.
 */
export function ledgerBalances(entries: LedgerEntry[]): Dict<Dict<number>> {
  const out = dict<Dict<number>>()
  for (const e of entries) {
    for (const p of e.postings) {
      const acct = own(out, p.account) ?? (out[p.account] = dict<number>())
      acct[p.currency] = (own(acct, p.currency) ?? 0) + (p.side === 'debit' ? p.amount : -p.amount)
    }
  }
  return out
}
