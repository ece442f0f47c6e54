/**
 * The edge daemon's HTTP host: core's typed API at `POST /api/<method>` and
 * the built renderer as static files, on loopback by default. Every API call
 * needs the per-install token (`Authorization: Bearer`), and calls from
 * another origin are refused. Answers use the IPC envelope:
 * `{ ok: true, value }` or `{ ok: false, error: { type, code, message } }`.
 *
 * Telemetry producers post NDJSON to `POST /ingest[?stream=S]` with their own
 * ingest token (it opens nothing else). The answer carries a receipt per line
 * and is sent only once every admitted reading is on disk. When the disk
 * budget is full the answer is 503 with Retry-After and nothing is taken.
 */
import { own } from '../core/dict.js'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { readFile } from 'node:fs/promises'
import { extname, join, normalize, resolve, sep } from 'node:path'
import { timingSafeEqual } from 'node:crypto'
import { dispatch, isMethod, toWireError, VaultError, type Handlers } from '../core/index.js'
import { CONTENT_SECURITY_POLICY } from '../main/window-options.js'
import type { TelemetryStore } from '../core/telemetry/store.js'

export const MAX_BODY_BYTES = 64 * 1024
export const MAX_INGEST_BYTES = 8 * 1024 * 1024

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json', '.woff2': 'font/woff2'
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

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given), b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

async function readBody(req: IncomingMessage, max = MAX_BODY_BYTES): Promise<string> {
  let size = 0
  const chunks: Buffer[] = []
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > max) throw new VaultError('OVERSIZED', `request body exceeds ${max} bytes`)
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}

export interface HttpHostOptions {
  handlers: Handlers
  token: string
  staticDir: string
  host?: string
  port?: number
  /** Telemetry intake: the store (null while there is no vault yet) and the producers' token. */
  ingest?: { store: TelemetryStore | (() => TelemetryStore | null); token: string }
}

const INGEST_STATUS: Partial<Record<string, number>> = { BACKPRESSURE: 503, DISABLED: 403, READ_ONLY: 409, OVERSIZED: 413, BAD_ARGUMENT: 400 }

/** Start the host; resolves with the server and the URL it listens on. */
export async function startHttpHost(opts: HttpHostOptions): Promise<{ server: Server; url: string }> {
  const host = opts.host ?? '127.0.0.1'
  let origin = ''
  const server = createServer((req, res) => {
    void handle(req, res).catch((err) => send(res, 500, { ok: false, error: toWireError(err) }))
  })
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', origin)
    if (url.pathname === '/ingest') return ingest(req, res, url)
    if (url.pathname.startsWith('/api/')) {
      // Never log the body: vault.unlock carries the passphrase.
      if (req.method !== 'POST') return send(res, 405, { ok: false, error: { type: 'VaultError', code: 'BAD_ARGUMENT', message: 'use POST' } })
      if (req.headers.origin !== undefined && req.headers.origin !== origin) return send(res, 403, { ok: false, error: { type: 'VaultError', code: 'BAD_ARGUMENT', message: 'refused: calls from another origin' } })
      const auth = req.headers.authorization ?? ''
      if (!auth.startsWith('Bearer ') || !sameToken(auth.slice(7), opts.token)) return send(res, 401, { ok: false, error: { type: 'VaultError', code: 'LOCKED', message: 'a valid access token is required' } })
      const method = decodeURIComponent(url.pathname.slice(5))
      try {
        if (!isMethod(method)) throw new VaultError('UNKNOWN_METHOD', `no such method: ${method.slice(0, 64)}`)
        const text = await readBody(req)
        let args: unknown
        try { args = text === '' ? {} : JSON.parse(text) } catch { throw new VaultError('BAD_ARGUMENT', 'the body must be JSON') }
        return send(res, 200, { ok: true, value: await dispatch(opts.handlers, method, args) })
      } catch (err) {
        const status = err instanceof VaultError && err.code === 'OVERSIZED' ? 413 : 200
        return send(res, status, { ok: false, error: toWireError(err) })
      }
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { ok: false })
    const rel = url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname).replace(/^\/+/, '')
    const root = resolve(opts.staticDir)
    const path = normalize(join(root, rel))
    if (!path.startsWith(root + sep)) return send(res, 404, { ok: false })
    const body = await readFile(path).catch(() => null)
    if (!body) return send(res, 404, { ok: false })
    res.writeHead(200, { 'Content-Type': own(TYPES, extname(path)) ?? 'application/octet-stream', ...SECURITY_HEADERS })
    res.end(req.method === 'HEAD' ? undefined : body)
  }
  async function ingest(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const refuse = (status: number, code: string, message: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'Content-Type': 'application/json', ...SECURITY_HEADERS, ...headers, ...(status >= 400 ? { Connection: 'close' } : {}) })
      res.end(JSON.stringify({ ok: false, error: { type: 'VaultError', code, message } }))
    }
    if (!opts.ingest) return refuse(404, 'NOT_FOUND', 'this host takes no telemetry')
    if (req.method !== 'POST') return refuse(405, 'BAD_ARGUMENT', 'use POST with NDJSON readings')
    if (req.headers.origin !== undefined && req.headers.origin !== origin) return refuse(403, 'BAD_ARGUMENT', 'refused: calls from another origin')
    const auth = req.headers.authorization ?? ''
    if (!auth.startsWith('Bearer ') || !sameToken(auth.slice(7), opts.ingest.token)) return refuse(401, 'LOCKED', 'a valid ingest token is required')
    const store = typeof opts.ingest.store === 'function' ? opts.ingest.store() : opts.ingest.store
    if (!store) return refuse(503, 'NOT_FOUND', 'no vault is open yet', { 'Retry-After': '5' })
    const usage = store.usage()
    if (usage.full) return refuse(503, 'BACKPRESSURE', `telemetry disk budget is full (${usage.usedBytes} of ${usage.budgetBytes} bytes): retry later`, { 'Retry-After': '1' })
    try {
      const text = await readBody(req, MAX_INGEST_BYTES)
      const result = await store.ingest(text, { stream: url.searchParams.get('stream') ?? undefined, source: 'http' })
      return send(res, 200, { ok: true, value: result })
    } catch (err) {
      const wire = toWireError(err)
      return refuse(own(INGEST_STATUS, wire.code) ?? 500, wire.code, wire.message, wire.code === 'BACKPRESSURE' ? { 'Retry-After': '1' } : {})
    }
  }
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(opts.port ?? 0, host, () => resolve()) })
  const address = server.address() as { port: number }
  origin = `http://${host}:${address.port}`
  return { server, url: origin }
}
