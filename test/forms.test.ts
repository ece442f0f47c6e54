/**
 * What a person types becomes the same action in the CLI and in the app: both
 * read it with core/forms.ts, and core's own check judges the result.
 */
import { describe, expect, it } from 'vitest'
import { expiresAfter, settingPair, settingsAction, settingValue, streamAction, streamFields } from '../core/forms.js'
import { checkActionShape } from '../core/governance/actions.js'

describe('forms', () => {
  it('forms - a setting is true/false, an integer, else text; a value may hold "="', () => {
    expect([
      settingValue('true'),
      settingValue('false'),
      settingValue('-12'),
      settingValue('12.5'),
      settingValue('')
    ]).toEqual([true, false, -12, '12.5', ''])
    // beyond what a double holds exactly: kept as text
    expect(settingValue('1234567890123456')).toBe('1234567890123456')
    expect(settingPair('motd=a=b')).toEqual(['motd', 'a=b'])
    expect(() => settingPair('=x')).toThrow(/key=value/)
    expect(() => settingPair('novalue')).toThrow(/key=value/)
    const action = settingsAction([settingPair('telemetryBudgetKB=512'), settingPair('open=true')])
    expect(checkActionShape(action)).toMatchObject({
      kind: 'vault.settings',
      args: { settings: { telemetryBudgetKB: 512, open: true } }
    })
    expect(() => settingsAction([])).toThrow(/at least one/)
  })

  it('forms - names typed by a person are data: __proto__ and constructor land as keys, and core refuses them as setting names', () => {
    const action = settingsAction([
      ['__proto__', '1'],
      ['constructor', 'x']
    ])
    expect(Object.getPrototypeOf(action.args.settings)).toBeNull()
    expect(Object.keys(action.args.settings)).toEqual(['__proto__', 'constructor'])
    expect(() => checkActionShape(action)).toThrow(/setting __proto__/)
    const fields = streamFields(['__proto__:number'])
    expect(Object.getPrototypeOf(fields)).toBeNull()
    expect(Object.keys(fields)).toEqual(['__proto__'])
  })

  it('forms - a stream schema from name:type fields; a malformed field or version is named', () => {
    const action = streamAction('boiler.temp', '2', ['celsius:number', ' note : string? ', ''])
    expect(checkActionShape(action)).toMatchObject({
      kind: 'register.append',
      args: {
        register: 'streams',
        entry: {
          stream: 'boiler.temp',
          version: 2,
          fields: { celsius: { type: 'number', required: true }, note: { type: 'string', required: false } }
        }
      }
    })
    expect(() => streamFields(['celsius'])).toThrow(/a field is name:type/)
    expect(() => streamFields(['a:b:c:d'])).toThrow(/a field is name:type/)
    expect(() => streamFields(['a:number:'])).toThrow(/a field is name:type/)
    expect(() => streamAction('s', 'two', ['a:number'])).toThrow(/whole number/)
  })

  it('forms - a field may name its unit (name:type:unit); a unit that is markup or too long is refused by core', () => {
    const action = streamAction('boiler.temp', '1', ['celsius:number:°C', 'flow:number?:m³/h', 'note:string?'])
    expect(checkActionShape(action).args).toMatchObject({
      entry: {
        fields: {
          celsius: { type: 'number', required: true, unit: '°C' },
          flow: { type: 'number', required: false, unit: 'm³/h' },
          note: { type: 'string', required: false }
        }
      }
    })
    expect(checkActionShape(action).args).not.toHaveProperty('entry.fields.note.unit')
    for (const unit of ['<b>', 'a'.repeat(17)])
      expect(() => checkActionShape(streamAction('s', '1', [`t:number:${unit}`]))).toThrow(/a unit is 1-16/)
    for (const unit of [' C', 'C\n', 7, ''])
      expect(() =>
        checkActionShape({
          kind: 'register.append',
          args: { register: 'streams', entry: { stream: 's', version: 1, fields: { t: { type: 'number', unit } } } }
        })
      ).toThrow(/a unit is 1-16/)
  })

  it('forms - an expiry is minutes, hours or days from now', () => {
    const now = Date.parse('2026-12-01T00:00:00.000Z')
    expect(expiresAfter('30m', now)).toBe('2026-12-01T00:30:00.000Z')
    expect(expiresAfter('12h', now)).toBe('2026-12-01T12:00:00.000Z')
    expect(expiresAfter('3d', now)).toBe('2026-12-04T00:00:00.000Z')
    for (const bad of ['3', '3w', '-1d', '1e9d', ''])
      expect(() => expiresAfter(bad, now), bad).toThrow(/30m, 12h or 3d/)
  })
})
