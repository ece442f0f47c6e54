/**
 * `/v1` over HTTP (issue 18): each route of core/v1.ts, its arguments taken from the path, the query (GET) or a JSON
 * body (POST) and checked against the route's schema before the registry method runs; lists paged
 * (`limit`, `offset`) with an ETag (`If-None-Match` → 304); a module whose flag is off answers 404 naming the flag;
 * a read-only token calls reading routes only; every error is an RFC 9457 problem (`application/problem+json`).
 * `GET /v1/openapi.json` is the OpenAPI 3.1 document generated from the same table.
 */
import { createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { TSchema } from '@sinclair/typebox'
import {
  BAD_ARGUMENT,
  dispatch,
  lazyPackage,
  loadV1,
  NOT_ALLOWED,
  NOT_FOUND,
  own,
  toWireError,
  VaultError,
  type Registry,
  type VaultErrorCode
} from '../core/index.js'

// Required when /v1 is first asked (this module loads then), not with the CLI, which is one file (edge/start.ts).
const { FormatRegistry } = lazyPackage<typeof import('@sinclair/typebox')>('@sinclair/typebox')()
const { Value } = lazyPackage<typeof import('@sinclair/typebox/value')>('@sinclair/typebox/value')()

type V1 = Awaited<ReturnType<typeof loadV1>>
type V1Route = V1['V1_ROUTES'][number]

if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => !Number.isNaN(Date.parse(v)))

const STATUS: Partial<Record<VaultErrorCode, number>> = {
  BAD_ARGUMENT: 400,
  MALFORMED: 400,
  NON_CANONICAL: 400,
  TOO_DEEP: 400,
  OVERSIZED: 413,
  UNAUTHORIZED: 401,
  NOT_ALLOWED: 403,
  NOT_A_MEMBER: 403,
  KEY_AUTH_FAILED: 403,
  NOT_FOUND: 404,
  UNKNOWN_METHOD: 404,
  DISABLED: 404,
  ALREADY_EXISTS: 409,
  READ_ONLY: 409,
  IN_USE: 409,
  LOCKED: 423,
  BACKPRESSURE: 503,
  STORAGE_FULL: 503,
  STORAGE_DAMAGED: 503,
  REMOTE_REFUSED: 502,
  UNREACHABLE: 502
}

export interface V1Options {
  handlers: object
  registry: Registry
  version: string
  /** The door every endpoint has (origin, token); `reader`: the call came with the read-only token. */
  admit(req: IncomingMessage): { status: number; error: { code: string; message: string } } | { reader: boolean }
  readBody(req: IncomingMessage, max: number): Promise<string>
  observed?(method: string, ok: boolean, code: string | null, started: number, reqId: string): void
  reqId(req: IncomingMessage): string
}

function problem(res: ServerResponse, status: number, code: string, detail: string, headers: Record<string, string>) {
  res.writeHead(status, { ...headers, 'Content-Type': 'application/problem+json' })
  res.end(
    JSON.stringify({
      type: `urn:tresor:problem:${code.toLowerCase().replace(/_/g, '-')}`,
      title: code.replace(/_/g, ' ').toLowerCase(),
      status,
      detail,
      code
    })
  )
}

/** A query value as the schema wants it: numbers and booleans from their text (anything else stays text and fails). */
function coerce(v: string, schema: TSchema | undefined): unknown {
  const type = (schema as { type?: string } | undefined)?.type
  if ((type === 'integer' || type === 'number') && /^-?\d+(\.\d+)?$/.test(v)) return Number(v)
  if (type === 'boolean' && (v === 'true' || v === 'false')) return v === 'true'
  return v
}

function checkArgs(r: V1Route, args: Record<string, unknown>): void {
  const props = r.args.properties as Record<string, TSchema>
  const extra = Object.keys(args).find((k) => !Object.hasOwn(props, k))
  if (extra !== undefined) throw BAD_ARGUMENT(`${extra.slice(0, 40)} is not an argument of ${r.verb} /v1${r.path}`)
  if (!Value.Check(r.args, args)) {
    const e = Value.Errors(r.args, args).First()
    throw BAD_ARGUMENT(`${e?.path || 'the arguments'}: ${e?.message ?? 'do not fit the schema'}`)
  }
}

