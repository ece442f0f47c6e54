/**
 * The vault as the Electron host holds it: core's host (background open,
 * onboarding while the folder has no vault) with the desktop's providers.
 * Free of Electron so it runs under plain Node.
 */
import { openHost, type VaultHost } from '../core/index.js'
import { JOINERS } from '../sync/join.js'
import { STORED_PEERS } from '../sync/recover-peers.js'
import { syncDomain, type SyncHostMethods } from '../sync/methods.js'

export type { VaultHost, SyncHostMethods }

export function openVaultHost(dir: string): VaultHost<SyncHostMethods> {
  return openHost({ dir, joiners: JOINERS, recovery: STORED_PEERS, extensions: [syncDomain()] })
}
