/**
 * The vault as the Electron host holds it: opened in the background so the
 * window shows at once; calls wait for the boot self-check. Free of Electron
 * so it runs under plain Node.
 */
import { createHandlers, METHODS, Vault, type Handlers } from '../core/index.js'
import { recordedStatus } from '../sync/couch-sync.js'

export interface VaultHost {
  /** Core's handler map; every call waits for the open, then answers or fails with the open error. */
  handlers: Handlers
  /** Close the vault if it opened (records the verified point). */
  close(): Promise<void>
}

type AnyHandler = (args: unknown) => Promise<unknown>

function handlerMap(fn: (method: keyof Handlers) => AnyHandler): Handlers {
  return Object.fromEntries(METHODS.map((m) => [m, fn(m)])) as unknown as Handlers
}

/**
 * Open the vault in `dir`. If that fails (NOT_FOUND when there is no vault yet,
 * MALFORMED for a damaged vault file) every call answers with that error, so
 * the renderer can say what is wrong instead of the app refusing to start.
 */
export function openVaultHost(dir: string): VaultHost {
  const opening = Vault.open({ dir })
  const ready: Promise<Handlers> = opening.then(
    (vault) => createHandlers(vault, { syncStatus: () => recordedStatus(vault) }),
    (err: unknown) => handlerMap(() => async () => { throw err })
  )
  return {
    handlers: handlerMap((m) => async (args) => ((await ready)[m] as AnyHandler)(args)),
    close: async () => {
      const vault = await opening.catch(() => null)
      await vault?.close()
    }
  }
}
