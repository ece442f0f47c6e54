/**
 * The edge daemon's HTTP host: core's typed API at `POST /api/<method>` and
 * the built renderer as static files, on loopback by default. Every API call
 * needs the per-install token (`Authorization: Bearer`) or, for a method that
 * signs, writes and changes nothing, the read-only token (monitoring, a
 * reviewer's dashboard); calls from another origin are refused. Answers use the IPC envelope:
 * `{ ok: true, value }` or `{ ok: false, error: { type, code, message } }`.
 *
 * `GET /events` (same token, same origin rule) is a Server-Sent Events stream of what changed: one `data:` line per
 * burst (core's followHost), naming the topics (vault, sync, devices, …); a comment line keeps it open.
 * Views fetch what they show again when told, instead of polling.
 *
 * Telemetry producers post NDJSON to `POST /ingest[?stream=S]` with their own
 * ingest token (it opens nothing else). The answer carries a receipt per line
 * and is sent only once every admitted reading is on disk. When the disk
 * budget is full the answer is 503 with Retry-After and nothing is taken.
 *
 * With `serve --witness`, `POST /add-checkpoint` is the tlog-witness protocol (c2sp.org/tlog-witness): no token, as
 * the spec has it (only a checkpoint signed by a log this device follows is cosigned), the same origin rule.
 */
import {
  BACKPRESSURE,
  BAD_ARGUMENT,
  CONTENT_SECURITY_POLICY,
  CORE_REGISTRY,
  dispatch,
  lazyPackage,
  NOT_ALLOWED,
  followHost,
  MAX_WITNESS_REQUEST,
  OVERSIZED,
  own,
  toWireError,
  TRESOR_VERSION,
  UNAUTHORIZED,
  UNKNOWN_METHOD,
  VaultError,
  type Registry,
  type TelemetryStore,
  type WireError,
  type VaultHost,
  type WitnessResponse
} from '../core/index.js'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { readFile } from 'node:fs/promises'
import { extname, join, normalize, resolve, sep } from 'node:path'
import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { ApiObservation } from './observe.js'
import type { v1Handler, V1Options } from './v1-host.js'

// Node's HTTP server for `tresor serve` only, not every CLI call (edge/start.ts).
const http = lazyPackage<typeof import('node:http')>('node:http')

/** The default body limit; an API call's is its method's (`maxArgBytes`: 64 KiB, a bundle's text 48 MiB). */
export const MAX_BODY_BYTES = 64 * 1024
export const MAX_INGEST_BYTES = 8 * 1024 * 1024

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2'
}

const SECURITY_HEADERS = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store'
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json', ...SECURITY_HEADERS })
  res.end(JSON.stringify(body))
}

/** A request id: the caller's `X-Request-Id` when it is a plain token, else a fresh one. */
function requestId(given: string | string[] | undefined): string {
  return typeof given === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(given) ? given : randomBytes(8).toString('hex')
}

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given),
    b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

/**
 * A request body as text: at most `max` bytes, and valid UTF-8 (refused with
 * the reason, never repaired: the vault must not sign U+FFFD where the sender
 * meant something else). With a budget, the bytes read count against it until
 * `release` is called, so the caller keeps them counted while it works on the
 * text.
 */