export async function v1Handler(opts: V1Options) {
  const { MODULE_FLAGS, openApiDocument, PAGE_LIMIT, pathParams, V1_ROUTES } = await loadV1()
  const compiled = V1_ROUTES.map((r) => ({
    route: r,
    re: new RegExp(`^/v1${r.path.replace(/\{(\w+)\}/g, '([^/]+)')}$`),
    names: pathParams(r.path)
  }))
  let doc: string | null = null
  return async function v1(req: IncomingMessage, res: ServerResponse, url: URL, headers: Record<string, string>) {
    const admitted = opts.admit(req)
    if ('status' in admitted) return problem(res, admitted.status, admitted.error.code, admitted.error.message, headers)
    if (url.pathname === '/v1/openapi.json') {
      if (req.method !== 'GET') return problem(res, 405, 'BAD_ARGUMENT', 'use GET', headers)
      doc ??= JSON.stringify(openApiDocument(opts.version, opts.registry))
      res.writeHead(200, { ...headers, 'Content-Type': 'application/json' })
      return void res.end(doc)
    }
    const match = compiled.find((c) => c.route.verb === req.method && c.re.test(url.pathname))
    if (!match) {
      const other = compiled.some((c) => c.re.test(url.pathname))
      return other
        ? problem(res, 405, 'BAD_ARGUMENT', `use ${compiled.find((c) => c.re.test(url.pathname))!.route.verb}`, headers)
        : problem(res, 404, 'NOT_FOUND', `no route ${url.pathname.slice(0, 100)} (see /v1/openapi.json)`, headers)
    }
    const r = match.route
    const reqId = opts.reqId(req)
    res.setHeader('X-Request-Id', reqId)
    const started = performance.now()
    try {
      if (admitted.reader && !opts.registry.readOnly(r.method))
        throw NOT_ALLOWED(`${r.verb} /v1${r.path} signs or changes something: a read-only token may only read`)
      const flag = MODULE_FLAGS[r.module]
      if (flag) {
        const { state } = (await dispatch(opts.handlers, 'gov.state', {}, opts.registry)) as {
          state: { flags: object }
        }
        if (own(state.flags as Record<string, unknown>, flag) !== true)
          throw NOT_FOUND(`the ${r.module} module is off: flag ${flag} is not on`)
      }
      const args: Record<string, unknown> = Object.create(null) as Record<string, unknown>
      const raw = match.re.exec(url.pathname)!
      match.names.forEach((n, i) => (args[n] = decodeURIComponent(raw[i + 1]!)))
      let limit = PAGE_LIMIT.dflt
      let offset = 0
      if (r.verb === 'GET') {
        const props = r.args.properties as Record<string, TSchema>
        for (const [k, v] of url.searchParams) {
          if (r.list && (k === 'limit' || k === 'offset')) {
            const n = Number(v)
            if (!Number.isSafeInteger(n) || n < (k === 'limit' ? 1 : 0) || (k === 'limit' && n > PAGE_LIMIT.max))
              throw BAD_ARGUMENT(`${k}: a whole number${k === 'limit' ? ` from 1 to ${PAGE_LIMIT.max}` : ' from 0'}`)
            if (k === 'limit') limit = n
            else offset = n
          } else args[k] = coerce(v, own(props, k))
        }
      } else {
        const text = await opts.readBody(req, opts.registry.maxArgBytes(r.method))
        let body: unknown = {}
        try {
          body = text === '' ? {} : JSON.parse(text)
        } catch {
          throw BAD_ARGUMENT('the body must be JSON')
        }
        if (typeof body !== 'object' || body === null || Array.isArray(body))
          throw BAD_ARGUMENT('the body is a JSON object')
        for (const [k, v] of Object.entries(body)) {
          if (match.names.includes(k)) throw BAD_ARGUMENT(`${k} is in the path, not the body`)
          args[k] = v
        }
      }
      checkArgs(r, { ...args })
      const pages = typeof r.list === 'object' ? r.list.key : null
      const call = pages ? { ...args, offset, limit } : { ...args }
      const answer: unknown = await dispatch(opts.handlers, r.method, call, opts.registry)
      const value = r.pick ? r.pick(answer as never) : answer
      opts.observed?.(r.method, true, null, started, reqId)
      if (!r.list) {
        res.writeHead(200, { ...headers, 'Content-Type': 'application/json' })
        return void res.end(JSON.stringify(value))
      }
      const paged = pages
        ? { items: (value as Record<string, unknown[]>)[pages], total: (value as { total: number }).total }
        : { items: (value as unknown[]).slice(offset, offset + limit), total: (value as unknown[]).length }
      const text = JSON.stringify({ ...paged, limit, offset })
      const etag = `"${createHash('sha256').update(text).digest('hex').slice(0, 32)}"`
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, { ...headers, ETag: etag })
        return void res.end()
      }
      res.writeHead(200, { ...headers, 'Content-Type': 'application/json', ETag: etag })
      res.end(text)
    } catch (err) {
      const wire = toWireError(err)
      opts.observed?.(r.method, false, wire.code, started, reqId)
      const status = err instanceof VaultError ? (STATUS[wire.code] ?? 500) : 500
      return problem(res, status, wire.code, wire.message, headers)
    }
  }
}
