/**
 * Telemetry rows: sustained intake with durable acks (admitted, deduplicated,
 * sealed into signed batches and on disk), over HTTP and in-process, with p99
 * ack latency; peers in the same run: plain PouchDB (one doc per reading,
 * bulk write + fsync per chunk: durable, no dedup, no signing) and hypercore
 * (one block per reading, appended per chunk: signed, no fsync, no dedup).
 * Then the daemon's peak RSS under a flood of concurrent 8 MiB posts, with
 * the intake budget and without it. (The memory of a backlog held offline is
 * measured on a real daemon in bench/footprint.ts.)
 */
import Hypercore from 'hypercore'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Server } from 'node:http'
import { TelemetryStore } from '../core/telemetry/store.js'
import { openDb, syncBarrier } from '../core/pouch.js'
import { createHandlers } from '../core/api.js'
import { startHttpHost } from '../edge/http-host.js'
import { boilerLines, streamingVaults } from '../test/support/telemetry-vault.js'

type Row = { measure: string; tresor: string; peer: string; verdict: string }
const CHUNK = 1000
const IN_FLIGHT = 8
const fmt = (n: number) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1))
const mib = (b: number) => `${fmt(b / 2 ** 20)} MiB`

function chunks(n: number, prefix: string): string[] {
  const out: string[] = []
  const now = Date.now()
  for (let i = 0; i < n; i += CHUNK) out.push(boilerLines(Math.min(CHUNK, n - i), `${prefix}${i}`, now).join('\n'))
  return out
}

/** Drive `send` over the chunks with IN_FLIGHT outstanding; ack latency per chunk. */
async function drive(
  bodies: string[],
  send: (body: string) => Promise<void>
): Promise<{ ms: number; p99: number; p50: number }> {
  const lat: number[] = []
  let next = 0
  const t0 = performance.now()
  const worker = async () => {
    while (next < bodies.length) {
      const body = bodies[next++]!
      const t = performance.now()
      await send(body)
      lat.push(performance.now() - t)
    }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker))
  lat.sort((a, b) => a - b)
  return { ms: performance.now() - t0, p99: lat[Math.floor(lat.length * 0.99)]!, p50: lat[Math.floor(lat.length / 2)]! }
}

