/**
 * What every API method declares beside its handler, in the domain file that
 * registers it. The registry (`core/api.ts`) derives from it everything the
 * transports need, so no hand-kept list can drift: the method list, which
 * calls restart the auto-lock timer, and how large an argument each transport
 * accepts.
 */
import { BAD_ARGUMENT } from '../errors.js'
import type { Vault } from '../vault.js'
import type { HostProviders } from './host-providers.js'

export interface MethodMeta {
  /** Uses the device key (signs, seals or unlocks): the call restarts the auto-lock timer. */
  signs: boolean
  /** Appends to the log or changes what the vault holds (refused while READ-ONLY). */
  writes: boolean
  /** The largest argument object a transport accepts for it, as UTF-8 JSON. */
  maxArgBytes: number
  /** Answered by the host around core (onboarding without a vault, recovery), not by the handlers of one open vault. */
  host?: true
  /** Changes this device's own state without signing (the key's lock, the folder's home): not for read-only tokens. */
  local?: true
}

/** May a read-only token call it? Only what neither signs, writes, changes this device, nor runs around the vault. */
export const readOnlyCallable = (m: MethodMeta): boolean => !m.signs && !m.writes && !m.local && !m.host

/** Most calls carry a few fields: 64 KiB is plenty. */
export const SMALL_ARGS = 64 * 1024
/** Calls that carry a bundle file's text. */
export const BUNDLE_ARGS = 48 * 1024 * 1024 + 4096

export const reads: MethodMeta = Object.freeze({ signs: false, writes: false, maxArgBytes: SMALL_ARGS })
export const signs: MethodMeta = Object.freeze({ signs: true, writes: true, maxArgBytes: SMALL_ARGS })

/**
 * What a domain's handlers are built from: the part of the open vault the
 * domain needs (`V`, a narrow view such as a log reader or the governance
 * calls; the registry hands in the vault, which is all of them) and the
 * host's providers.
 */
export interface DomainContext<V = Vault> {
  vault: V
  providers: HostProviders
}

/** A domain: its methods' metadata and the function that builds their handlers for one open vault. */
export interface Domain<H, V = Vault> {
  meta: { readonly [K in keyof H]: MethodMeta }
  build(ctx: DomainContext<V>): H
}

export function obj(args: unknown): Record<string, unknown> {
  if (args === undefined || args === null) return {}
  if (typeof args !== 'object' || Array.isArray(args)) throw BAD_ARGUMENT('arguments must be an object')
  return args as Record<string, unknown>
}

export function optInt(v: unknown, name: string, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt
  if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max)
    throw BAD_ARGUMENT(`${name} must be an integer in [${min}, ${max}]`)
  return v as number
}

export function optString(v: unknown, name: string, max: number): string | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'string' || v.length > max)
    throw BAD_ARGUMENT(`${name} must be a string of at most ${max} characters`)
  return v
}
