/**
 * Names in what core sends (members, flags, settings, streams, fields,
 * accounts) are data. Every object that arrives is rebuilt with a null
 * prototype, so a flag or stream named `constructor` or `__proto__` is just
 * a key here too; `own` reads a record that may not have been rebuilt.
 * (The renderer imports core as types only, so this mirrors core/dict.ts.)
 */
export function nullProto<T>(value: T): T {
  if (Array.isArray(value)) return value.map(nullProto) as T
  if (typeof value !== 'object' || value === null) return value
  const out = Object.create(null) as Record<string, unknown>
  for (const [k, v] of Object.entries(value)) out[k] = nullProto(v)
  return out as T
}

export function own<T>(record: { [name: string]: T } | null | undefined, name: string): T | undefined {
  return record && Object.prototype.hasOwnProperty.call(record, name) ? record[name] : undefined
}

/** A copy of `record` with `name` set, still without a prototype. */
export function withEntry<T>(record: { [name: string]: T }, name: string, value: T): { [name: string]: T } {
  const out = Object.assign(Object.create(null) as { [name: string]: T }, record)
  out[name] = value
  return out
}
