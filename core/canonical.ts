/**
 * Canonical JSON (RFC 8785 style): the one byte encoding that is signed and hashed.
 * Object keys sorted by UTF-16 code units, no whitespace, ECMAScript number and
 * string serialisation. Defined here once; nothing else in Tresor serialises
 * signed data.
 */
import { MALFORMED, NON_CANONICAL, OVERSIZED, TOO_DEEP } from './errors.js'
import { LIMITS } from './limits.js'

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/** Encode a JSON value canonically. Throws MALFORMED for values JSON cannot carry. */
export function canonicalize(value: unknown, maxDepth: number = LIMITS.maxDepth): string {
  return encode(value, 0, maxDepth)
}

function encode(value: unknown, depth: number, maxDepth: number): string {
  if (value === null) return 'null'
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false'
    case 'string':
      if (!value.isWellFormed())
        throw MALFORMED('text holds a lone UTF-16 surrogate: not well-formed Unicode, so it is never signed')
      return JSON.stringify(value)
    case 'number':
      if (!Number.isFinite(value)) throw MALFORMED('canonical JSON cannot carry a non-finite number')
      return JSON.stringify(value)
    case 'object': {
      if (depth >= maxDepth) throw TOO_DEEP(`nesting deeper than ${maxDepth}`)
      if (Array.isArray(value)) return '[' + value.map((v) => encode(v, depth + 1, maxDepth)).join(',') + ']'
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) throw MALFORMED('canonical JSON carries plain objects only')
      const obj = value as Record<string, unknown>
      const keys = Object.keys(obj).sort(compareUtf16)
      const parts: string[] = []
      for (const key of keys) {
        if (!key.isWellFormed()) throw MALFORMED('a key holds a lone UTF-16 surrogate: not well-formed Unicode')
        if (obj[key] === undefined) throw MALFORMED(`undefined value at key ${JSON.stringify(key)}`)
        parts.push(JSON.stringify(key) + ':' + encode(obj[key], depth + 1, maxDepth))
      }
      return '{' + parts.join(',') + '}'
    }
    default:
      throw MALFORMED(`canonical JSON cannot carry a ${typeof value}`)
  }
}

function compareUtf16(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * Parse untrusted JSON text with the size and depth limits checked before
 * JSON.parse runs, so a hostile input cannot exhaust the stack or memory.
 */
export function parseBounded(
  text: string,
  maxBytes: number = LIMITS.maxEventBytes,
  maxDepth: number = LIMITS.maxDepth
): Json {
  checkSize(text, maxBytes)
  checkDepth(text, maxDepth)
  return parseJson(text)
}

function checkSize(text: string, maxBytes: number): void {
  if (typeof text !== 'string') throw MALFORMED('expected JSON text')
  // UTF-8 length is at most 3 bytes per UTF-16 unit: short text needs no exact count.
  if (text.length * 3 > maxBytes && (text.length > maxBytes || Buffer.byteLength(text, 'utf8') > maxBytes)) {
    throw OVERSIZED(`input is larger than ${maxBytes} bytes`)
  }
}

function parseJson(text: string): Json {
  try {
    return JSON.parse(text) as Json
  } catch (err) {
    throw MALFORMED(`invalid JSON: ${(err as Error).message}`)
  }
}

/**
 * Parse and insist the text is already in canonical form (no second spelling of signed bytes). The same verdicts
 * as parseBounded then canonicalize, in one walk for canonical text: the nesting limit is checked while the keys'
 * order is (V8's JSON.parse does not recurse, so deep text cannot exhaust the stack before the walk sees it), and
 * any text that fails is judged again the long way, depth first, so which error a bad input gets does not change.
 */
export function parseCanonical(
  text: string,
  maxBytes: number = LIMITS.maxEventBytes,
  maxDepth: number = LIMITS.maxDepth
): Json {
  checkSize(text, maxBytes)
  let value: Json
  try {
    value = parseJson(text)
    // Fast path: JSON.stringify spells strings and numbers as RFC 8785 does and keeps
    // the parsed key order, so equal text plus sorted keys everywhere is canonical.
    // Objects with integer-like keys (which JS reorders) take the full re-encoding.
    if (JSON.stringify(value) === text && keysSorted(value, 0, maxDepth)) return value
  } catch (err) {
    checkDepth(text, maxDepth)
    throw err
  }
  checkDepth(text, maxDepth)
  if (canonicalize(value, maxDepth) !== text) throw NON_CANONICAL('bytes are not in canonical JSON form')
  return value
}

/**
 * Keys sorted everywhere, containers nested at most `maxDepth` deep, and every string well-formed Unicode (no lone
 * surrogates; JSON escapes can carry them).
 */
function keysSorted(value: Json, depth: number, maxDepth: number): boolean {
  if (typeof value === 'string') {
    if (!value.isWellFormed()) throw MALFORMED('text holds a lone UTF-16 surrogate: not well-formed Unicode')
    return true
  }
  if (typeof value !== 'object' || value === null) return true
  if (depth >= maxDepth) throw TOO_DEEP(`nesting deeper than ${maxDepth}`)
  if (Array.isArray(value)) {
    for (const v of value) if (!keysSorted(v, depth + 1, maxDepth)) return false
    return true
  }
  let prev: string | null = null
  for (const key in value) {
    if (!key.isWellFormed()) throw MALFORMED('a key holds a lone UTF-16 surrogate: not well-formed Unicode')
    if (prev !== null && !(prev < key)) return false
    if (!keysSorted(value[key]!, depth + 1, maxDepth)) return false
    prev = key
  }
  return true
}

function checkDepth(text: string, maxDepth: number): void {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c)
        i++ // skip the escaped character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) {
      inString = true
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) throw TOO_DEEP(`nesting deeper than ${maxDepth}`)
    } else if (c === 0x7d || c === 0x5d) {
      depth--
    }
  }
}
