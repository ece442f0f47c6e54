import { describe, expect, it } from 'vitest'
import { canonicalize, parseBounded, parseCanonical } from '../core/canonical.js'
import { VaultError } from '../core/errors.js'

const codeOf = (fn: () => unknown) => {
  try {
    fn()
  } catch (e) {
    return (e as VaultError).code
  }
  return 'NO_ERROR'
}

describe('canonical', () => {
  it('canonical - sorts keys by UTF-16 code units and drops whitespace', () => {
    // RFC 8785 §3.2.3 ordering example: "\u20ac" (€) sorts before "\ud83d\ude00" by code unit, "\r" first.
    const value = { '\u20ac': 'Euro', '\r': 'CR', '\ud83d\ude00': 'Smiley', '1': 'One', b: [1, { z: true, a: null }] }
    expect(canonicalize(value)).toBe('{"\\r":"CR","1":"One","b":[1,{"a":null,"z":true}],"€":"Euro","😀":"Smiley"}')
  })

  it('canonical - numbers use the ECMAScript form', () => {
    expect(canonicalize([1e21, 0.1, -0, 1.5e-7, 100])).toBe('[1e+21,0.1,0,1.5e-7,100]')
  })

  it('canonical - values JSON cannot carry are refused', () => {
    expect(codeOf(() => canonicalize({ a: NaN }))).toBe('MALFORMED')
    expect(codeOf(() => canonicalize({ a: undefined }))).toBe('MALFORMED')
    expect(codeOf(() => canonicalize({ a: new Date(0) }))).toBe('MALFORMED')
    expect(codeOf(() => canonicalize({ a: 1n }))).toBe('MALFORMED')
  })

  it('canonical - a second spelling of the same value is NON_CANONICAL', () => {
    expect(parseCanonical('{"a":1,"b":2}')).toEqual({ a: 1, b: 2 })
    expect(codeOf(() => parseCanonical('{"b":2,"a":1}'))).toBe('NON_CANONICAL')
    expect(codeOf(() => parseCanonical('{"a": 1}'))).toBe('NON_CANONICAL')
    expect(codeOf(() => parseCanonical('{"a":1,"a":1}'))).toBe('NON_CANONICAL')
    expect(codeOf(() => parseCanonical('{"a":1.0}'))).toBe('NON_CANONICAL')
    expect(codeOf(() => parseCanonical('{"a":"\\u0041"}'))).toBe('NON_CANONICAL')
  })

  it('canonical - integer-like keys are ordered as strings, not as JavaScript orders them', () => {
    expect(canonicalize({ 9: 'a', 10: 'b', x: 1 })).toBe('{"10":"b","9":"a","x":1}')
    expect(parseCanonical('{"10":"b","9":"a","x":1}')).toEqual({ 9: 'a', 10: 'b', x: 1 })
    expect(codeOf(() => parseCanonical('{"9":"a","10":"b","x":1}'))).toBe('NON_CANONICAL')
  })

  it('canonical - depth is limited before parsing, so hostile nesting cannot crash', () => {
    const deep = '['.repeat(200_000) + ']'.repeat(200_000)
    expect(codeOf(() => parseBounded(deep, 10_000_000, 16))).toBe('TOO_DEEP')
    expect(codeOf(() => parseBounded('{"a":"[[[[[[[[[[[[[[[[[[[[[[["}', 1000, 2))).toBe('NO_ERROR')
  })

  it('canonical - parseCanonical judges deep text first, whatever else is wrong with it', () => {
    // The canonical check walks depth and key order in one pass; a text with several faults still gets TOO_DEEP.
    const nest = (inner: string) => '{"a":'.repeat(20) + inner + '}'.repeat(20)
    expect(codeOf(() => parseCanonical(nest('1'), 10_000, 16))).toBe('TOO_DEEP')
    // the other fault comes first in the text, the nesting after it
    expect(codeOf(() => parseCanonical(`{"b":1,"a":${nest('1')}}`, 10_000, 16))).toBe('TOO_DEEP') // unsorted
    expect(codeOf(() => parseCanonical(`{"a":"\\ud800","b":${nest('1')}}`, 10_000, 16))).toBe('TOO_DEEP') // lone surrogate
    expect(codeOf(() => parseCanonical(`{"a": 1,"b":${nest('1')}}`, 10_000, 16))).toBe('TOO_DEEP') // a space
    expect(codeOf(() => parseCanonical(`{"a":1.0,"b":${nest('1')}}`, 10_000, 16))).toBe('TOO_DEEP') // a second spelling
    expect(codeOf(() => parseCanonical(nest('{'), 10_000, 16))).toBe('TOO_DEEP') // not JSON
    expect(codeOf(() => parseCanonical('['.repeat(200_000) + ']'.repeat(200_000), 10_000_000, 16))).toBe('TOO_DEEP')
    // exactly at the limit: fine
    expect(parseCanonical(nest('1'), 10_000, 20)).toBeTruthy()
    expect(codeOf(() => parseCanonical(nest('[1]'), 10_000, 20))).toBe('TOO_DEEP')
    expect(codeOf(() => parseCanonical('{"a":"\\ud800"}'))).toBe('MALFORMED')
  })

  it('canonical - size is limited before parsing', () => {
    expect(codeOf(() => parseBounded(JSON.stringify({ a: 'x'.repeat(2000) }), 1000))).toBe('OVERSIZED')
    // multi-byte characters count as their UTF-8 length
    expect(codeOf(() => parseBounded(JSON.stringify({ a: '€'.repeat(400) }), 1000))).toBe('OVERSIZED')
  })

  it('canonical - garbage is MALFORMED, not a crash', () => {
    expect(codeOf(() => parseBounded('{"a":'))).toBe('MALFORMED')
    expect(codeOf(() => parseBounded('\u0000'))).toBe('MALFORMED')
  })
})
