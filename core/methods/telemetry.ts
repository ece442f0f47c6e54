/** Telemetry: the store's status, per-stream meters, readings, the quarantine, proofs and intake. */
import { BAD_ARGUMENT, NOT_FOUND } from '../errors.js'
import type { IngestResult, QuarantineEntry, StreamMeter, TelemetryStore, Usage } from '../telemetry/store.js'
import type { Reading } from '../telemetry/reading.js'
import type { ReadingProof } from '../telemetry/batch.js'
import { obj, optInt, optString, reads, signs, type Domain } from './meta.js'

/** Characters of readings one telemetry.ingest call carries (bigger inputs go to /ingest or in several calls). */
export const MAX_NDJSON = 60_000

export interface TelemetryStatus extends Usage {
  enabled: boolean
  forwardedSeq: number
  sealedSeq: number
  batches: number
}

export interface TelemetryMethods {
  'telemetry.status': (args: Record<string, never>) => Promise<TelemetryStatus>
  'telemetry.streams': (args: { windowMs?: number }) => Promise<StreamMeter[]>
  /**
   * A stream's readings in timestamp order: the last `limit`, or with `offset` the page from there (to read them all).
   */
  'telemetry.readings': (args: {
    stream: string
    from?: string
    to?: string
    limit?: number
    offset?: number
  }) => Promise<{ readings: Reading[]; total: number }>
  'telemetry.quarantine': (args: { limit?: number }) => Promise<QuarantineEntry[]>
  'telemetry.prove': (args: { stream: string; id: string }) => Promise<ReadingProof>
  'telemetry.ingest': (args: { ndjson: string; stream?: string }) => Promise<IngestResult>
  /** Check every batch held: signature by a member's device key, the root over its readings, the chain. */
  'telemetry.verify': (
    args: Record<never, never>
  ) => Promise<{ batches: number; readings: number; problems: { id: string; reason: string }[] }>
}

/** Telemetry reads and writes the host's telemetry store only (providers.telemetry), never the vault. */
export const telemetryDomain: Domain<TelemetryMethods, unknown> = {
  meta: {
    'telemetry.status': reads,
    'telemetry.streams': reads,
    'telemetry.readings': reads,
    'telemetry.quarantine': reads,
    // A proof seals what is waiting first; intake seals batches: both sign with the device key.
    'telemetry.prove': { ...signs, writes: false },
    // Its ndjson is at most 60,000 characters; escaped as JSON that may be up to six bytes each.
    'telemetry.ingest': { ...signs, maxArgBytes: 6 * MAX_NDJSON + 1024 },
    'telemetry.verify': reads
  },
  build: ({ providers }) => {
    const telemetry = (): TelemetryStore => {
      if (!providers.telemetry)
        throw NOT_FOUND('this host has no telemetry store open (the edge daemon and the CLI do)')
      return providers.telemetry
    }
    const stream = (v: unknown) => {
      const s = optString(v, 'stream', 64)
      if (!s) throw BAD_ARGUMENT('stream is required')
      return s
    }
    return {
      'telemetry.status': async () => {
        const t = telemetry()
        return {
          ...t.usage(),
          enabled: t.enabled,
          forwardedSeq: t.forwarded,
          sealedSeq: t.head.seq,
          batches: t.batchMetas().length
        }
      },
      'telemetry.streams': async (args) =>
        telemetry().streams(optInt(obj(args).windowMs, 'windowMs', 1000, 366 * 86_400_000, 15 * 60_000)),
      'telemetry.readings': async (args) => {
        const a = obj(args)
        const limit = optInt(a.limit, 'limit', 1, 10_000, 1000)
        const offset = a.offset === undefined ? null : optInt(a.offset, 'offset', 0, Number.MAX_SAFE_INTEGER, 0)
        const all = await telemetry().streamReadings(stream(a.stream), {
          from: optString(a.from, 'from', 30),
          to: optString(a.to, 'to', 30)
        })
        return { readings: offset === null ? all.slice(-limit) : all.slice(offset, offset + limit), total: all.length }
      },
      'telemetry.quarantine': async (args) => telemetry().quarantine(optInt(obj(args).limit, 'limit', 1, 1000, 100)),
      'telemetry.prove': async (args) => {
        const a = obj(args)
        const id = optString(a.id, 'id', 128)
        if (!id) throw BAD_ARGUMENT('id is required')
        return telemetry().prove(stream(a.stream), id)
      },
      'telemetry.ingest': async (args) => {
        const a = obj(args)
        const ndjson = optString(a.ndjson, 'ndjson', MAX_NDJSON)
        if (ndjson === undefined) throw BAD_ARGUMENT('ndjson is required: readings, one JSON object per line')
        return telemetry().ingest(ndjson, { stream: optString(a.stream, 'stream', 64), source: 'api' })
      },
      'telemetry.verify': async () => telemetry().verifyAll()
    }
  }
}