async function readBody(
  req: IncomingMessage,
  max = MAX_BODY_BYTES,
  budget?: { used: number; max: number }
): Promise<{ text: string; release: () => void }> {
  let size = 0
  let held = true
  const release = () => {
    if (held && budget) budget.used -= Math.min(size, budget.used)
    held = false
  }
  const chunks: Buffer[] = []
  try {
    for await (const chunk of req) {
      const n = (chunk as Buffer).length
      size += n
      if (size > max) throw OVERSIZED(`request body exceeds ${max} bytes`)
      if (budget) {
        budget.used += n
        if (budget.used > budget.max)
          throw BACKPRESSURE(`too much input is arriving at once (over ${budget.max} bytes): retry shortly`)
      }
      chunks.push(chunk as Buffer)
    }
    return { text: UTF8.decode(Buffer.concat(chunks)), release }
  } catch (err) {
    release()
    if (err instanceof TypeError) throw BAD_ARGUMENT('the request body is not valid UTF-8')
    throw err
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * Bytes of telemetry bodies all requests may hold at once, from the first byte
 * read until the store has sealed them: beyond it, 503 with Retry-After. A body
 * costs ~20× its size while it is parsed, sealed and answered (bench: intake
 * memory), so 16 MiB — two bodies of the largest size — keeps the flood
 * growth to a few hundred MiB.
 */
export const INGEST_MEMORY_BUDGET = 16 * 1024 * 1024

const EVENTS_HEARTBEAT_MS = 15_000
/** Streams open at once (each browser tab holds one): beyond it, 503. */
const MAX_EVENT_STREAMS = 64

export interface HttpHostOptions {
  handlers: object
  /** The methods served and their metadata (default: core's; a host with extensions passes its own). */
  registry?: Registry
  token: string
  /** A read-only token: the API's reading methods, the event stream and the metrics; nothing that signs or changes. */
  readerToken?: string
  staticDir: string
  host?: string
  port?: number
  /** Bytes all telemetry bodies being read at once may hold (default INGEST_MEMORY_BUDGET). */
  ingestMemory?: number
  /** Telemetry intake: the store (null while there is no vault yet) and the producers' token. */
  ingest?: { store: TelemetryStore | (() => TelemetryStore | null); token: string }
  /** What `GET /events` streams: the host's subscribe (core/host.ts). */
  events?: VaultHost['subscribe']
  /** The tlog-witness endpoint `POST /add-checkpoint` (no token: the checkpoint's signature is what counts). */
  witness?: () => { addCheckpoint(body: string): Promise<WitnessResponse> } | null
  /** Logs and metrics (edge/observe.ts): each API call and ingest is told here; `GET /metrics` serves its text. */
  observe?: {
    api(o: ApiObservation): void
    ingest(reqId: string, counts: Record<string, number>): void
    metrics(): Promise<{ contentType: string; body: string }>
  }
}

const INGEST_STATUS: Partial<Record<string, number>> = {
  BACKPRESSURE: 503,
  DISABLED: 403,
  READ_ONLY: 409,
  OVERSIZED: 413,
  BAD_ARGUMENT: 400,
  STORAGE_FULL: 503,
  STORAGE_DAMAGED: 409
}

/** Start the host; resolves with the server and the URL it listens on. */
export async function startHttpHost(
  opts: HttpHostOptions
): Promise<{ server: Server; url: string; endStreams: () => void }> {
  const host = opts.host ?? '127.0.0.1'
  let origin = ''
  const intake = { used: 0, max: opts.ingestMemory ?? INGEST_MEMORY_BUDGET }
  const registry = opts.registry ?? CORE_REGISTRY
  const server = http().createServer((req, res) => {
    void handle(req, res).catch((err) => send(res, 500, { ok: false, error: toWireError(err) }))
  })
  const streams = new Set<ServerResponse>()
  /**
   * Every endpoint's door: calls from this origin only, with the endpoint's token (for access, the read-only token
   * too). The refusal, or who came in: `reader` when it was the read-only token.
   */
  function admission(
    req: IncomingMessage,
    token: string,
    kind: 'access' | 'ingest'
  ): { status: number; error: WireError } | { reader: boolean } {
    if (req.headers.origin !== undefined && req.headers.origin !== origin)
      return {
        status: 403,
        error: { type: 'VaultError', code: 'BAD_ARGUMENT', message: 'refused: calls from another origin' }
      }
    const auth = req.headers.authorization ?? ''
    const given = auth.startsWith('Bearer ') ? auth.slice(7) : ''
    const reader = kind === 'access' && opts.readerToken !== undefined && sameToken(given, opts.readerToken)
    if (!reader && !sameToken(given, token))
      return { status: 401, error: toWireError(UNAUTHORIZED(`a valid ${kind} token is required`)) }
    return { reader }
  }
  // /v1 and its schemas load with the first /v1 call: the CLI and /api do not pay for them
  let v1: Awaited<ReturnType<typeof v1Handler>> | null = null
  const v1Options = (): V1Options => ({
    handlers: opts.handlers,
    registry,
    version: TRESOR_VERSION,
    admit: (req) => admission(req, opts.token, 'access'),
    readBody: async (req, max) => (await readBody(req, max)).text,
    reqId: (req) => requestId(req.headers['x-request-id']),
    observed: (method, ok, code, started, reqId) =>
      opts.observe?.api({ reqId, method, ok, code, seconds: (performance.now() - started) / 1000 })
  })
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', origin)
    if (url.pathname === '/v1' || url.pathname.startsWith('/v1/')) {
      v1 ??= await (await import('./v1-host.js')).v1Handler(v1Options())
      return v1(req, res, url, SECURITY_HEADERS)
    }
    if (url.pathname === '/ingest') return ingest(req, res, url)
    if (url.pathname === '/events') return events(req, res)
    if (url.pathname === '/add-checkpoint') return addCheckpoint(req, res)
    if (url.pathname === '/metrics') return metrics(req, res)
    if (url.pathname.startsWith('/api/')) {
      // Never log the body: vault.unlock carries the passphrase.
      if (req.method !== 'POST')
        return send(res, 405, { ok: false, error: { type: 'VaultError', code: 'BAD_ARGUMENT', message: 'use POST' } })
      const door = admission(req, opts.token, 'access')
      if ('status' in door) return send(res, door.status, { ok: false, error: door.error })
      let method: string
      try {
        method = decodeURIComponent(url.pathname.slice(5))
      } catch {
        return send(res, 400, {
          ok: false,
          error: {
            type: 'VaultError',
            code: 'BAD_ARGUMENT',
            message: 'the URL is not well-formed (bad percent-encoding)'
          }
        })
      }
      const reqId = requestId(req.headers['x-request-id'])
      res.setHeader('X-Request-Id', reqId)
      const started = performance.now()
      // a method name that is not one is counted under one label, not under whatever the caller wrote
      const observed = (ok: boolean, code: string | null) =>
        opts.observe?.api({
          reqId,
          method: registry.has(method) ? method : '(unknown)',
          ok,
          code,
          seconds: (performance.now() - started) / 1000
        })
      try {
        if (!registry.has(method)) throw UNKNOWN_METHOD(`no such method: ${String(method).slice(0, 64)}`)
        if (door.reader && !registry.readOnly(method)) {
          observed(false, 'NOT_ALLOWED')
          return send(res, 403, {
            ok: false,
            error: toWireError(NOT_ALLOWED(`${method} signs or changes something: a read-only token may only read`))
          })
        }
        const { text } = await readBody(req, registry.maxArgBytes(method))
        let args: unknown
        try {
          args = text === '' ? {} : JSON.parse(text)
        } catch {
          throw BAD_ARGUMENT('the body must be JSON')
        }
        const value = await dispatch(opts.handlers, method, args, registry)
        observed(true, null)
        return send(res, 200, { ok: true, value })
      } catch (err) {
        const status =
          err instanceof VaultError && err.code === 'OVERSIZED'
            ? 413
            : err instanceof VaultError && err.code === 'BAD_ARGUMENT' && /UTF-8/.test(err.message)
              ? 400
              : 200
        const wire = toWireError(err)
        observed(false, wire.code)
        return send(res, status, { ok: false, error: wire })
      }
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { ok: false })
    let rel: string
    try {
      rel = url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname).replace(/^\/+/, '')
    } catch {
      return send(res, 400, { ok: false })
    }
    const root = resolve(opts.staticDir)
    const path = normalize(join(root, rel))
    if (!path.startsWith(root + sep)) return send(res, 404, { ok: false })
    const body = await readFile(path).catch(() => null)
    if (!body) return send(res, 404, { ok: false })
    res.writeHead(200, { 'Content-Type': own(TYPES, extname(path)) ?? 'application/octet-stream', ...SECURITY_HEADERS })
    res.end(req.method === 'HEAD' ? undefined : body)
  }
  /** Prometheus text format, with the access token (metrics name methods and counts, never values). */
  async function metrics(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET')
      return send(res, 405, { ok: false, error: { type: 'VaultError', code: 'BAD_ARGUMENT', message: 'use GET' } })
    const refused = admission(req, opts.token, 'access')
    if ('status' in refused) return send(res, refused.status, { ok: false, error: refused.error })
    if (!opts.observe)
      return send(res, 404, { ok: false, error: { type: 'VaultError', code: 'NOT_FOUND', message: 'no metrics here' } })
    const m = await opts.observe.metrics()
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': m.contentType })
    res.end(m.body)
  }
  /** c2sp.org/tlog-witness: the answer is the witness's own status, content type and body. */
  async function addCheckpoint(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const plain = (status: number, text: string) => {
      res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' })
      res.end(`${text}\n`)
    }
    if (req.method !== 'POST') return plain(405, 'use POST')
    if (req.headers.origin !== undefined && req.headers.origin !== origin)
      return plain(403, 'calls from another origin')
    const witness = opts.witness?.()
    if (!witness) return plain(404, 'this host is no witness (tresor serve --witness)')
    let text: string
    try {
      text = (await readBody(req, MAX_WITNESS_REQUEST)).text
    } catch (err) {
      return plain(err instanceof VaultError && err.code === 'OVERSIZED' ? 413 : 400, (err as Error).message)
    }
    const r = await witness.addCheckpoint(text)
    res.writeHead(r.status, { ...SECURITY_HEADERS, 'Content-Type': r.contentType })
    res.end(r.body)
  }
  function events(req: IncomingMessage, res: ServerResponse): void {
    const refuse = (status: number, code: string, message: string) =>
      send(res, status, { ok: false, error: { type: 'VaultError', code, message } })
    if (req.method !== 'GET') return refuse(405, 'BAD_ARGUMENT', 'use GET')
    const refused = admission(req, opts.token, 'access')
    if ('status' in refused) return refuse(refused.status, refused.error.code, refused.error.message)
    if (!opts.events) return refuse(404, 'NOT_FOUND', 'this host streams no events')
    if (streams.size >= MAX_EVENT_STREAMS) return refuse(503, 'BACKPRESSURE', 'too many event streams are open')
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'Content-Type': 'text/event-stream; charset=utf-8',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no'
    })
    res.write(': tresor events\n\n')
    streams.add(res)
    const unsubscribe = followHost(opts.events, (events) => res.write(`data: ${JSON.stringify({ events })}\n\n`))
    const heartbeat = setInterval(() => res.write(': ping\n\n'), EVENTS_HEARTBEAT_MS)
    const end = () => {
      unsubscribe()
      clearInterval(heartbeat)
      streams.delete(res)
    }
    res.on('close', end)
    res.on('error', end)
  }
  async function ingest(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const refuse = (status: number, code: string, message: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, {
        'Content-Type': 'application/json',
        ...SECURITY_HEADERS,
        ...headers,
        ...(status >= 400 ? { Connection: 'close' } : {})
      })
      res.end(JSON.stringify({ ok: false, error: { type: 'VaultError', code, message } }))
    }
    if (!opts.ingest) return refuse(404, 'NOT_FOUND', 'this host takes no telemetry')
    if (req.method !== 'POST') return refuse(405, 'BAD_ARGUMENT', 'use POST with NDJSON readings')
    const refused = admission(req, opts.ingest.token, 'ingest')
    if ('status' in refused) return refuse(refused.status, refused.error.code, refused.error.message)
    const store = typeof opts.ingest.store === 'function' ? opts.ingest.store() : opts.ingest.store
    if (!store) return refuse(503, 'NOT_FOUND', 'no vault is open yet', { 'Retry-After': '5' })
    const usage = store.usage()
    if (usage.full)
      return refuse(
        503,
        'BACKPRESSURE',
        `telemetry disk budget is full (${usage.usedBytes} of ${usage.budgetBytes} bytes): retry later`,
        { 'Retry-After': '1' }
      )
    try {
      const declared = Number(req.headers['content-length'] ?? 0)
      if (declared > 0 && intake.used + declared > intake.max)
        return refuse(
          503,
          'BACKPRESSURE',
          `too much input is arriving at once (over ${intake.max} bytes): retry shortly`,
          { 'Retry-After': '1' }
        )
      // The body's bytes stay counted until its readings are in: the budget bounds what intake holds, parsing included.
      const { text, release } = await readBody(req, MAX_INGEST_BYTES, intake)
      try {
        const result = await store.ingest(text, { stream: url.searchParams.get('stream') ?? undefined, source: 'http' })
        opts.observe?.ingest(requestId(req.headers['x-request-id']), {
          ADMIT: result.admitted,
          DUPLICATE: result.duplicates,
          QUARANTINE: result.quarantined
        })
        return send(res, 200, { ok: true, value: result })
      } finally {
        release()
      }
    } catch (err) {
      const wire = toWireError(err)
      return refuse(
        own(INGEST_STATUS, wire.code) ?? 500,
        wire.code,
        wire.message,
        wire.code === 'BACKPRESSURE' ? { 'Retry-After': '1' } : {}
      )
    }
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, host, () => resolve())
  })
  const address = server.address() as { port: number }
  origin = `http://${host}:${address.port}`
  const endStreams = () => {
    for (const r of streams) r.end()
  }
  return { server, url: origin, endStreams }
}
