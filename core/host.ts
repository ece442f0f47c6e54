/**
 * The vault as a long-running host holds it (Electron main, the edge
 * daemon): opened in the background so the UI shows at once; every call
 * waits for the boot self-check. When the folder holds no vault yet the
 * host is in onboarding: `onboard.*` create a vault, make a device key, or
 * join from a bundle, and the vault methods answer NOT_FOUND until then.
 * Host capabilities come from `providers` and the host's extension domains
 * stays free of sync/ and of any host.
 */
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import {
  createHandlers,
  registryOf,
  type Domain,
  type Handlers,
  type HostProviders,
  type OnboardStatus,
  type Registry
} from './api.js'
import { ensureDeviceKey, KEY_FILE, Vault, VAULT_FILE, type VaultChange, type VaultConfig } from './vault.js'
import { TelemetryStore } from './telemetry/store.js'
import { VaultWitness } from './vault-witness.js'
import type { NoteVerifier } from './signed-note.js'
import { openKeyFile, readKeyFile } from './keys.js'
import { recount } from './recover.js'
import { ALREADY_EXISTS, BAD_ARGUMENT, INTERNAL, NOT_FOUND, UNKNOWN_METHOD, VaultError } from './errors.js'

type OnboardMethod =
  'onboard.status' | 'onboard.create' | 'onboard.keygen' | 'onboard.join' | 'onboard.joinCouch' | 'onboard.joinGit'
type OnboardHandlers = Pick<Handlers, OnboardMethod>

export interface VaultHost<X extends object = Record<never, never>> {
  /** Core's handlers and the host's extensions (`X`). */
  handlers: Handlers & X
  /** Every method served, with its metadata: what a transport validates calls against. */
  registry: Registry
  /** The open vault, once there is one. */
  vault(): Vault | null
  /** Its telemetry store, where the host keeps one (`telemetry`). */
  telemetry(): TelemetryStore | null
  /** This device as a witness of its vault's feeds (and of `witnessLogs`), while a vault is open. */
  witness(): VaultWitness | null
  /**
   * Be told of what changed, for views that follow the host instead of polling it (the edge's event stream, the
   * desktop's IPC push): the vault's own changes, a vault opened or closed, and what the host's parts publish.
   */
  subscribe(listener: (event: HostEvent) => void): () => void
  /** Tell the subscribers (sync's follower says its state changed; telemetry that readings arrived). */
  publish(event: HostEvent): void
  close(): Promise<void>
}

/** What a host's subscribers hear: which part of what it serves changed (they fetch what they show again). */
export type HostEvent =
  { topic: 'vault'; change: VaultChange } | { topic: 'opened' | 'closed' } | { topic: 'sync' | 'telemetry' | 'devices' }

export type JoinFromCouch = (args: {
  dir: string
  url: string
  user?: string
  password: string
  passphrase: string
}) => Promise<Vault>
export type JoinFromGit = (args: { dir: string; url: string; token: string; passphrase: string }) => Promise<Vault>
/** Ways to set up a device from a server: they live in sync/, which the host hands in. */
export interface Joiners {
  couch?: JoinFromCouch
  git?: JoinFromGit
}

/** The peers' part of a recovery: they live in sync/, which the host hands in. */
export interface RecoveryPeers {
  /** The vault's genesis as a peer it syncs with holds it (null: none does). */
  genesis(dir: string, config: VaultConfig, passphrase: string): Promise<string | null>
  /** One round with each peer after the rebuild: one line per peer. */
  catchUp(vault: Vault, passphrase: string): Promise<string[]>
}

