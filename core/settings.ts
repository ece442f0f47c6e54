/**
 * The vault's governed settings: every name a `vault.settings` action may
 * set, with its type, unit, range and default. A proposal naming anything
 * else, or a value out of range, is refused before it is signed, and an honest
 * device signs no approval or commit for one (core/governance/calls.ts): a
 * setting that could never take effect is never committed by Tresor. Those who
 * read settings (telemetry policy, the checkpoint schedule) take them from here.
 * Pure (it imports only core/dict.ts), so the app's Settings form offers exactly
 * these, as typed inputs.
 */
import { dict, own } from './dict.js'

export interface SettingSpec {
  /** What it governs, for people. */
  label: string
  /** Whole numbers only, in `unit`. */
  type: 'integer'
  unit: 'readings' | 'ms' | 'KiB' | 'bytes' | 'events'
  min: number
  max: number
  dflt: number
}

const DAY = 86_400_000

export const SETTINGS: Readonly<Record<string, SettingSpec>> = Object.freeze(
  Object.assign(dict<SettingSpec>(), {
    telemetryBatchMax: {
      label: 'Seal a telemetry batch at this many readings',
      type: 'integer',
      unit: 'readings',
      min: 1,
      max: 10_000,
      dflt: 1000
    },
    telemetryBatchMs: {
      label: '…or when its oldest reading has waited this long',
      type: 'integer',
      unit: 'ms',
      min: 10,
      max: 600_000,
      dflt: 1000
    },
    telemetryBudgetKB: {
      label: 'Telemetry disk budget on each device (not yet forwarded)',
      type: 'integer',
      unit: 'KiB',
      min: 16,
      max: 1 << 30,
      dflt: 512 * 1024
    },
    telemetryMaxReadingBytes: {
      label: 'Largest reading accepted',
      type: 'integer',
      unit: 'bytes',
      min: 128,
      max: 65_536,
      dflt: 4096
    },
    telemetryMaxFutureMs: {
      label: 'How far ahead of the clock a reading may be dated',
      type: 'integer',
      unit: 'ms',
      min: 0,
      max: 7 * DAY,
      dflt: 5 * 60_000
    },
    telemetryMaxAgeMs: {
      label: 'How old a reading may be when it arrives',
      type: 'integer',
      unit: 'ms',
      min: 1000,
      max: 3650 * DAY,
      dflt: 7 * DAY
    },
    checkpointInterval: {
      label: 'Sign a checkpoint every this many events',
      type: 'integer',
      unit: 'events',
      min: 1,
      max: 1_000_000,
      dflt: 1000
    },
    documentMaxBytes: {
      label: 'Largest document file taken in (a migrated file)',
      type: 'integer',
      unit: 'bytes',
      min: 1024,
      max: 256 * 1024 * 1024,
      dflt: 16 * 1024 * 1024
    }
  } satisfies Record<string, SettingSpec>)
)

export function settingSpec(name: string): SettingSpec | undefined {
  return own(SETTINGS, name)
}

/** Why `value` cannot be the setting `name`, or null when it can. */
export function settingProblem(name: string, value: unknown): string | null {
  const spec = settingSpec(name)
  if (!spec) return `${name.slice(0, 40)} is not a setting of this vault (known: ${Object.keys(SETTINGS).join(', ')})`
  if (typeof value !== 'number' || !Number.isSafeInteger(value))
    return `${name} is a whole number of ${spec.unit}, not ${JSON.stringify(value)?.slice(0, 40)}`
  if (value < spec.min || value > spec.max)
    return `${name} must be between ${formatSetting(name, spec.min)} and ${formatSetting(name, spec.max)}`
  return null
}

/** The setting `name` as the vault holds it: its governed value when valid, else its default. */
export function settingValueOf(settings: { [name: string]: unknown }, name: string): number {
  const spec = settingSpec(name)!
  const v = own(settings, name)
  return settingProblem(name, v) === null ? (v as number) : spec.dflt
}

/** A value in its unit, for people: `7 days`, `512 MiB`, `1,000 readings`. */
export function formatSetting(name: string, value: number): string {
  const unit = settingSpec(name)?.unit
  const n = (x: number) => x.toLocaleString('en-US', { maximumFractionDigits: 1 })
  if (unit === 'ms') {
    if (value >= DAY && value % 3_600_000 === 0) return `${n(value / DAY)} day${value === DAY ? '' : 's'}`
    if (value >= 3_600_000 && value % 60_000 === 0) return `${n(value / 3_600_000)} h`
    if (value >= 60_000 && value % 1000 === 0) return `${n(value / 60_000)} min`
    if (value >= 1000) return `${n(value / 1000)} s`
    return `${n(value)} ms`
  }
  if (unit === 'KiB')
    return value >= 1 << 20
      ? `${n(value / (1 << 20))} GiB`
      : value >= 1024
        ? `${n(value / 1024)} MiB`
        : `${n(value)} KiB`
  return `${n(value)} ${unit ?? ''}`.trim()
}
