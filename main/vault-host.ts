/**
 * The vault as the Electron host holds it: core's host (background open,
 * onboarding while the folder has no vault) with the desktop's providers.
 * Once the device key is unlocked the host follows the CouchDB server the
 * vault syncs with (sync/follow-on-unlock.ts), and tells its subscribers.
 * Free of Electron so it runs under plain Node.
 */
import { openHost, type VaultHost } from '../core/index.js'
import { JOINERS } from '../sync/join.js'
import { STORED_PEERS } from '../sync/recover-peers.js'
import { syncDomain, type SyncHostMethods } from '../sync/methods.js'
import { followOnUnlock } from '../sync/follow-on-unlock.js'

export type { VaultHost, SyncHostMethods }

export function openVaultHost(dir: string): VaultHost<SyncHostMethods> {
  const follow = followOnUnlock({
    onChange: () => host.publish({ topic: 'sync' }),
    onStatusError: (err) => console.error(`tresor: device status not signed: ${err.message}`)
  })
  const host = openHost({
    dir,
    joiners: JOINERS,
    recovery: STORED_PEERS,
    extensions: [syncDomain({ live: follow.live })],
    beforeClose: () => follow.stop()
  })
  const unlock = host.handlers['vault.unlock']
  host.handlers['vault.unlock'] = async (args) => {
    const result = await unlock(args)
    const vault = host.vault()
    const passphrase = (args as { passphrase?: unknown }).passphrase
    // Following is extra: a server that cannot be reached is the follower's to retry, never the unlock's failure.
    if (vault && typeof passphrase === 'string')
      await follow
        .unlocked(vault, passphrase)
        .catch((err: Error) => console.error(`tresor: not following: ${err.message}`))
    return result
  }
  return host
}
