/**
 * The renderer's one way to reach core: `send(method, args)`, typed against
 * core's Handlers with the hosts' extensions (main/contract.ts). Only types
 * come from core and main; the transport is whatever the host provides:
 *   - Electron: `window.tresor.invoke` from the preload;
 *   - browser (edge daemon): `POST /api/<method>` with a JSON body and
 *     `Authorization: Bearer <token>`, the token taken from `#token=...`.
 * Both answer with the same envelope, `{ ok: true, value }` or
 * `{ ok: false, error: { type, code, message } }`.
 */
import { nullProto } from './records.js'
import type { VaultErrorCode, WireError } from '../../core/index.js'
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

const transport: Transport = window.tresor ? ipcTransport(window.tresor) : httpTransport(takeFragmentToken())

/** Call one core method. Rejects with an ApiError carrying core's error code. */
export async function send<M extends Method>(method: M, args: ArgsOf<M>): Promise<ResultOf<M>> {
  return nullProto(unwrap(await transport(method, args))) as ResultOf<M>
}

export type Send = typeof send
