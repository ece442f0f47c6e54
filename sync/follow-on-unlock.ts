/**
 * Continuous sync for a host whose passphrase arrives at unlock (the desktop
 * app): once the device key is unlocked, the passphrase opens the CouchDB
 * credentials stored for the server this vault syncs with, and the host
 * follows it (sync/couch-follow.ts) until the vault closes. A vault that has
 * never synced, or whose credentials do not open, just does not follow (and
 * says why in the sync status' error).
 */
import { loadCredentials } from './credentials.js'
import { CouchSync } from './couch-sync.js'
import { CouchFollower } from './couch-follow.js'
import { loadSyncState } from './sync-state.js'
import type { Vault } from '../core/index.js'

export interface UnlockFollower {
  /** The running sync (what the host's sync methods answer from), or null. */
  live(): CouchSync | null
  /** After a successful unlock with `passphrase`: start following, if the vault syncs with a server. */
  unlocked(vault: Vault, passphrase: string): Promise<void>
  /** Before the vault closes. */
  stop(): Promise<void>
}

export function followOnUnlock(
  opts: { onChange?: () => void; onReport?: (line: string) => void } = {}
): UnlockFollower {
  let sync: CouchSync | null = null
  let follower: CouchFollower | null = null
  let starting: Promise<void> = Promise.resolve()
  return {
    live: () => sync,
    unlocked: async (vault, passphrase) => {
      starting = starting.then(async () => {
        if (follower) return
        const url = (await loadSyncState(vault.dir))?.url
        if (!url) return
        const credentials = (await loadCredentials(vault.dir, url, passphrase)) ?? undefined
        sync = await CouchSync.open(vault, { url, credentials })
        follower = CouchFollower.follow(vault, sync, opts)
      })
      await starting
    },
    stop: async () => {
      await starting.catch(() => undefined) // a failed start left nothing running
      const [f, s] = [follower, sync]
      follower = null
      sync = null
      await f?.stop()
      await s?.close()
    }
  }
}
