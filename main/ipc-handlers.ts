/**
 * The IPC adapter between the renderer and core, kept free of Electron so it
 * can be tested in plain Node. `main/index.ts` registers the returned function
 * as the one `tresor:invoke` handler.
 */
import {
  BAD_ARGUMENT,
  CORE_REGISTRY,
  dispatch,
  OVERSIZED,
  toWireError,
  UNKNOWN_METHOD,
  type Registry,
  type WireError
} from '../core/index.js'

/**
 * Largest accepted argument object for most methods, as UTF-8 JSON; each method's own limit comes from the registry
 * (`maxArgBytes`).
 */
export const MAX_ARGS_BYTES = 64 * 1024

/** What crosses back over IPC: a plain object, since error prototypes do not survive the boundary. */
export type IpcResult = { ok: true; value: unknown } | { ok: false; error: WireError }

/** The part of Electron's IpcMainInvokeEvent the adapter looks at. */
export interface IpcEventLike {
  senderFrame: { url: string } | null
}

export type IpcHandler = (event: IpcEventLike, method: unknown, args: unknown) => Promise<IpcResult>

function argsSize(args: unknown): number {
  if (args === undefined) return 0
  let json: string | undefined
  try {
    json = JSON.stringify(args)
  } catch {
    throw BAD_ARGUMENT('arguments must be plain JSON')
  }
  return json === undefined ? 0 : Buffer.byteLength(json, 'utf8')
}

/**
 * Build the handler for `tresor:invoke`. Checks, in order: the sending frame
 * is ours, the method exists, the arguments are small; then dispatches to core.
 */
export function createIpcHandler(
  handlers: object,
  isTrustedSender: (frameUrl: string) => boolean,
  registry: Registry = CORE_REGISTRY
): IpcHandler {
  // Never log `args` (nor a WireError built from them): vault.unlock carries the passphrase.
  return async (event, method, args) => {
    try {
      const url = event.senderFrame?.url
      if (typeof url !== 'string' || !isTrustedSender(url)) {
        // core has no "forbidden" code; BAD_ARGUMENT says as little as possible.
        throw BAD_ARGUMENT('refused: the calling frame is not the Tresor window')
      }
      if (!registry.has(method)) throw UNKNOWN_METHOD(`no such method: ${String(method).slice(0, 64)}`)
      const limit = registry.maxArgBytes(method)
      if (argsSize(args) > limit) throw OVERSIZED(`arguments exceed ${limit} bytes`)
      return { ok: true, value: await dispatch(handlers, method, args, registry) }
    } catch (err) {
      return { ok: false, error: toWireError(err) }
    }
  }
}
