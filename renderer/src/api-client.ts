/**
 * The renderer's one way to reach core: `send(method, args)`, typed against
 * core's Handlers with the hosts' extensions (main/contract.ts). Only types
 * come from core and main; the transport is whatever the host provides:
 *   - Electron: `window.tresor.invoke` from the preload;
 *   - browser (edge daemon): `POST /api/<method>` with a JSON body and
 *     `Authorization: Bearer <token>`, the token taken from `#token=...`.
 * Both answer with the same envelope, `{ ok: true, value }` or
 * `{ ok: false, error: { type, code, message } }`.
 *
 * `follow(onEvents, onState)` tells the views what changed, so they refresh on
 * it instead of polling: Electron main pushes over IPC; the edge daemon streams
 * `GET /events` (Server-Sent Events read with fetch, so the token travels in
 * the Authorization header as for every call), reconnecting with backoff.
 */
import { nullProto } from './records.js'
import type { VaultErrorCode, ViewEvent, WireError } from '../../core/index.js'
import type { AppArgsOf as ArgsOf, AppMethod as Method, AppResultOf as ResultOf } from '../../main/contract.js'
import type { TresorBridge } from '../../main/preload.js'
import type { IpcResult } from '../../main/ipc-handlers.js'

declare global {
  interface Window {
    tresor?: TresorBridge
  }
}

/** A core error, rebuilt on this side of the boundary (prototypes do not cross it). */
export class ApiError extends Error {
  readonly code: VaultErrorCode | 'TRANSPORT'

  constructor(code: ApiError['code'], message: string) {
    super(message)
    this.name = 'ApiError'
    this.code = code
  }
}

type Transport = (method: Method, args: unknown) => Promise<unknown>

function isWireError(value: unknown): value is WireError {
  const e = value as WireError | null
  return (
    typeof e === 'object' &&
    e !== null &&
    e.type === 'VaultError' &&
    typeof e.code === 'string' &&
    typeof e.message === 'string'
  )
}

function unwrap(envelope: unknown): unknown {
  const r = envelope as IpcResult | null
  if (typeof r !== 'object' || r === null || typeof r.ok !== 'boolean')
    throw new ApiError('TRANSPORT', 'malformed answer from the host')
  if (r.ok) return r.value
  if (!isWireError(r.error)) throw new ApiError('TRANSPORT', 'malformed error from the host')
  throw new ApiError(r.error.code, r.error.message)
}

function ipcTransport(bridge: TresorBridge): Transport {
  return async (method, args) => bridge.invoke(method, args)
}

/** Take the token from the fragment once and drop it from the address bar and history. */
function takeFragmentToken(): string | null {
  const token = new URLSearchParams(window.location.hash.slice(1)).get('token')
  if (token) window.history.replaceState(null, '', window.location.pathname + window.location.search)
  return token
}

function httpTransport(token: string | null): Transport {
  return async (method, args) => {
    if (!token) throw new ApiError('TRANSPORT', 'no access token: open the link printed by the Tresor daemon')
    let res: Response
    try {
      res = await fetch(`/api/${method}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: JSON.stringify(args ?? {}),
        credentials: 'omit',
        cache: 'no-store'
      })
    } catch {
      throw new ApiError('TRANSPORT', 'the Tresor daemon is not reachable')
    }
    const body: unknown = await res.json().catch(() => null)
    if (body === null) throw new ApiError('TRANSPORT', `HTTP ${res.status} without a Tresor answer`)
    return body
  }
}

/** Whether the push channel is up: while it is not, a view may poll (and refresh once it is back). */
export type FollowState = 'live' | 'reconnecting'
type Follow = (onEvents: (events: ViewEvent[]) => void, onState: (state: FollowState) => void) => () => void

function ipcFollow(bridge: TresorBridge): Follow {
  return (onEvents, onState) => {
    onState('live')
    return bridge.onEvents(onEvents)
  }
}

/** Parse a Server-Sent Events body: each `data:` line's JSON `{events}` goes to `onEvents`. */
async function readEvents(body: ReadableStream<Uint8Array>, onEvents: (events: ViewEvent[]) => void): Promise<void> {
  const reader = body.getReader()
  const utf8 = new TextDecoder()
  let buffer = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) return
    buffer += utf8.decode(value, { stream: true })
    let cut: number
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const message = buffer.slice(0, cut)
      buffer = buffer.slice(cut + 2)
      for (const line of message.split('\n')) {
        if (!line.startsWith('data: ')) continue
        const parsed = JSON.parse(line.slice(6)) as { events?: unknown }
        if (Array.isArray(parsed.events)) onEvents(parsed.events as ViewEvent[])
      }
    }
  }
}

function httpFollow(token: string | null): Follow {
  return (onEvents, onState) => {
    let stopped = false
    let controller: AbortController | null = null
    let retry: ReturnType<typeof setTimeout> | null = null
    const connect = async (delay: number) => {
      if (stopped || !token) return
      controller = new AbortController()
      try {
        const res = await fetch('/events', {
          headers: { Authorization: `Bearer ${token}` },
          credentials: 'omit',
          cache: 'no-store',
          signal: controller.signal
        })
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`)
        onState('live')
        delay = 500
        await readEvents(res.body, onEvents)
      } catch {
        // the daemon stopped or the network dropped: say so, and try again with backoff
      }
      if (stopped) return
      onState('reconnecting')
      retry = setTimeout(() => void connect(Math.min(delay * 2, 15_000)), delay)
    }
    void connect(500)
    return () => {
      stopped = true
      controller?.abort()
      if (retry) clearTimeout(retry)
    }
  }
}

const fragmentToken = window.tresor ? null : takeFragmentToken()
const transport: Transport = window.tresor ? ipcTransport(window.tresor) : httpTransport(fragmentToken)
/** Follow the host's changes (see the header). Returns the stop. */
export const follow: Follow = window.tresor ? ipcFollow(window.tresor) : httpFollow(fragmentToken)

/** Call one core method. Rejects with an ApiError carrying core's error code. */
export async function send<M extends Method>(method: M, args: ArgsOf<M>): Promise<ResultOf<M>> {
  return nullProto(unwrap(await transport(method, args))) as ResultOf<M>
}

export type Send = typeof send