export interface HostOptions<X extends object = Record<never, never>> {
  dir: string
  joiners?: Joiners
  recovery?: RecoveryPeers
  /** Capabilities that live outside core, for each vault the host opens (handed the telemetry store, if kept). */
  providers?: (vault: Vault, telemetry: TelemetryStore | null) => Promise<HostProviders> | HostProviders
  /** Keep the device's telemetry store: opened with each vault the host opens (after `unlock`), closed before it. */
  telemetry?: boolean
  /**
   * Unlock the device key as each vault opens (the edge daemon's TRESOR_PASSPHRASE). A failure is reported through
   * `onError` and the vault stays locked: the UI can unlock it.
   */
  unlock?: { passphrase: string; onError: (err: Error) => void }
  /** Domains the host adds to core's registry (sync/'s rounds and status): built for each vault the host opens. */
  extensions?: readonly Domain<X>[]
  /** C2SP logs outside the vault this device witnesses (their note verifier keys; the key name is the origin). */
  witnessLogs?: NoteVerifier[]
  /** Called before the vault (and its telemetry store) closes: stop what uses them. */
  beforeClose?: (vault: Vault) => Promise<void>
}

/** A host event as views are told of it: its topic, and for the vault the kind of change. */
export interface ViewEvent {
  topic: HostEvent['topic']
  kind?: VaultChange['kind']
}

/**
 * Follow a host for a view: events within `windowMs` of the first reach `deliver` together, one of each topic and
 * kind (an append burst is one refresh, not hundreds). Used by the edge's event stream and the desktop's IPC push.
 * Returns the stop.
 */
export function followHost(
  subscribe: VaultHost['subscribe'],
  deliver: (events: ViewEvent[]) => void,
  windowMs = 50
): () => void {
  const pending = new Map<string, ViewEvent>()
  let timer: ReturnType<typeof setTimeout> | null = null
  const flush = () => {
    timer = null
    const events = [...pending.values()]
    pending.clear()
    if (events.length > 0) deliver(events)
  }
  const unsubscribe = subscribe((e) => {
    const v: ViewEvent = e.topic === 'vault' ? { topic: 'vault', kind: e.change.kind } : { topic: e.topic }
    pending.set(`${v.topic}:${v.kind ?? ''}`, v)
    timer ??= setTimeout(flush, windowMs)
  })
  return () => {
    unsubscribe()
    if (timer) clearTimeout(timer)
  }
}

type AnyHandler = (args: unknown) => Promise<unknown>

function text(v: unknown, name: string, max: number): string {
  if (typeof v !== 'string' || v.trim() === '' || v.length > max)
    throw BAD_ARGUMENT(`${name} is required (at most ${max} characters)`)
  return v
}

/** A passphrase for a new device key: long enough to resist guessing the key file offline. */
function newPassphrase(v: unknown): string {
  const p = text(v, 'passphrase', 1024)
  if (p.length < 10) throw BAD_ARGUMENT('choose a passphrase of at least 10 characters')
  return p
}

/**
 * The founding members beside the creator: at least one, since every change needs two distinct members and a
 * vault founded alone could never change anything (not even to add a second member).
 */
function cofoundersOf(v: unknown): { name: string; roles: string[]; keys: string[] }[] {
  if (!Array.isArray(v) || v.length === 0)
    throw BAD_ARGUMENT(
      'name at least one co-founder (their member name, roles and device public key): every change needs two distinct members, so a vault founded alone could never change'
    )
  if (v.length > 16) throw BAD_ARGUMENT('at most 16 co-founders; add more members by proposal later')
  return v.map((c, i) => {
    const x = asArgs(c)
    const key = text(x.key, `co-founder ${i + 1}'s public key`, 64)
      .trim()
      .toLowerCase()
    if (!/^[0-9a-f]{64}$/.test(key))
      throw BAD_ARGUMENT(`co-founder ${i + 1}'s public key is 64 hex characters (what their device's key screen shows)`)
    const roles = Array.isArray(x.roles) ? x.roles.map(String) : []
    return { name: text(x.name, `co-founder ${i + 1}'s name`, 64), roles, keys: [key] }
  })
}

const asArgs = (a: unknown) =>
  typeof a === 'object' && a !== null && !Array.isArray(a) ? (a as Record<string, unknown>) : {}

