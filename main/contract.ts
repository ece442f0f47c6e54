/**
 * What the app's hosts offer beyond core's contract. The desktop keeps the
 * passphrase in the OS keychain if asked (`remember`), drops it (`forget`),
 * and says in the status whether it can (`keychain`). Core knows none of
 * this: these are the host's extension of the registry, typed here, and the
 * renderer (which may import main's types) is typed against it. Both hosts
 * serve sync's extension (sync/methods.ts). The edge
 * daemon serves core's contract, so every extra is optional on the way back.
 */
import type { ArgsOf, Handlers, ResultOf, VaultStatus } from '../core/index.js'
import type { SyncHostMethods } from '../sync/methods.js'

export type { SyncStatus } from '../sync/couch-sync.js'

export interface KeychainStatus {
  ok: boolean
  reason?: string
  remembered: boolean
}

export interface HostExtensions {
  'vault.status': (args: ArgsOf<'vault.status'>) => Promise<VaultStatus & { keychain?: KeychainStatus }>
  /** `remember`: keep the passphrase in the OS keychain (a host without one ignores it). */
  'vault.unlock': (args: ArgsOf<'vault.unlock'> & { remember?: boolean }) => Promise<ResultOf<'vault.unlock'>>
  /** `forget`: drop a remembered passphrase from the keychain. */
  'vault.lock': (args: ArgsOf<'vault.lock'> & { forget?: boolean }) => Promise<ResultOf<'vault.lock'>>
}

/** The contract the app's UI is typed against: core's, with the hosts' extensions. */
export type AppHandlers = Omit<Handlers, keyof HostExtensions> & HostExtensions & SyncHostMethods
export type AppMethod = keyof AppHandlers
export type AppArgsOf<M extends AppMethod> = Parameters<AppHandlers[M]>[0]
export type AppResultOf<M extends AppMethod> = Awaited<ReturnType<AppHandlers[M]>>