export async function benchTelemetry(
  readings: number,
  tmp: () => Promise<string>,
  log: (m: string) => void
): Promise<Row[]> {
  const rows: Row[] = []
  const t = await streamingVaults({ settings: { telemetryBudgetKB: 2 * 1024 * 1024 } })
  await t.bob.close()
  const store = await TelemetryStore.open(t.alice)
  try {
    // In-process: the store's own rate.
    log(`telemetry: ${fmt(readings)} readings in-process`)
    const local = await drive(chunks(readings, 'local'), async (body) => {
      const r = await store.ingest(body)
      if (r.admitted !== CHUNK) throw new Error(`admitted ${r.admitted}`)
    })
    const localFlush = performance.now()
    await store.flush()
    const localMs = local.ms + (performance.now() - localFlush)
    // Over HTTP, as producers send it.
    log(`telemetry: ${fmt(readings)} readings over HTTP`)
    const token = 'c'.repeat(64)
    const { server, url } = await startHttpHost({
      handlers: createHandlers(t.alice, { telemetry: store }),
      token: 'd'.repeat(64),
      staticDir: await tmp(),
      ingest: { store, token }
    })
    const http = await drive(chunks(readings, 'http'), async (body) => {
      const res = await fetch(`${url}/ingest`, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body })
      const json = (await res.json()) as { value?: { admitted: number } }
      if (json.value?.admitted !== CHUNK) throw new Error(`HTTP ${res.status}`)
    })
    const httpFlush = performance.now()
    await store.flush()
    const httpMs = http.ms + (performance.now() - httpFlush)
    await new Promise((r) => (server as Server).close(r))
    // Duplicates: the same input again is judged and refused, not stored.
    const dup = await drive(chunks(Math.min(readings, 100_000), 'local'), async (body) => {
      const r = await store.ingest(body)
      if (r.duplicates !== CHUNK) throw new Error('expected duplicates')
    })

    // Peers on the same disk, same chunks.
    log('telemetry peers: PouchDB, hypercore')
    const db = openDb(join(await tmp(), 'peer.db'))
    const pouch = await drive(chunks(readings, 'pouch'), async (body) => {
      await db.bulkDocs(
        body.split('\n').map((l) => {
          const r = JSON.parse(l) as { id: string }
          return { _id: `r!${r.id}`, reading: l }
        })
      )
      await syncBarrier(db)
    })
    await db.close()
    const core = new Hypercore(join(await tmp(), 'hc'))
    await core.ready()
    const hc = await drive(chunks(readings, 'hc'), async (body) => {
      await core.append(body.split('\n').map((l) => Buffer.from(l)))
    })
    await core.close()

    const ours = readings / (localMs / 1000),
      overHttp = readings / (httpMs / 1000)
    rows.push({
      measure: `telemetry intake, ${fmt(readings)} readings, ${CHUNK}/request, ${IN_FLIGHT} in flight: admitted + deduplicated + sealed & signed + durable acks`,
      tresor: `HTTP ${fmt(overHttp)}/s (ack p50 ${http.p50.toFixed(1)} ms, p99 ${http.p99.toFixed(1)} ms) · in-process ${fmt(ours)}/s (p99 ${local.p99.toFixed(1)} ms)`,
      peer: `PouchDB doc/reading + fsync ${fmt(readings / (pouch.ms / 1000))}/s (p99 ${pouch.p99.toFixed(1)} ms) · hypercore block/reading, no fsync ${fmt(readings / (hc.ms / 1000))}/s`,
      verdict: `≥50,000/s: ${overHttp >= 50_000 ? 'met' : 'NOT met'} over HTTP, ${ours >= 50_000 ? 'met' : 'NOT met'} in-process`
    })
    rows.push({
      measure: `telemetry duplicates refused, ${fmt(Math.min(readings, 100_000))} readings`,
      tresor: `${fmt(Math.min(readings, 100_000) / (dup.ms / 1000))}/s`,
      peer: '',
      verdict: ''
    })

    rows.push(await floodRow(FLOOD_POSTS, log))
  } finally {
    await store.close().catch(() => undefined)
    await t.alice.close().catch(() => undefined)
  }
  return rows
}

/** The bench's child processes run bench/child.ts, built beside this bundle (out/bench/child.js). */
const childScript = () => fileURLToPath(new URL('./child.js', import.meta.url))

/** Concurrent posts of just under MAX_INGEST_BYTES each in the intake flood row. */
const FLOOD_POSTS = 12
const FLOOD_BODY = 8 * 1024 * 1024 - 64 * 1024

/** One body of valid readings just under the size limit. */
function floodBody(prefix: string): string {
  const lines: string[] = []
  let size = 0
  const now = Date.now()
  for (let i = 0; size < FLOOD_BODY - 200; i++) {
    const line = JSON.stringify({
      id: `${prefix}-${i}`,
      stream: 'boiler.temp',
      ts: new Date(now - 1_000_000 + i).toISOString(),
      schema: 1,
      values: { celsius: 60 + (i % 20) }
    })
    lines.push(line)
    size += line.length + 1
  }
  return lines.join('\n')
}

/**
 * Peak RSS of a daemon-like process (vault, telemetry store, HTTP host) while
 * FLOOD_POSTS clients post ~8 MiB each at once: with the intake memory budget
 * (what ships), and, as the peer in the same run, the same host with intake
 * unbounded. The server runs in a child of its own (its RSS is the server's
 * alone); this process is the clients.
 */
