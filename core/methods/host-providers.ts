/** What a host hands core beside the vault: capabilities that live outside core (sync/, the telemetry store, the lock policy). */
import type { TelemetryStore } from '../telemetry/store.js'

/** Sync status as every host shows it. Computed by sync/ (core never imports it) and handed in by the host. */
export interface SyncStatus {
  url: string | null
  user: string | null
  online: boolean
  /** Local events the server is not known to hold. */
  pendingUp: number
  /** Pulled events waiting in staging for a predecessor or a membership commit. */
  pendingDown: number
  quarantine: number
  lastSuccess: string | null
  lastError: string | null
  lastRollback: { at: string; message: string } | null
  denied: { id: string; reason: string }[]
  design: string | null
}

/** Capabilities a host adds to the handler map (they live outside core). */
export interface HostProviders {
  syncStatus?: () => Promise<SyncStatus>
  /** The device's telemetry store, where the host opened one (edge daemon, CLI). */
  telemetry?: TelemetryStore
  /** Lock the device key after this long without a call that signs or unlocks (default 15 minutes; 0: never). */
  autoLockMs?: number
}
