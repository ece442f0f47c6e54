/**
 * What a host hands core beside the vault: capabilities that live outside core (the telemetry store, the lock policy).
 * Sync's methods are a host extension (sync/methods.ts).
 */
import type { TelemetryStore } from '../telemetry/store.js'

/** Capabilities a host adds to the handler map (they live outside core). */
export interface HostProviders {
  /** The device's telemetry store, where the host opened one (edge daemon, CLI). */
  telemetry?: TelemetryStore
  /** Lock the device key after this long without a call that signs or unlocks (default 15 minutes; 0: never). */
  autoLockMs?: number
}
