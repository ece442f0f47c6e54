/** Review: what a proposal changes, in words; and the units a stream's readings are printed in. */
import { describe, expect, it } from 'vitest'
import { fieldUnits, reviewAction } from '../core/review.js'
import { brokenState } from '../core/governance/state.js'
import { checkActionShape } from '../core/governance/actions.js'
import { streamAction } from '../core/forms.js'
import type { RegisterEntry } from '../core/governance/registers.js'

const entryOf = (fields: string[], version = 1) =>
  (checkActionShape(streamAction('boiler.temp', String(version), fields)).args as unknown as { entry: RegisterEntry })
    .entry

describe('review', () => {
  it('review - a stream schema change says each field with its unit, before and after', () => {
    const state = brokenState('vault', 'test')
    state.registers.streams = [entryOf(['celsius:number'])]
    const action = streamAction('boiler.temp', '2', ['celsius:number:°C', 'flow:number?:m³/h'])
    const review = reviewAction(state, action)
    expect(review.title).toBe('register stream boiler.temp, schema version 2')
    expect(review.changes).toEqual([
      {
        what: 'fields of boiler.temp',
        before: 'v1: celsius: number',
        after: 'v2: celsius: number in °C, flow: number? in m³/h'
      }
    ])
  })

  it('review - units come from the newest schema version of the stream; other streams and unit-less fields have none', () => {
    const streams = [
      entryOf(['celsius:number:K'], 1),
      entryOf(['celsius:number:°C', 'note:string?'], 3),
      entryOf(['celsius:number:°F'], 2)
    ]
    expect([...fieldUnits(streams, 'boiler.temp')]).toEqual([['celsius', '°C']])
    expect(fieldUnits(streams, 'press.force').size).toBe(0)
  })
})
