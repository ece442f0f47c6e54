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
 *
 * Hosts extend the registry with domains that live outside core (sync/'s
 * rounds and status, the desktop's keychain): `createHandlers(vault,
 * providers, extensions)` builds them beside core's, and `registryOf(...)`
 * gives every transport the joint metadata, so an extension is validated,
 * sized and auto-locked exactly as core's own methods are.
 */
import type { Vault } from './vault.js'
import { INTERNAL, UNKNOWN_METHOD } from './errors.js'
import { readOnlyCallable, type Domain, type MethodMeta } from './methods/meta.js'
import { vaultDomain, type VaultMethods } from './methods/vault.js'
import { logDomain, type LogMethods } from './methods/log.js'
import { governanceDomain, type GovernanceMethods } from './methods/governance.js'
import { exchangeDomain, type ExchangeMethods } from './methods/exchange.js'
import { telemetryDomain, type TelemetryMethods } from './methods/telemetry.js'
import { onboardDomain, type OnboardMethods } from './methods/onboard.js'
import { documentsDomain, type DocumentMethods } from './methods/documents.js'

export type { MethodMeta } from './methods/meta.js'
export type { Domain, DomainContext } from './methods/meta.js'
export { obj, optInt, optString, reads, signs, SMALL_ARGS } from './methods/meta.js'
export type { HostProviders } from './methods/host-providers.js'
import type { HostProviders } from './methods/host-providers.js'
export { statusOf, type VaultStatus, type RecoveryResult } from './methods/vault.js'
export type { LogEntry, LogEntryDetail } from './methods/log.js'
export { inboxOf, viewProposal, type Inbox, type ProposalView } from './methods/governance.js'
export type { TelemetryStatus } from './methods/telemetry.js'
export type { OnboardStatus } from './methods/onboard.js'

/** Argument and result types per method: the contract every transport is typed against. */
export type Handlers = VaultMethods &
  LogMethods &
  GovernanceMethods &
  ExchangeMethods &
  TelemetryMethods &
  OnboardMethods &
  DocumentMethods

export type Method = keyof Handlers
export type ArgsOf<M extends Method> = Parameters<Handlers[M]>[0]
export type ResultOf<M extends Method> = Awaited<ReturnType<Handlers[M]>>

const DOMAINS = [
  vaultDomain,
  logDomain,
  governanceDomain,
  exchangeDomain,
  telemetryDomain,
  onboardDomain,
  documentsDomain
] as const

/** Every method's metadata, from the domain that registers it. */
export const METHOD_META: Readonly<Record<Method, MethodMeta>> = Object.freeze(
  Object.assign(Object.create(null) as Record<Method, MethodMeta>, ...DOMAINS.map((d) => d.meta))
)

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

/** What a transport knows of the methods it serves: their metadata, core's and a host's extensions' alike. */
export interface Registry {
  readonly meta: Readonly<Record<string, MethodMeta>>
  has(name: unknown): name is string
  maxArgBytes(method: string): number
  /** May a read-only token call it (it signs, writes and changes nothing)? */
  readOnly(method: string): boolean
}

function registryFrom(meta: Readonly<Record<string, MethodMeta>>): Registry {
  return {
    meta,
    has: (name: unknown): name is string => typeof name === 'string' && Object.hasOwn(meta, name),
    maxArgBytes: (method) => meta[method]!.maxArgBytes,
    readOnly: (method) => readOnlyCallable(meta[method]!)
  }
}

/** Core's own registry. */
export const CORE_REGISTRY: Registry = registryFrom(METHOD_META)

/**
 * Core's registry with a host's extension domains; an extension may not take a name core (or another extension) has.
 */
export function registryOf(extensions: readonly Domain<object>[] = []): Registry {
  if (extensions.length === 0) return CORE_REGISTRY
  const meta: Record<string, MethodMeta> = Object.assign(Object.create(null) as Record<string, MethodMeta>, METHOD_META)
  for (const d of extensions) {
    for (const [m, mm] of Object.entries(d.meta as Record<string, MethodMeta>)) {
      if (Object.hasOwn(meta, m)) throw INTERNAL(`the host extension's method ${m} is already registered`)
      meta[m] = mm
    }
  }
  return registryFrom(Object.freeze(meta))
}

/**
 * Build the handler map for one open vault: core's domains and the host's
 * extension domains (`X`, typed in the host), each call that uses the key
 * restarting the auto-lock timer.
 */
export function createHandlers<X extends object = Record<never, never>>(
  vault: Vault,
  providers: HostProviders = {},
  extensions: readonly Domain<X>[] = []
): Handlers & X {
  const registry = registryOf(extensions as readonly Domain<object>[])
  const autoLock = autoLocker(vault, providers.autoLockMs ?? DEFAULT_AUTO_LOCK_MS)
  const ctx = { vault, providers }
  const handlers = Object.assign(
    Object.create(null),
    ...[...DOMAINS, ...extensions].map((d) => (d as Domain<object>).build(ctx))
  ) as Record<string, (a: unknown) => Promise<unknown>>
  for (const [m, meta] of Object.entries(registry.meta)) {
    const fn = handlers[m]
    if (typeof fn !== 'function') throw INTERNAL(`${m} is registered without a handler`)
    if (meta.signs)
      handlers[m] = async (a) => {
        try {
          return await fn(a)
        } finally {
          autoLock.touch()
        }
      }
  }
  return handlers as unknown as Handlers & X
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
export async function dispatch(
  handlers: object,
  method: unknown,
  args: unknown,
  registry: Registry = CORE_REGISTRY
): Promise<unknown> {
  if (!registry.has(method)) throw UNKNOWN_METHOD(`no such method: ${String(method).slice(0, 64)}`)
  const fn = (handlers as Record<string, ((a: unknown) => Promise<unknown>) | undefined>)[method]
  if (typeof fn !== 'function') throw UNKNOWN_METHOD(`this host does not offer ${method}`)
  return fn(args)
}