async function floodRow(posts: number, log: (m: string) => void): Promise<Row> {
  const { INGEST_MEMORY_BUDGET } = await import('../edge/http-host.js')
  const bodies = Array.from({ length: posts }, (_, i) => floodBody(`flood${i}`))
  const run = async (budget: number) => {
    const { spawn } = await import('node:child_process')
    const child = spawn(process.execPath, ['--expose-gc', childScript(), '--flood-child', String(budget)], {
      stdio: ['pipe', 'pipe', 'inherit']
    })
    let out = ''
    const ready = new Promise<{ url: string; token: string }>((resolve) =>
      child.stdout.on('data', (c) => {
        out += c
        const nl = out.indexOf('\n')
        if (nl >= 0 && out.startsWith('{"url"')) resolve(JSON.parse(out.slice(0, nl)) as { url: string; token: string })
      })
    )
    const { url, token } = await ready
    const statuses = await Promise.all(
      bodies.map(async (body) => {
        // A refusal can arrive before the whole body is sent: the host answers 503 and closes, and the upload is cut
        // (EPIPE). That is a refusal too (status 0 here), not a failed run.
        try {
          const res = await fetch(`${url}/ingest`, {
            method: 'POST',
            headers: { Authorization: `Bearer ${token}` },
            body
          })
          await res.arrayBuffer()
          return res.status
        } catch {
          return 0
        }
      })
    )
    child.stdin.end('report\n')
    await new Promise((resolve) => child.on('exit', resolve))
    const report = JSON.parse(out.slice(out.indexOf('\n') + 1)) as { baseRss: number; peakRss: number }
    return {
      ...report,
      ok: statuses.filter((x) => x === 200).length,
      busy: statuses.filter((x) => x === 503 || x === 0).length
    }
  }
  log(
    `telemetry: ${posts} concurrent posts of ${mib(FLOOD_BODY)}, intake budget ${mib(INGEST_MEMORY_BUDGET)}, then unbounded`
  )
  const bounded = await run(INGEST_MEMORY_BUDGET)
  const unbounded = await run(0)
  return {
    measure: `intake memory: ${posts} concurrent posts of ${mib(FLOOD_BODY)} (the daemon's peak RSS)`,
    tresor: `peak RSS ${mib(bounded.peakRss)} (${mib(bounded.baseRss)} before); ${bounded.ok} taken, ${bounded.busy} told 503 + Retry-After (some cut off mid-upload)`,
    peer: `same host, intake unbounded: peak RSS ${mib(unbounded.peakRss)} (${mib(unbounded.baseRss)} before); ${unbounded.ok} taken`,
    verdict: `bounded: ${bounded.peakRss < unbounded.peakRss ? 'met' : 'NOT met'} (${((unbounded.peakRss - unbounded.baseRss) / Math.max(1, bounded.peakRss - bounded.baseRss)).toFixed(1)}× less growth)`
  }
}

/**
 * The server side of the flood row: prints its URL and token, serves until told to report, then prints its peak RSS.
 */
export async function floodChild(budget: number): Promise<void> {
  const t = await streamingVaults({ settings: { telemetryBudgetKB: 2 * 1024 * 1024 } })
  await t.bob.close()
  const store = await TelemetryStore.open(t.alice)
  const token = 'e'.repeat(64)
  const { server, url } = await startHttpHost({
    handlers: createHandlers(t.alice, { telemetry: store }),
    token: 'f'.repeat(64),
    staticDir: t.alice.dir,
    ingest: { store, token },
    ingestMemory: budget > 0 ? budget : Number.POSITIVE_INFINITY
  })
  await store.ingest(boilerLines(CHUNK, 'warm'))
  ;(globalThis as { gc?: () => void }).gc?.()
  const baseRss = process.memoryUsage().rss
  process.stdout.write(JSON.stringify({ url, token }) + '\n')
  await new Promise<void>((resolve) => {
    process.stdin.on('data', () => resolve())
    process.stdin.on('end', () => resolve())
  })
  const peakRss = process.resourceUsage().maxRSS * 1024
  await new Promise((r) => (server as Server).close(r))
  await store.close()
  await t.alice.close()
  process.stdout.write(JSON.stringify({ baseRss, peakRss }) + '\n')
}
