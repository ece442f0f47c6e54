/** The shapes the telemetry store and its read side share. */
import type { Json } from '../canonical.js'
import type { Decision, Receipt } from './reading.js'

export interface BatchMeta {
  id: string
  device: string
  seq: number
  hash: string
  sealedAt: string
  firstTs: string
  lastTs: string
  count: number
  bytes: number
  streams: Record<string, number>
}

export interface FieldStats {
  n: number
  min: number
  max: number
  mean: number
}

export interface StreamMeter {
  stream: string
  /** All readings held, every device. */
  total: number
  window: {
    ms: number
    count: number
    /** Readings per second over the window. */
    rate: number
    firstTs: string | null
    lastTs: string | null
    fields: Record<string, FieldStats>
    last: Record<string, Json> | null
    receipts: Record<Decision, number>
  }
}

export interface QuarantineEntry {
  id: string
  receivedAt: string
  source: string
  receipt: Receipt
  raw: string
  size: number
  truncated: boolean
}
