/**
 * Continuous sync for a host whose passphrase arrives at unlock (the desktop
 * app): once the device key is unlocked, the passphrase opens the CouchDB
 * credentials stored for the server this vault syncs with, and the host
 * follows it (sync/couch-follow.ts) until the vault closes, signing its
 * device status while it does (core/status-reporter.ts). A vault that has
 * never synced, or whose credentials do not open, just does not follow (and
 * says why in the sync status' error).
 */
import { loadCredentials } from './credentials.js'
import { CouchSync, syncStanding } from './couch-sync.js'
import { CouchFollower } from './couch-follow.js'
import { loadSyncState } from './sync-state.js'
import { StatusReporter, TRESOR_VERSION, type Vault } from '../core/index.js'

export interface UnlockFollower {
  /** The running sync (what the host's sync methods answer from), or null. */
  live(): CouchSync | null
  /** After a successful unlock with `passphrase`: start following, if the vault syncs with a server. */
  unlocked(vault: Vault, passphrase: string): Promise<void>
  /** Before the vault closes. */
  stop(): Promise<void>
}

export function followOnUnlock(
  opts: { onChange?: () => void; onReport?: (line: string) => void; onStatusError?: (err: Error) => void } = {}
): UnlockFollower {
  let sync: CouchSync | null = null
  let follower: CouchFollower | null = null
  let reporter: StatusReporter | null = null
  let starting: Promise<void> = Promise.resolve()
  return {
    live: () => sync,
    unlocked: async (vault, passphrase) => {
      starting = starting.then(async () => {
        if (follower) return
        const url = (await loadSyncState(vault.dir))?.url
        if (!url) return
        const credentials = (await loadCredentials(vault.dir, url, passphrase)) ?? undefined
        const s = await CouchSync.open(vault, { url, credentials })
        sync = s
        const r = new StatusReporter(vault, {
          software: TRESOR_VERSION,
          sync: async () => syncStanding(await s.status()),
          onError: opts.onStatusError
        })
        reporter = r
        follower = CouchFollower.follow(vault, s, {
          onReport: opts.onReport,
          onChange: () => {
            r.request('sync')
            opts.onChange?.()
          }
        })
      })
      await starting
    },
    stop: async () => {
      await starting.catch(() => undefined) // a failed start left nothing running
      const [f, s, r] = [follower, sync, reporter]
      follower = null
      sync = null
      reporter = null
      await r?.stop()
      await f?.stop()
      await s?.close()
    }
  }
}