export function openHost<X extends object = Record<never, never>>(opts: HostOptions<X>): VaultHost<X> {
  let vault: Vault | null = null
  let handlers: (Handlers & X) | null = null
  const registry = registryOf((opts.extensions ?? []) as readonly Domain<object>[])
  let openError: VaultError | null = null
  let opening: Promise<void> = Promise.resolve()

  let store: TelemetryStore | null = null
  const listeners = new Set<(event: HostEvent) => void>()
  const publish = (event: HostEvent) => {
    for (const l of listeners) {
      try {
        l(event)
      } catch {
        // a subscriber's failure is its own
      }
    }
  }
  let unwatch = () => {}
  let witnessing: VaultWitness | null = null

  const adopt = async (v: Vault) => {
    vault = v
    unwatch = v.onChange((change) => publish({ topic: 'vault', change }))
    // Members' devices witness each other's checkpoints as they arrive (core/vault-witness.ts).
    witnessing = VaultWitness.start(v, undefined, opts.witnessLogs ?? [])
    if (opts.unlock && !v.unlocked) await v.unlock(opts.unlock.passphrase).catch(opts.unlock.onError)
    // Opened after the unlock, so readings the WAL holds from before a stop are sealed at once.
    if (opts.telemetry) store = await TelemetryStore.open(v)
    const providers = opts.providers ? await opts.providers(v, store) : {}
    handlers = createHandlers(v, { ...providers, telemetry: store ?? providers.telemetry }, opts.extensions)
    openError = null
    publish({ topic: 'opened' })
  }
  /** Stop what uses the vault, close its telemetry store, then the vault. */
  const closeVault = async (v: Vault) => {
    unwatch()
    await witnessing?.stop()
    witnessing = null
    publish({ topic: 'closed' })
    await opts.beforeClose?.(v)
    const s = store
    store = null
    await s?.close()
    await v.close()
  }
  const start = async () => {
    const exists = await stat(join(opts.dir, VAULT_FILE)).then(
      () => true,
      () => false
    )
    if (!exists) {
      openError = NOT_FOUND(`no vault in ${opts.dir} yet: create one or join one`)
      return
    }
    try {
      await adopt(await Vault.open({ dir: opts.dir }))
    } catch (err) {
      openError = err instanceof VaultError ? err : INTERNAL((err as Error).message)
    }
  }
  opening = start()

  const status = async (): Promise<OnboardStatus> => {
    await opening
    const key = await readKeyFile(join(opts.dir, KEY_FILE)).catch(() => null)
    return {
      hasVault: vault !== null,
      dir: opts.dir,
      deviceKey: key?.publicKey ?? null,
      error: openError && openError.code !== 'NOT_FOUND' ? { code: openError.code, message: openError.message } : null
    }
  }
  /** Onboarding steps run one at a time and only while there is no vault. */
  const onboarding = async <T>(fn: () => Promise<T>): Promise<T> => {
    const prior = opening
    let release!: () => void
    opening = new Promise((r) => {
      release = r
    })
    try {
      await prior
      if (vault) throw ALREADY_EXISTS('this folder already holds a vault')
      return await fn()
    } finally {
      release()
    }
  }

  const onboard: OnboardHandlers = {
    'onboard.status': status,
    'onboard.create': async (args) => {
      const a = asArgs(args)
      const roles = Array.isArray(a.roles) ? a.roles.map(String) : []
      const members = cofoundersOf(a.cofounders)
      await onboarding(async () =>
        adopt(
          await Vault.create({
            dir: opts.dir,
            vaultName: text(a.vaultName, 'vault name', 128),
            memberName: text(a.memberName, 'your member name', 64),
            roles,
            members,
            passphrase: newPassphrase(a.passphrase)
          })
        )
      )
      return status()
    },
    'onboard.keygen': async (args) => {
      const a = asArgs(args)
      return onboarding(async () => ({
        publicKey: (await ensureDeviceKey(opts.dir, text(a.name, 'name', 64), newPassphrase(a.passphrase))).publicKey
      }))
    },
    'onboard.joinCouch': async (args) => {
      const a = asArgs(args)
      const joiner = opts.joiners?.couch
      if (!joiner) throw UNKNOWN_METHOD('this host cannot join from CouchDB')
      const url = text(a.url, 'database URL', 2048)
      await onboarding(async () =>
        adopt(
          await joiner({
            dir: opts.dir,
            url,
            user: typeof a.user === 'string' && a.user !== '' ? a.user : undefined,
            password: typeof a.password === 'string' ? a.password : '',
            passphrase: newPassphrase(a.passphrase)
          })
        )
      )
      return status()
    },
    'onboard.joinGit': async (args) => {
      const a = asArgs(args)
      const joiner = opts.joiners?.git
      if (!joiner) throw UNKNOWN_METHOD('this host cannot join from Git')
      await onboarding(async () =>
        adopt(
          await joiner({
            dir: opts.dir,
            url: text(a.url, 'repository URL', 2048),
            token: text(a.token, 'token', 4096),
            passphrase: newPassphrase(a.passphrase)
          })
        )
      )
      return status()
    },
    'onboard.join': async (args) => {
      const a = asArgs(args)
      await onboarding(async () =>
        adopt(
          await Vault.join({
            dir: opts.dir,
            bundle: text(a.bundle, 'bundle', 48 * 1024 * 1024),
            passphrase: text(a.passphrase, 'passphrase', 1024)
          })
        )
      )
      return status()
    }
  }

  /**
   * Recovery closes the vault, rebuilds it and opens it again; every other
   * call waits meanwhile. The passphrase is checked first, so a wrong one
   * changes nothing.
   */
  const recover: Handlers['vault.recover'] = async (args) => {
    const a = asArgs(args)
    const passphrase = text(a.passphrase, 'passphrase', 1024)
    const bundle = a.bundle === undefined || a.bundle === '' ? null : text(a.bundle, 'bundle', 48 * 1024 * 1024)
    const prior = opening
    let release!: () => void
    opening = new Promise((r) => {
      release = r
    })
    try {
      await prior
      const current = vault
      if (!current) throw openError ?? NOT_FOUND('no vault yet')
      const key = await openKeyFile(await readKeyFile(join(opts.dir, KEY_FILE)), passphrase)
      key.keyPair.secretKey.fill(0)
      const config = current.config
      const peers = a.peers === true ? opts.recovery : undefined
      await closeVault(current)
      vault = null
      handlers = null
      let recovered: Vault | null = null
      try {
        const { vault: rebuilt, report } = await Vault.recover({
          dir: opts.dir,
          bundles: bundle ? [bundle] : [],
          fetchGenesis: peers ? () => peers.genesis(opts.dir, config, passphrase) : undefined
        })
        recovered = rebuilt
        await rebuilt.unlock(passphrase)
        const lines = peers ? await peers.catchUp(rebuilt, passphrase) : []
        recount(report, rebuilt.heads(), rebuilt.device)
        await adopt(rebuilt)
        return { ...report, peers: lines }
      } catch (err) {
        // Whatever happened, the host holds a vault again: the rebuilt one, else the folder as it is now.
        if (!recovered) await start()
        else await adopt(recovered)
        throw err
      }
    } finally {
      release()
    }
  }

  const forward =
    (m: string): AnyHandler =>
    async (args) => {
      await opening
      if (!handlers) throw openError ?? NOT_FOUND('no vault yet')
      return (handlers as unknown as Record<string, AnyHandler>)[m]!(args)
    }
  // The methods the registry marks as the host's are answered here; every other one by the open vault's handlers.
  const hosted = new Map<string, AnyHandler>([...Object.entries(onboard), ['vault.recover', recover]] as [
    string,
    AnyHandler
  ][])
  const all = Object.fromEntries(
    Object.entries(registry.meta).map(([m, meta]) => {
      const own = hosted.get(m)
      if (meta.host && !own) throw INTERNAL(`${m} is marked as answered by the host, which has no handler for it`)
      return [m, own ?? forward(m)]
    })
  ) as unknown as Handlers & X
  return {
    handlers: all,
    registry,
    vault: () => vault,
    telemetry: () => store,
    witness: () => witnessing,
    subscribe: (listener) => {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    publish,
    close: async () => {
      await opening.catch(() => undefined) // a failed open has already been reported (openError); closing goes on
      if (!vault) return
      await closeVault(vault)
    }
  }
}
