/**
 * Telemetry readings and the rules that judge them. Policy (batch limits,
 * the disk budget, reading size, timestamp window) comes from the vault's
 * governed settings; stream schemas from its `streams` register. Wiring
 * (ports, broker URLs) never lives here.
 *
 * A reading on the wire (one NDJSON line, or one MQTT message line):
 *   {"id":"p-17","stream":"boiler.temp","ts":"2026-11-22T04:00:00.000Z","schema":1,"values":{"celsius":71.5}}
 * `id` is the producer's idempotency key, unique per stream.
 */
import { settingValueOf } from '../settings.js'
import { parseBounded, type Json } from '../canonical.js'
import { VaultError } from '../errors.js'
import type { GovState } from '../governance/state.js'
import { STREAM_RE, type StreamEntry } from '../governance/registers.js'
import { hasOwn, own } from '../dict.js'

export interface Reading {
  id: string
  stream: string
  ts: string
  schema: number
  values: Record<string, Json>
}

export type Decision = 'ADMIT' | 'DUPLICATE' | 'QUARANTINE'

/** What the gate said about one input line. `index` is its position in the submitted input. */
export interface Receipt {
  index: number
  id: string | null
  stream: string | null
  decision: Decision
  code?: string
  reason?: string
}

export interface TelemetryPolicy {
  /** Seal a batch at this many readings… */
  batchMax: number
  /** …or when its oldest reading has waited this long. */
  batchMs: number
  /** Bytes this device may hold that are not yet forwarded (WAL, unforwarded batches, quarantine). */
  budgetBytes: number
  maxReadingBytes: number
  /** How far a reading's timestamp may lie ahead of this device's clock, and how far behind. */
  maxFutureMs: number
  maxAgeMs: number
}

/** Each policy field's governed setting (core/settings.ts: type, unit, range, default) and its scale to bytes or ms. */
const FROM_SETTINGS: Record<keyof TelemetryPolicy, { key: string; scale?: number }> = {
  batchMax: { key: 'telemetryBatchMax' },
  batchMs: { key: 'telemetryBatchMs' },
  budgetBytes: { key: 'telemetryBudgetKB', scale: 1024 },
  maxReadingBytes: { key: 'telemetryMaxReadingBytes' },
  maxFutureMs: { key: 'telemetryMaxFutureMs' },
  maxAgeMs: { key: 'telemetryMaxAgeMs' }
}

/** The vault's telemetry policy: each governed setting if present and in bounds, else its default. */
export function telemetryPolicy(settings: { [name: string]: Json }): TelemetryPolicy {
  const out = {} as TelemetryPolicy
  for (const [name, b] of Object.entries(FROM_SETTINGS) as [keyof TelemetryPolicy, { key: string; scale?: number }][])
    out[name] = settingValueOf(settings, b.key) * (b.scale ?? 1)
  return out
}

/** Registered schemas by `<stream>:<version>`. */
export function streamSchemas(state: GovState): Map<string, StreamEntry> {
  return new Map((state.registers.streams as StreamEntry[]).map((e) => [e.id, e]))
}

const TS_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/
const ID_RE = /^[\x21-\x7e]{1,128}$/
const KEYS = new Set(['id', 'stream', 'ts', 'schema', 'values'])
const MAX_TEXT = 1024

export interface JudgeContext {
  schemas: Map<string, StreamEntry>
  policy: TelemetryPolicy
  nowMs: number
  /** Stream for lines that name none (`tresor ingest --stream S`, an MQTT topic mapping). */
  defaultStream?: string
}

export type Judged =
  | { ok: true; reading: Reading; canonical: string }
  | { ok: false; id: string | null; stream: string | null; code: string; reason: string }

const fail = (code: string, reason: string, id: unknown = null, stream: unknown = null): Judged => ({
  ok: false,
  code,
  reason,
  id: typeof id === 'string' ? id.slice(0, 128) : null,
  stream: typeof stream === 'string' ? stream.slice(0, 64) : null
})

