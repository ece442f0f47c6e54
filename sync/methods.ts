/**
 * Sync's part of the API: a host extension of core's registry (core never
 * imports sync/). The hosts that sync — the edge daemon, the desktop app, the
 * CLI — build it beside core's handlers, and every transport validates, sizes
 * and auto-locks its methods from the metadata here, as it does core's own.
 *
 * The rounds take the server's address and credentials as arguments: the
 * caller (the CLI, which keeps them sealed with the device key) decides them,
 * and the host that holds the vault runs the round. Rounds of one host run one
 * at a time; a host that keeps CouchDB sync running (`tresor serve --sync`)
 * runs a requested round as its own next round.
 */
import {
  BAD_ARGUMENT,
  IN_USE,
  obj,
  optString,
  reads,
  signs,
  SMALL_ARGS,
  type Domain,
  type HostProviders,
  type TelemetryStore,
  type Vault
} from '../core/index.js'
import {
  CouchSync,
  listQuarantine,
  recordedStatus,
  type QuarantineEntry,
  type SyncRound,
  type SyncStatus
} from './couch-sync.js'
import { VaultWitness } from '../core/index.js'
import { syncGit, type GitRound } from './git-mirror.js'
import { reaching, remoteDb, type Credentials } from './remote.js'
import {
  forwardTelemetry,
  pullTelemetry,
  telemetryUrl,
  type ForwardRound,
  type PullRound
} from './telemetry-forward.js'

export interface CouchRoundArgs {
  url: string
  credentials?: Credentials
  admin?: boolean
}

export interface SyncHostMethods {
  /** What the last rounds recorded, or the live state while the host keeps sync running. */
  'sync.status': (args: Record<string, never>) => Promise<SyncStatus>
  /** Inputs the gate refused, with their reasons, newest first. */
  'sync.quarantine': (args: Record<string, never>) => Promise<QuarantineEntry[]>
  /** One round with a CouchDB database: pull through the gate, push, record. */
  'sync.couch': (args: CouchRoundArgs) => Promise<{ round: SyncRound; status: SyncStatus }>
  /** One round with a Git mirror. */
  'sync.git': (args: { url: string; token: string }) => Promise<GitRound>
  /**
   * Forward this device's telemetry batches to the database beside the events one (and pull the others' with `pull`).
   */
  'sync.telemetry': (
    args: CouchRoundArgs & { pull?: boolean }
  ) => Promise<{ round: ForwardRound; pull: PullRound | null }>
}

export interface SyncHostOptions {
  /**
   * The round the host keeps running (`tresor serve --sync`), if any: its status is live and a requested round is its
   * next.
   */
  live?: () => CouchSync | null
}

/** An http(s) URL of at most 2048 characters. */
function serverUrl(v: unknown, what: string): string {
  const url = optString(v, what, 2048)
  if (!url || !/^https?:\/\/[^\s]+$/.test(url)) throw BAD_ARGUMENT(`${what} must be an http(s) URL`)
  return url
}

function credentialsOf(v: unknown): Credentials | undefined {
  if (v === undefined || v === null) return undefined
  const c = obj(v)
  const username = optString(c.username, 'credentials.username', 256)
  const password = optString(c.password, 'credentials.password', 4096)
  if (!username || password === undefined) throw BAD_ARGUMENT('credentials are { username, password }')
  return { username, password }
}

function couchArgs(args: unknown): CouchRoundArgs & { pull: boolean } {
  const a = obj(args)
  return {
    url: serverUrl(a.url, 'url'),
    credentials: credentialsOf(a.credentials),
    admin: a.admin === true,
    pull: a.pull === true
  }
}

/** Forward (and with `pull`, pull) telemetry once against the telemetry database beside `conn.url`'s. */
export async function telemetryRound(
  store: TelemetryStore,
  conn: CouchRoundArgs,
  pull: boolean
): Promise<{ round: ForwardRound; pull: PullRound | null }> {
  const url = telemetryUrl(conn.url)
  const remote = remoteDb(url, conn.credentials)
  try {
    const round = await forwardTelemetry(store, remote, { admin: conn.admin === true })
    return { round, pull: pull ? await pullTelemetry(store, remote, url) : null }
  } finally {
    // closing an HTTP client: the round's result or its error is already decided
    await remote.close().catch(() => undefined)
  }
}

/** The sync extension for one host. */
export function syncDomain(opts: SyncHostOptions = {}): Domain<SyncHostMethods> {
  // One round at a time per host: two rounds on one vault would share its sync state and staging.
  let queue: Promise<unknown> = Promise.resolve()
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn)
    queue = run.catch(() => undefined) // the caller gets the error; the next round still runs
    return run
  }
  const telemetryOf = (providers: HostProviders): TelemetryStore => {
    if (!providers.telemetry) throw BAD_ARGUMENT('this host keeps no telemetry store')
    return providers.telemetry
  }
  return {
    meta: {
      'sync.status': reads,
      'sync.quarantine': reads,
      // Rounds sign sync.incident events (what a server did wrong) and admit what they pull.
      'sync.couch': signs,
      'sync.git': signs,
      'sync.telemetry': { signs: false, writes: true, maxArgBytes: SMALL_ARGS }
    },
    build: ({ vault, providers }: { vault: Vault; providers: HostProviders }) => ({
      'sync.status': async () => {
        const live = opts.live?.()
        return live ? live.status() : recordedStatus(vault)
      },
      'sync.quarantine': async () => listQuarantine(vault),
      'sync.couch': async (args) => {
        const conn = couchArgs(args)
        return serial(() =>
          reaching(conn.url, async () => {
            const live = opts.live?.()
            if (live) {
              if (live.url !== conn.url)
                throw IN_USE(
                  `this host keeps sync running with ${live.url}: a round with another server does not run beside it`
                )
              const round = await live.syncOnce()
              return { round, status: await live.status() }
            }
            const sync = await CouchSync.open(vault, conn)
            try {
              let round = await sync.syncOnce()
              // Witness the checkpoints this round brought, and send the cosignatures in the same call.
              const w = await new VaultWitness(vault).pass()
              if (w.cosigned + w.splitViews > 0) {
                const again = await sync.syncOnce()
                round = { ...round, pushed: round.pushed + again.pushed }
              }
              return { round, status: await sync.status() }
            } finally {
              await sync.close()
            }
          })
        )
      },
      'sync.git': async (args) => {
        const a = obj(args)
        const url = serverUrl(a.url, 'url')
        const token = optString(a.token, 'token', 4096)
        if (!token) throw BAD_ARGUMENT('token is required')
        return serial(() => reaching(url, () => syncGit(vault, { url, token })))
      },
      'sync.telemetry': async (args) => {
        const conn = couchArgs(args)
        const store = telemetryOf(providers)
        return serial(() => reaching(conn.url, () => telemetryRound(store, conn, conn.pull)))
      }
    })
  }
}
