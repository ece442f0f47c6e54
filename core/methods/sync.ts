/** Sync status, computed by sync/ (core never imports it) and handed in by the host. */
import { reads, type Domain } from './meta.js'
import type { SyncStatus } from './host-providers.js'

export type { SyncStatus } from './host-providers.js'


export interface SyncMethods {
  'sync.status': (args: Record<string, never>) => Promise<SyncStatus | null>
}

export const syncDomain: Domain<SyncMethods, unknown> = {
  meta: { 'sync.status': reads },
  build: ({ providers }) => ({
    'sync.status': async () => (providers.syncStatus ? providers.syncStatus() : null)
  })
}