/** Judge one input line on its own (duplicates are the store's business). Never throws. */
export function judgeLine(line: string, ctx: JudgeContext): Judged {
  if (line.length > ctx.policy.maxReadingBytes || Buffer.byteLength(line) > ctx.policy.maxReadingBytes) {
    return fail(
      'OVERSIZED',
      `reading is ${Buffer.byteLength(line)} bytes; the policy allows ${ctx.policy.maxReadingBytes}`
    )
  }
  let value: Json
  try {
    value = parseBounded(line, ctx.policy.maxReadingBytes, 4)
  } catch (err) {
    return fail(err instanceof VaultError ? err.code : 'MALFORMED', `not a JSON reading: ${(err as Error).message}`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return fail('MALFORMED', 'a reading is a JSON object')
  const r = value as Record<string, Json>
  const stream = r.stream ?? ctx.defaultStream
  for (const k of Object.keys(r))
    if (!KEYS.has(k))
      return fail(
        'MALFORMED',
        `unknown field ${k.slice(0, 32)} (a reading has id, stream, ts, schema, values)`,
        r.id,
        stream
      )
  if (typeof r.id !== 'string' || !ID_RE.test(r.id))
    return fail(
      'MALFORMED',
      "id must be 1-128 printable ASCII characters (the producer's idempotency key)",
      r.id,
      stream
    )
  if (typeof stream !== 'string' || !STREAM_RE.test(stream))
    return fail('MALFORMED', 'stream must be a name like boiler.temp', r.id, stream)
  if (typeof r.ts !== 'string' || !TS_RE.test(r.ts))
    return fail('MALFORMED', 'ts must be a UTC timestamp like 2026-11-22T04:00:00.000Z', r.id, stream)
  const ms = Date.parse(r.ts)
  const ts = Number.isFinite(ms) ? new Date(ms).toISOString() : ''
  if (ts.slice(0, 19) !== r.ts.slice(0, 19))
    return fail('MALFORMED', `ts ${r.ts} is not a real date and time`, r.id, stream)
  if (ms > ctx.nowMs + ctx.policy.maxFutureMs)
    return fail(
      'TIMESTAMP_OUT_OF_POLICY',
      `ts ${ts} is more than ${ctx.policy.maxFutureMs} ms ahead of this device's clock`,
      r.id,
      stream
    )
  if (ms < ctx.nowMs - ctx.policy.maxAgeMs)
    return fail(
      'TIMESTAMP_OUT_OF_POLICY',
      `ts ${ts} is older than the policy's ${ctx.policy.maxAgeMs} ms`,
      r.id,
      stream
    )
  if (!Number.isSafeInteger(r.schema))
    return fail('MALFORMED', 'schema must be the schema version number', r.id, stream)
  const schema = ctx.schemas.get(`${stream}:${r.schema as number}`)
  if (!schema)
    return fail(
      'SCHEMA_MISMATCH',
      `stream ${stream} has no registered schema version ${r.schema as number}`,
      r.id,
      stream
    )
  const values = r.values
  if (typeof values !== 'object' || values === null || Array.isArray(values))
    return fail('MALFORMED', 'values must be an object', r.id, stream)
  for (const [name, v] of Object.entries(values)) {
    if (!name.isWellFormed() || (typeof v === 'string' && !v.isWellFormed()))
      return fail(
        'MALFORMED',
        'a field holds a lone UTF-16 surrogate: not well-formed Unicode, so it is never sealed',
        r.id,
        stream
      )
  }
  for (const [name, v] of Object.entries(values)) {
    const spec = own(schema.fields, name)
    if (!spec) return fail('SCHEMA_MISMATCH', `field ${name.slice(0, 32)} is not in schema ${schema.id}`, r.id, stream)
    const okType =
      spec.type === 'number'
        ? typeof v === 'number' && Number.isFinite(v)
        : spec.type === 'integer'
          ? Number.isSafeInteger(v)
          : spec.type === 'boolean'
            ? typeof v === 'boolean'
            : typeof v === 'string' && v.length <= MAX_TEXT
    const article = spec.type === 'integer' ? 'an' : 'a'
    if (!okType)
      return fail(
        'SCHEMA_MISMATCH',
        `field ${name} must be ${spec.type === 'string' ? `text of at most ${MAX_TEXT} characters` : `${article} ${spec.type}`}, not ${describe(v)} (schema ${schema.id})`,
        r.id,
        stream
      )
  }
  for (const [name, spec] of Object.entries(schema.fields)) {
    if (spec.required && !hasOwn(values, name))
      return fail('SCHEMA_MISMATCH', `field ${name} is required by schema ${schema.id}`, r.id, stream)
  }
  const reading: Reading = { id: r.id, stream, ts, schema: r.schema as number, values: values as Record<string, Json> }
  return { ok: true, reading, canonical: canonicalReading(reading) }
}

function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'a list'
  if (typeof v === 'object') return 'an object'
  if (typeof v === 'string') return 'text'
  return typeof v === 'number' && !Number.isSafeInteger(v) ? `the number ${v}` : `${typeof v} ${String(v).slice(0, 20)}`
}

/**
 * canonicalize(reading), spelled out for the one shape a checked reading has
 * (keys sorted, scalar values): the ingest hot path. A test holds it equal to
 * the general encoder.
 */
export function canonicalReading(r: Reading): string {
  const names = Object.keys(r.values).sort()
  let values = '{'
  for (let i = 0; i < names.length; i++)
    values += (i ? ',' : '') + JSON.stringify(names[i]) + ':' + JSON.stringify(r.values[names[i]!])
  return `{"id":${JSON.stringify(r.id)},"schema":${r.schema},"stream":${JSON.stringify(r.stream)},"ts":"${r.ts}","values":${values}}}`
}

/** The dedup key of a reading: its stream and the producer's id. */
export function dedupKey(stream: string, id: string): string {
  return `${stream}\n${id}`
}
