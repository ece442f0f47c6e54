/**
 * Telemetry commands of the `tresor` CLI: ingest from a file or stdin (blocks
 * while the disk budget is full), metering, replay at a speed-up factor,
 * quarantine, reading proofs and forwarding to CouchDB.
 */
import { createReadStream } from 'node:fs'
import {
  lazyPackage,
  EXIT_PARTLY_REFUSED,
  everKeys,
  fieldUnits,
  replayTimed,
  TelemetryStore,
  VaultError,
  verifyReadingProof,
  type IngestResult,
  type Reading,
  type Receipt
} from '../core/index.js'
import { vaultApi, withApi, type VaultApi } from './cli-client.js'
import { flag, required, usage, type ParsedArgs } from './args.js'
import type { Out } from './cli-support.js'

const readline = lazyPackage<typeof import('node:readline')>('node:readline')

export const TELEMETRY_FLAGS = {
  stream: 'value',
  window: 'value',
  speed: 'value',
  from: 'value',
  to: 'value',
  id: 'value',
  pull: 'bool'
} as const

export const TELEMETRY_HELP = `
  tresor ingest --dir D [--stream S] [--file F.ndjson]   readings from a file or stdin; blocks while the disk budget is full
  tresor streams --dir D [--window 15m]        per-stream metering: totals, rate, min/max/mean, last values, receipts
  tresor replay --dir D --stream S [--speed 10] [--from T] [--to T]   a stream's readings as NDJSON, in order, timing scaled
  tresor telemetry status|quarantine|verify --dir D
  tresor telemetry prove --dir D --stream S --id ID   a proof that the reading is in a signed batch
  tresor sync telemetry --dir D [--url DB_URL] [--pull]   forward this device's batches (and pull others' with --pull)`

const CHUNK = 1000
const DURATION_RE = /^(\d+)(s|m|h|d)$/

export function durationMs(text: string): number {
  const m = DURATION_RE.exec(text)
  if (!m) throw usage('a duration is like 30s, 15m, 12h or 7d')
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd']
}

/** Ingest one chunk, waiting (not dropping) while the budget is full. */
export async function ingestBlocking(
  store: TelemetryStore,
  lines: string[],
  opts: { stream?: string; source: string },
  onWait?: () => void
): Promise<IngestResult> {
  for (;;) {
    try {
      return await store.ingest(lines, opts)
    } catch (err) {
      if (!(err instanceof VaultError) || err.code !== 'BACKPRESSURE') throw err
      onWait?.()
      await store.waitForRoom(1000)
    }
  }
}

/**
 * The same through a running daemon's API: in calls of at most what one carries, waiting (not dropping) while its
 * budget is full.
 */
async function ingestThrough(
  api: VaultApi,
  lines: string[],
  stream: string | undefined,
  onWait?: () => void
): Promise<IngestResult> {
  const total: IngestResult = { receipts: [], admitted: 0, duplicates: 0, quarantined: 0 }
  let piece: string[] = [],
    size = 0,
    base = 0
  const send = async () => {
    for (;;) {
      try {
        const r = await api.call('telemetry.ingest', { ndjson: piece.join('\n'), ...(stream ? { stream } : {}) })
        total.admitted += r.admitted
        total.duplicates += r.duplicates
        total.quarantined += r.quarantined
        for (const x of r.receipts) total.receipts.push({ ...x, index: x.index + base })
        break
      } catch (err) {
        if (!(err instanceof VaultError) || err.code !== 'BACKPRESSURE') throw err
        onWait?.()
        await new Promise((r) => setTimeout(r, 1000))
      }
    }
    base += piece.length
    piece = []
    size = 0
  }
  for (const line of lines) {
    if (size + line.length + 1 > INGEST_CALL_CHARS && piece.length > 0) await send()
    piece.push(line)
    size += line.length + 1
  }
  if (piece.length > 0) await send()
  return total
}

