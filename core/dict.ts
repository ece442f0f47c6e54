/**
 * Records keyed by names that came from outside (member, flag, setting,
 * account, stream and field names). They are null-prototype objects, so a
 * name like `constructor`, `toString` or `__proto__` is data, never a
 * property inherited from Object.prototype, and they still encode as plain
 * JSON (canonical JSON accepts them).
 */

export type Dict<T> = { [name: string]: T }

/** An empty null-prototype record. */
export function dict<T>(): Dict<T> {
  return Object.create(null) as Dict<T>
}

/** A null-prototype record from entries (later entries win). */
export function dictOf<T>(entries: Iterable<readonly [string, T]>): Dict<T> {
  const out = dict<T>()
  for (const [k, v] of entries) out[k] = v
  return out
}

/** A null-prototype copy of any record's own enumerable entries. */
export function dictFrom<T>(record: { [name: string]: T } | null | undefined): Dict<T> {
  return record ? dictOf(Object.entries(record)) : dict<T>()
}

/** The value for `name` only if it is the record's own property. */
export function own<T>(record: { [name: string]: T } | null | undefined, name: string): T | undefined {
  return record && Object.prototype.hasOwnProperty.call(record, name) ? record[name] : undefined
}

/** Whether `name` is the record's own property. */
export function hasOwn(record: object | null | undefined, name: string): boolean {
  return record !== null && record !== undefined && Object.prototype.hasOwnProperty.call(record, name)
}

/**
 * Deep copy of parsed JSON in which every object is a null-prototype record:
 * for data that crossed a process boundary (IPC, HTTP) before a view looks
 * names up in it.
 */
export function nullProtoDeep<T>(value: T): T {
  if (Array.isArray(value)) return value.map(nullProtoDeep) as T
  if (typeof value !== 'object' || value === null) return value
  const out = dict<unknown>()
  for (const [k, v] of Object.entries(value)) out[k] = nullProtoDeep(v)
  return out as T
}
