/**
 * Actions from what a person types. The CLI's flags and the app's forms read
 * the same text the same way: a setting's value, a stream's field list, an
 * expiry like `3d`. Names come from the user, so they land in null-prototype
 * records. Pure (it imports only core's errors), so the renderer may import
 * it; core's action check (governance/actions.ts) still judges the result.
 */
import { BAD_ARGUMENT } from './errors.js'
import { dict } from './dict.js'

export type SettingValue = string | number | boolean

/** A setting's value as typed: `true`/`false`, an integer, else the text itself. */
export function settingValue(text: string): SettingValue {
  if (text === 'true') return true
  if (text === 'false') return false
  return /^-?\d{1,15}$/.test(text) ? Number(text) : text
}

/** `key=value` (the value may hold `=`) as its key and value text. */
export function settingPair(pair: string): [string, string] {
  const at = pair.indexOf('=')
  if (at <= 0) throw BAD_ARGUMENT(`a setting is key=value, got "${pair.slice(0, 80)}"`)
  return [pair.slice(0, at), pair.slice(at + 1)]
}

/** The `vault.settings` action for settings typed as key and value text. */
export function settingsAction(pairs: readonly (readonly [string, string])[]): {
  kind: 'vault.settings'
  args: { settings: Record<string, SettingValue> }
} {
  if (pairs.length === 0) throw BAD_ARGUMENT('name at least one setting (key=value)')
  const settings = dict<SettingValue>()
  for (const [key, text] of pairs) settings[key] = settingValue(text)
  return { kind: 'vault.settings', args: { settings } }
}

/**
 * Stream fields typed as `name:type` or `name:type:unit` (type number, integer, string or boolean; a trailing `?`
 * makes one optional; the unit, such as °C or kPa, is what charts and review print beside the values).
 */
export function streamFields(specs: readonly string[]): Record<string, string | { type: string; unit: string }> {
  const fields = dict<string | { type: string; unit: string }>()
  for (const spec of specs.map((s) => s.trim()).filter(Boolean)) {
    const [name, type, unit, more] = spec.split(':').map((s) => s.trim())
    if (!name || !type || unit === '' || more !== undefined)
      throw BAD_ARGUMENT(
        `a field is name:type or name:type:unit (type one of number, integer, string, boolean; a trailing ? makes it optional), got "${spec.slice(0, 80)}"`
      )
    fields[name] = unit === undefined ? type : { type, unit }
  }
  return fields
}

/** The streams-register entry for one schema version. */
export function streamAction(
  stream: string,
  version: string,
  specs: readonly string[]
): {
  kind: 'register.append'
  args: {
    register: 'streams'
    entry: { stream: string; version: number; fields: ReturnType<typeof streamFields> }
  }
} {
  if (!/^\d{1,5}$/.test(version.trim())) throw BAD_ARGUMENT('the schema version is a whole number (1-65535)')
  return {
    kind: 'register.append',
    args: { register: 'streams', entry: { stream, version: Number(version), fields: streamFields(specs) } }
  }
}

const DURATION_RE = /^(\d{1,6})([mhd])$/
const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const

/** When a proposal given `duration` (30m, 12h, 3d) from `now` expires. */
export function expiresAfter(duration: string, now = Date.now()): string {
  const m = DURATION_RE.exec(duration.trim())
  if (!m) throw BAD_ARGUMENT('an expiry is a duration like 30m, 12h or 3d')
  return new Date(now + Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]).toISOString()
}