/** What one telemetry.ingest call carries (its ndjson argument is at most 60,000 characters). */
const INGEST_CALL_CHARS = 59_000

function describeReceipt(r: Receipt): string {
  return `line ${r.index + 1}${r.id ? ` (${r.id})` : ''}: ${r.decision} ${r.code ?? ''} ${r.reason ?? ''}`.trim()
}

export const TELEMETRY_COMMANDS: Record<string, (args: ParsedArgs, out: Out) => Promise<number>> = {
  async ingest(args, out) {
    return withApi(await vaultApi(args, { telemetry: true }), async (api) => {
      const file = flag(args, 'file')
      const input = file ? createReadStream(file, 'utf8') : process.stdin
      const lines = readline().createInterface({ input, crlfDelay: Infinity })
      const totals = { admitted: 0, duplicates: 0, quarantined: 0 }
      const problems: Receipt[] = []
      let base = 0,
        chunk: string[] = [],
        warned = false
      const onWait = () => {
        if (!warned)
          process.stderr.write('tresor: telemetry disk budget is full; waiting for room (forwarding frees it)\n')
        warned = true
      }
      const flushChunk = async () => {
        const opts = { stream: flag(args, 'stream'), source: file ? 'file' : 'stdin' }
        const r = api.telemetry
          ? await ingestBlocking(api.telemetry, chunk, opts, onWait)
          : await ingestThrough(api, chunk, opts.stream, onWait)
        totals.admitted += r.admitted
        totals.duplicates += r.duplicates
        totals.quarantined += r.quarantined
        for (const x of r.receipts)
          if (x.decision !== 'ADMIT' && problems.length < 1000) problems.push({ ...x, index: x.index + base })
        base += chunk.length
        chunk = []
      }
      for await (const line of lines) {
        chunk.push(line)
        if (chunk.length >= CHUNK) await flushChunk()
      }
      if (chunk.length > 0) await flushChunk()
      const unlocked = (await api.call('vault.status', {})).unlocked
      const sealed = unlocked
        ? 'sealed into signed batches'
        : 'on disk in the WAL; the next unlocked run (serve, daemon, or TRESOR_PASSPHRASE) seals them'
      out.print(
        [
          `admitted ${totals.admitted}, duplicates ${totals.duplicates}, quarantined ${totals.quarantined} (${sealed})`,
          ...problems.slice(0, 20).map(describeReceipt),
          ...(problems.length > 20 ? [`… ${problems.length - 20} more (--json lists them)`] : [])
        ].join('\n'),
        { ...totals, sealed: unlocked, receipts: problems }
      )
      return totals.quarantined > 0 ? EXIT_PARTLY_REFUSED : 0
    })
  },

  async streams(args, out) {
    const windowMs = durationMs(flag(args, 'window') ?? '15m')
    return withApi(await vaultApi(args, { telemetry: true }), async (api) => {
      const meters = await api.call('telemetry.streams', { windowMs })
      const { state } = await api.call('gov.state', {})
      const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(3))
      const human =
        meters.length === 0
          ? 'no streams registered (tresor propose stream …) and no readings held'
          : meters
              .map((m) => {
                const w = m.window
                const units = fieldUnits(state.registers.streams, m.stream)
                const u = (k: string) => (units.has(k) ? ` ${units.get(k)}` : '')
                const fields = Object.entries(w.fields)
                  .map(([k, f]) => `${k} min ${fmt(f.min)} max ${fmt(f.max)} mean ${fmt(f.mean)}${u(k)}`)
                  .join('; ')
                return [
                  `${m.stream}: ${m.total} reading(s) held`,
                  `  last ${flag(args, 'window') ?? '15m'}: ${w.count} (${w.rate.toFixed(2)}/s)${w.lastTs ? `, last at ${w.lastTs}` : ''}; receipts ADMIT ${w.receipts.ADMIT}, DUPLICATE ${w.receipts.DUPLICATE}, QUARANTINE ${w.receipts.QUARANTINE}`,
                  ...(fields ? [`  ${fields}`] : []),
                  ...(w.last ? [`  last values ${JSON.stringify(w.last)}`] : [])
                ].join('\n')
              })
              .join('\n')
      out.print(human, meters)
      return 0
    })
  },

  async replay(args, out) {
    const stream = required(args, 'stream')
    const speed = Number(flag(args, 'speed') ?? 1)
    if (!Number.isFinite(speed) || speed <= 0 || speed > 1e6)
      throw usage('--speed is a factor above 0 (10 = ten times faster)')
    const range = { from: flag(args, 'from'), to: flag(args, 'to') }
    return withApi(await vaultApi(args, { telemetry: true }), async (api) => {
      let readings: Reading[]
      if (api.telemetry) readings = await api.telemetry.streamReadings(stream, range)
      else {
        // Through a running daemon: page by page, in timestamp order.
        readings = []
        for (let total = Infinity; readings.length < total;) {
          const page = await api.call('telemetry.readings', {
            stream,
            ...range,
            offset: readings.length,
            limit: 10_000
          })
          total = page.total
          if (page.readings.length === 0) break
          readings.push(...page.readings)
        }
      }
      let n = 0
      for await (const r of replayTimed(readings, speed)) {
        process.stdout.write(JSON.stringify(r) + '\n')
        n++
      }
      if (!out.json) process.stderr.write(`replayed ${n} reading(s) of ${stream} at ${speed}x\n`)
      return 0
    })
  },

  async telemetry(args, out) {
    const sub = args.command[1]
    if (sub !== 'status' && sub !== 'quarantine' && sub !== 'prove' && sub !== 'verify')
      throw usage('telemetry status, quarantine, verify or prove')
    return withApi(await vaultApi(args, { telemetry: true }), async (api) => {
      if (sub === 'prove') {
        const proof = await api.call('telemetry.prove', { stream: required(args, 'stream'), id: required(args, 'id') })
        const { vaultId } = await api.call('vault.status', {})
        verifyReadingProof(proof, vaultId, everKeys((await api.call('gov.state', {})).state))
        out.print(JSON.stringify(proof, null, 2), proof)
        return 0
      }
      if (sub === 'verify') {
        const r = await api.call('telemetry.verify', {})
        out.print(
          r.problems.length === 0
            ? `${r.batches} batch(es), ${r.readings} reading(s): every signature, root and chain link verifies`
            : `${r.problems.length} batch(es) FAIL:\n${r.problems.map((p) => `  ${p.id}: ${p.reason}`).join('\n')}`,
          r
        )
        return r.problems.length === 0 ? 0 : 3
      }
      if (sub === 'status') {
        const { batches: _batches, ...data } = await api.call('telemetry.status', {})
        out.print(
          [
            `telemetry ${data.enabled ? 'on' : 'OFF (streaming_enabled)'}; ${data.usedBytes} of ${data.budgetBytes} budget bytes used${data.full ? ' (FULL: inputs wait)' : ''}`,
            `  WAL ${data.walBytes}, unforwarded batches ${data.unforwardedBytes}, quarantine ${data.quarantineBytes}; ${data.unsealed} unsealed`,
            `  sealed ${data.sealedSeq} batch(es), forwarded ${data.forwardedSeq}`
          ].join('\n'),
          data
        )
        return 0
      }
      const entries = await api.call('telemetry.quarantine', { limit: 1000 })
      out.print(
        entries.length === 0
          ? 'nothing in telemetry quarantine'
          : entries
              .map(
                (e) =>
                  `${e.receivedAt}  ${String(e.receipt.code).padEnd(24)} from ${e.source}\n    ${e.receipt.reason}\n    ${e.raw.slice(0, 160)}${e.truncated ? ` … (${e.size} bytes)` : ''}`
              )
              .join('\n'),
        entries
      )
      return 0
    })
  }
}
