/**
 * The one API of core: a typed map of `domain.verb` handlers. Every host
 * (Electron IPC, the edge daemon's HTTP, the CLI, tests) calls core through
 * `createHandlers(...)` and nothing else. Arguments arrive untrusted: each
 * handler validates before acting.
 *
 * This file is the registry. Each domain (`core/methods/*.ts`) declares its
 * methods' types, their metadata and their handlers in one place; everything
 * a transport needs — the method list, which calls restart the auto-lock
 * timer, how large an argument may be — is derived here from that metadata.
 * To add a method: add it to its domain file (type, meta, handler) and its test.
 */
import type { Vault } from './vault.js'
import { UNKNOWN_METHOD } from './errors.js'
import type { Domain, MethodMeta } from './methods/meta.js'
import { vaultDomain, type VaultMethods } from './methods/vault.js'
import { logDomain, type LogMethods } from './methods/log.js'
import { governanceDomain, type GovernanceMethods } from './methods/governance.js'
import { exchangeDomain, type ExchangeMethods } from './methods/exchange.js'
import { telemetryDomain, type TelemetryMethods } from './methods/telemetry.js'
import { onboardDomain, type OnboardMethods } from './methods/onboard.js'
import { syncDomain, type SyncMethods } from './methods/sync.js'

export type { MethodMeta } from './methods/meta.js'
export type { HostProviders, SyncStatus } from './methods/host-providers.js'
import type { HostProviders } from './methods/host-providers.js'
export { statusOf, type VaultStatus, type RecoveryResult } from './methods/vault.js'
export type { LogEntry, LogEntryDetail } from './methods/log.js'
export { inboxOf, viewProposal, type ProposalView } from './methods/governance.js'
export type { TelemetryStatus } from './methods/telemetry.js'
export type { OnboardStatus } from './methods/onboard.js'

/** Argument and result types per method: the contract every transport is typed against. */
export type Handlers = VaultMethods & LogMethods & GovernanceMethods & ExchangeMethods & TelemetryMethods & OnboardMethods & SyncMethods

export type Method = keyof Handlers
export type ArgsOf<M extends Method> = Parameters<Handlers[M]>[0]
export type ResultOf<M extends Method> = Awaited<ReturnType<Handlers[M]>>

const DOMAINS = [vaultDomain, logDomain, governanceDomain, exchangeDomain, telemetryDomain, onboardDomain, syncDomain] as const

/** Every method's metadata, from the domain that registers it. */
export const METHOD_META: Readonly<Record<Method, MethodMeta>> = Object.freeze(Object.assign(Object.create(null) as Record<Method, MethodMeta>, ...DOMAINS.map((d) => d.meta)))

/** Every method, derived from the registry. */
export const METHODS: readonly Method[] = Object.freeze(Object.keys(METHOD_META) as Method[])

export function isMethod(name: unknown): name is Method {
  return typeof name === 'string' && Object.hasOwn(METHOD_META, name)
}

/** The largest argument object (UTF-8 JSON) a transport accepts for `method`. */
export function maxArgBytes(method: Method): number {
  return METHOD_META[method].maxArgBytes
}

/** The calls that restart the auto-lock timer: those whose metadata says they use the device key. */
export const AUTO_LOCK_METHODS: readonly Method[] = Object.freeze(METHODS.filter((m) => METHOD_META[m].signs))

/** Build the handler map for one open vault. */
export function createHandlers(vault: Vault, providers: HostProviders = {}): Handlers {
  const autoLock = autoLocker(vault, providers.autoLockMs ?? DEFAULT_AUTO_LOCK_MS)
  const ctx = { vault, providers }
  const handlers = Object.assign({}, ...DOMAINS.map((d) => (d as Domain<object>).build(ctx))) as Handlers
  // Every call that uses the key restarts the auto-lock timer.
  for (const m of AUTO_LOCK_METHODS) {
    const fn = handlers[m] as (a: unknown) => Promise<unknown>
    ;(handlers as unknown as Record<string, (a: unknown) => Promise<unknown>>)[m] = async (a) => { try { return await fn(a) } finally { autoLock.touch() } }
  }
  return handlers
}

export const DEFAULT_AUTO_LOCK_MS = 15 * 60_000

/** Locks the device key after `ms` without signing activity; the timer never keeps a process alive. */
function autoLocker(vault: Vault, ms: number): { touch(): void } {
  let timer: NodeJS.Timeout | null = null
  return {
    touch() {
      if (timer) clearTimeout(timer)
      timer = null
      if (ms > 0 && vault.unlocked) {
        timer = setTimeout(() => vault.lock(), ms)
        timer.unref?.()
      }
    }
  }
}

/** Dispatch an untrusted (method, args) pair: the generic entry every transport uses. */
export async function dispatch(handlers: Handlers, method: unknown, args: unknown): Promise<unknown> {
  if (!isMethod(method)) throw UNKNOWN_METHOD(`no such method: ${String(method).slice(0, 64)}`)
  const fn = handlers[method] as ((a: unknown) => Promise<unknown>) | undefined
  if (typeof fn !== 'function') throw UNKNOWN_METHOD(`this host does not offer ${method}`)
  return fn(args)
}
