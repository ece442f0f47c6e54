/**
 * The desktop's additions to core's handlers: the passphrase may be kept in
 * the OS keychain (`vault.unlock` with `remember`), is used once to unlock at
 * start, and `vault.lock` with `forget` drops it. `vault.status` says whether
 * the keychain can be used here. Free of Electron; tested in Node.
 */
import type { Handlers } from '../core/index.js'
import type { SyncHostMethods } from '../sync/methods.js'
import type { AppHandlers } from './contract.js'
import type { Keychain } from './keychain.js'

/** Core's handlers with the desktop's extensions (main/contract.ts). */
export function withKeychain(handlers: Handlers & SyncHostMethods, keychain: Keychain): AppHandlers {
  return {
    ...handlers,
    'vault.status': async (args) => {
      const status = await handlers['vault.status'](args)
      const a = keychain.available()
      return {
        ...status,
        keychain: a.ok
          ? { ok: true, remembered: await keychain.has() }
          : { ok: false, reason: a.reason, remembered: false }
      }
    },
    'vault.unlock': async (args) => {
      const result = await handlers['vault.unlock'](args)
      const a = args as { passphrase: string; remember?: boolean }
      if (a.remember === true) {
        await keychain.remember(a.passphrase) // throws with the reason where the keychain is refused
      }
      return result
    },
    'vault.lock': async (args) => {
      if ((args as { forget?: boolean } | undefined)?.forget === true) {
        await keychain.forget()
      }
      return handlers['vault.lock']({})
    }
  }
}

/** At start: unlock with a remembered passphrase, if there is one that still works (else forget it). */
export async function unlockFromKeychain(handlers: Handlers, keychain: Keychain): Promise<boolean> {
  const passphrase = await keychain.recall()
  if (!passphrase) return false
  try {
    await handlers['vault.unlock']({ passphrase })
    return true
  } catch {
    await keychain.forget()
    return false
  }
}
