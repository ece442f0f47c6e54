/**
 * Sync commands of the `tresor` CLI: one-shot CouchDB sync, recorded status,
 * the quarantine, and the daemon that keeps sync running with backoff.
 */
import { CouchSync, syncStanding, type SyncStatus } from '../sync/couch-sync.js'
import { CouchFollower } from '../sync/couch-follow.js'
import { syncDomain, telemetryRound } from '../sync/methods.js'
import { loadCredentials, saveCredentials } from '../sync/credentials.js'
import { loadSyncState } from '../sync/sync-state.js'
import type { Credentials } from '../sync/remote.js'
import {
  EXIT_PARTLY_REFUSED,
  decodeEvent,
  IN_USE,
  INTERNAL,
  openHost,
  parseVerifierKey,
  readJsonFileIfExists,
  recount,
  TelemetryStore,
  StatusReporter,
  TRESOR_VERSION,
  Vault,
  VaultError,
  type RecoveryReport
} from '../core/index.js'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { startHttpHost } from './http-host.js'
import { WitnessPusher } from '../sync/witness-push.js'
import { join } from 'node:path'
import { GIT_STATE_FILE, joinFromGit } from '../sync/git-mirror.js'
import { catchUpFromPeers, genesisFromPeers, STORED_PEERS, type Peers } from '../sync/recover-peers.js'
import { flag, usage, type ParsedArgs } from './args.js'
import type { ForwardRound, PullRound } from '../sync/telemetry-forward.js'
import { startMqttInput, type MqttInput } from './mqtt-input.js'
import { dirOf, openUnlocked, withVault, type Out } from './cli-support.js'
import { remoteApi, runningDaemon, SERVE_TOKEN_FILE, vaultApi, withApi, writeServeFile } from './cli-client.js'
import { JOINERS } from '../sync/join.js'
import { mkdir } from 'node:fs/promises'
import { getPassphrase } from './passphrase.js'
import { boundDaemonHeap } from './memory.js'

export const SYNC_FLAGS = {
  url: 'value',
  user: 'value',
  admin: 'bool',
  interval: 'value',
  rounds: 'bool',
  git: 'value',
  port: 'value',
  mqtt: 'value',
  'mqtt-topic': 'list',
  sync: 'bool',
  couch: 'bool',
  mirror: 'bool',
  witness: 'bool',
  'witness-log': 'list'
} as const

export const SYNC_HELP = `
  tresor sync couch --dir D [--url DB_URL --user U] [--admin]   one round with CouchDB (password: TRESOR_COUCH_PASSWORD or a prompt; kept encrypted)
  tresor sync status --dir D                   what the last rounds recorded (no network)
  tresor quarantine --dir D                    inputs the gate refused, with reasons
  tresor daemon --dir D [--interval 10] [--rounds]
                                               keep syncing: follow the server's changes and push appends as they
                                               happen, forward telemetry every --interval s; --rounds syncs in rounds
                                               every --interval s instead; backs off while the server is unreachable
  tresor sync git --dir D [--url REPO_URL]     mirror to a Git repository (token: TRESOR_GIT_TOKEN or a prompt; kept encrypted)
  tresor join --git REPO_URL --dir D           set up this device from a Git mirror, verifying everything
  tresor recover --dir D [--bundle F] [--couch] [--mirror]
                                               rebuild a damaged vault: the database is moved aside (kept), every event
                                               that still reads (its copy, the journal, the bundle) and then what the
                                               CouchDB server / Git mirror it syncs with hold pass the gate again
  tresor serve --dir D [--port 8787] [--sync] [--mqtt mqtt://host:1883 --mqtt-topic 'plant/#']
                                               the edge daemon: the app and API on loopback behind a token, telemetry
                                               intake (POST /ingest with the ingest token, MQTT), and with --sync
                                               continuous sync and telemetry forwarding as tresor daemon does
                                               (--rounds, --interval too); with --witness it is a tlog witness
                                               (POST /add-checkpoint) of this vault's feeds and of each C2SP log
                                               --witness-log VKEY names (its note verifier key)`

const INGEST_TOKEN_FILE = 'ingest-token'
const READER_TOKEN_FILE = 'reader-token'

/** A per-install access token of the HTTP host, made once, readable by the owner only. */
async function serveToken(dir: string, file = SERVE_TOKEN_FILE): Promise<string> {
  const path = join(dir, file)
  const existing = await readFile(path, 'utf8').catch(() => null)
  if (existing && /^[0-9a-f]{64}$/.test(existing.trim())) return existing.trim()
  const token = randomBytes(32).toString('hex')
  await writeFile(path, token + '\n', { mode: 0o600 })
  return token
}

/** The mirror URL and token: from the flags (then stored, sealed) or from what was stored. */
async function gitConnection(
  dir: string,
  args: ParsedArgs,
  passphrase: string
): Promise<{ url: string; token: string }> {
  const url =
    flag(args, 'url') ??
    (
      (await readJsonFileIfExists(join(dir, GIT_STATE_FILE), 16 * 1024 * 1024, 6).catch(() => null)) as {
        url?: string
      } | null
    )?.url
  if (!url) throw usage('no Git mirror configured yet: give --url https://host/owner/repo.git')
  const stored = await loadCredentials(dir, url, passphrase, 'git')
  if (stored && !process.env.TRESOR_GIT_TOKEN) return { url, token: stored.password }
  const token = await getPassphrase(`Token for ${url}: `, false, 'TRESOR_GIT_TOKEN')
  await saveCredentials(dir, url, { username: 'token', password: token }, passphrase, 'git')
  return { url, token }
}

async function syncGitCommand(args: ParsedArgs, out: Out): Promise<number> {
  const passphrase = await getPassphrase('Device key passphrase: ')
  const conn = await gitConnection(dirOf(args), args, passphrase)
  return withApi(await vaultApi(args, { unlock: true, passphrase }), async (api) => {
    const round = await api.call('sync.git', conn)
    out.print(
      `read ${round.read} file(s): admitted ${round.admitted}, duplicates ${round.duplicates}, quarantined ${round.quarantined}, private ${round.private}; wrote ${round.written} event(s) and ${round.anchored} anchor(s)${round.pushed ? ', pushed' : ''}${round.problems.length ? `\nproblems:\n  ${round.problems.join('\n  ')}` : ''}`,
      round
    )
    return round.quarantined > 0 ? EXIT_PARTLY_REFUSED : 0
  })
}

/** The server, user and password for this vault: from the flags (then stored, sealed) or from what was stored. */
async function connection(
  dir: string,
  args: ParsedArgs,
  known?: string
): Promise<{ url: string; credentials?: Credentials }> {
  const passphrase = known ?? (await getPassphrase('Device key passphrase: '))
  const url = flag(args, 'url') ?? (await loadSyncState(dir))?.url
  if (!url) throw usage('no CouchDB configured yet: give --url http(s)://host:port/dbname')
  const user = flag(args, 'user')
  if (user) {
    const credentials = {
      username: user,
      password: await getPassphrase(`CouchDB password for ${user}: `, false, 'TRESOR_COUCH_PASSWORD')
    }
    await saveCredentials(dir, url, credentials, passphrase)
    return { url, credentials }
  }
  return { url, credentials: (await loadCredentials(dir, url, passphrase)) ?? undefined }
}

function describeStatus(s: SyncStatus): string {
  return [
    `server    ${s.url ?? '(none)'}${s.user ? ` as ${s.user}` : ''}${s.design ? ` (design doc: ${s.design})` : ''}`,
    `state     ${s.online ? 'online' : 'offline'}; last success ${s.lastSuccess ?? 'never'}${s.lastError ? `; last error: ${s.lastError}` : ''}`,
    `pending   ${s.pendingUp} to push, ${s.pendingDown} waiting in staging; ${s.quarantine} quarantined`,
    ...(s.denied.length
      ? [
          `REFUSED   ${s.denied.length} push(es) refused by the server, first: ${s.denied[0]!.id}: ${s.denied[0]!.reason}`
        ]
      : []),
    ...(s.lastRollback ? [`ROLLBACK  ${s.lastRollback.at}: ${s.lastRollback.message}`] : [])
  ].join('\n')
}

/** `tresor join --git URL --dir D`: a new device from a mirror. */
export async function joinGitCommand(args: ParsedArgs, out: Out, dir: string): Promise<number> {
  const url = flag(args, 'git')!
  const passphrase = await getPassphrase('Device key passphrase: ')
  const token = await getPassphrase(`Token for ${url}: `, false, 'TRESOR_GIT_TOKEN')
  const { vault, round } = await joinFromGit({
    dir,
    url,
    token,
    passphrase,
    adopt: (raw) => Vault.adopt({ dir, genesis: decodeEvent(raw, null), passphrase })
  })
  await saveCredentials(dir, url, { username: 'token', password: token }, passphrase, 'git')
  return withVault(vault, async () => {
    const me = vault.member
    out.print(
      `joined ${vault.config.name} (${vault.vaultId}) from ${url}: ${round.admitted} event(s) verified and admitted${round.private ? `, ${round.private} private event(s) to fetch through CouchDB or a bundle` : ''}\n${me ? `this device signs for ${me.name}` : 'this device key is not a key of the vault yet: ask a member to propose key-add'}`,
      { vaultId: vault.vaultId, member: me?.name ?? null, round }
    )
    return round.quarantined > 0 ? EXIT_PARTLY_REFUSED : 0
  })
}

function describeRecovery(r: RecoveryReport, peers: string[]): string {
  const lines = [
    r.movedAside
      ? `the damaged database is kept, untouched, at ${r.movedAside}`
      : 'there was no database to move aside',
    `read back: ${r.read.damagedDb} from the damaged database, ${r.read.journal} from the journal, ${r.read.bundles} from bundles (${r.read.unreadable} unreadable); ${r.admitted} admitted through the gate`,
    ...peers,
    ...r.feeds.map(
      (f) =>
        `  ${f.author.slice(0, 12)}…  ${f.recovered} of ${f.known || f.recovered}${f.recovered < f.known ? `  (${f.known - f.recovered} missing)` : ''}`
    ),
    r.missing === 0
      ? 'nothing the last verified point knew is missing'
      : `${r.missing} event(s) the last verified point knew are still missing: sync with a peer (tresor sync couch / sync git) or import a bundle that holds them`,
    ...(r.ownBehind
      ? [
          `this device's own feed is at ${r.ownBehind.recovered} of ${r.ownBehind.known}: it signs nothing until peers bring the rest back (signing now would fork its key)`
        ]
      : [])
  ]
  return lines.join('\n')
}

/**
 * `tresor recover --dir D [--bundle F] [--couch] [--mirror]`: rebuild a
 * damaged vault from what still reads, then from the peers it syncs with.
 */
async function recoverCommand(args: ParsedArgs, out: Out): Promise<number> {
  const dir = dirOf(args)
  const daemon = await runningDaemon(dir)
  if (daemon) return recoverThroughDaemon(args, out, daemon)
  const config = await Vault.readConfig(dir)
  const peers: Peers = {}
  let passphrase = ''
  if (args.flags.has('couch') || args.flags.has('mirror')) {
    passphrase = await getPassphrase('Device key passphrase: ')
    if (args.flags.has('couch')) peers.couch = await connection(dir, args, passphrase)
    if (args.flags.has('mirror')) peers.git = await gitConnection(dir, args, passphrase)
  }
  const bundles = await Promise.all((args.flags.get('bundle') ?? []).map((f) => readFile(f, 'utf8')))
  // The peers are asked for the genesis only when nothing local holds it (the database that held it is the damaged
  // one).
  const { vault, report } = await Vault.recover({
    dir,
    bundles,
    fetchGenesis: peers.couch || peers.git ? () => genesisFromPeers(dir, config, peers) : undefined
  })
  return withVault(vault, async () => {
    const lines = await catchUpFromPeers(vault, peers, passphrase)
    recount(report, vault.heads(), vault.device) // what the peers brought back counts too
    out.print(describeRecovery(report, lines), report)
    return recoveryOutcome(report, vault.health)
  })
}

/** A recovery's exit status, and the one line that says what is still wrong (missing events, or READ-ONLY). */
function recoveryOutcome(
  report: Pick<RecoveryReport, 'missing' | 'ownBehind'>,
  health: { state: string; reason: string | null }
): number {
  if (report.missing === 0 && health.state === 'ok') return 0
  process.stderr.write(
    `tresor: recover: ${
      report.missing > 0
        ? `${report.missing} event(s) are still missing${report.ownBehind ? ' and this device signs nothing until they are back' : ''}; run recover again with --couch or --mirror, or with --bundle FILE from a device that holds them`
        : `the rebuilt vault is READ-ONLY: ${health.reason ?? 'see tresor verify --full'}`
    }\n`
  )
  return 3
}

/**
 * Recovery while `tresor serve` holds the vault: the daemon closes it, runs the
 * rebuild (asking the peers it has stored, with --couch / --mirror) and opens
 * it again; this process only hands over the passphrase and the bundle.
 */
async function recoverThroughDaemon(
  args: ParsedArgs,
  out: Out,
  daemon: { url: string; token: string }
): Promise<number> {
  const files = args.flags.get('bundle') ?? []
  if (files.length > 1)
    throw usage('while tresor serve runs, recover takes one --bundle at a time (run it again for the next)')
  if (flag(args, 'url') || flag(args, 'user'))
    throw usage(
      'while tresor serve runs, recover asks the servers this vault already syncs with: drop --url/--user, or stop the daemon to name another'
    )
  const passphrase = await getPassphrase('Device key passphrase: ')
  const bundle = files[0] ? await readFile(files[0], 'utf8') : undefined
  return withApi(await remoteApi(daemon), async (api) => {
    const result = await api.call('vault.recover', {
      passphrase,
      bundle,
      peers: args.flags.has('couch') || args.flags.has('mirror')
    })
    out.print(describeRecovery(result, result.peers), result)
    return recoveryOutcome(result, (await api.call('vault.status', {})).health)
  })
}

export const SYNC_COMMANDS: Record<string, (args: ParsedArgs, out: Out) => Promise<number>> = {
  recover: recoverCommand,
  async serve(args, out) {
    boundDaemonHeap()
    const port = Number(flag(args, 'port') ?? 8787)
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw usage('--port is 0-65535')
    // From source this file is edge/cli-sync.ts; built, it is a chunk in out/edge/ beside out/renderer/.
    const ui = import.meta.url.endsWith('.ts') ? '../out/renderer/' : '../renderer/'
    const staticDir = fileURLToPath(new URL(ui, import.meta.url))
    if (!existsSync(join(staticDir, 'index.html'))) throw usage('the UI is not built yet: run npm run build first')
    const dir = dirOf(args)
    await mkdir(dir, { recursive: true, mode: 0o700 })
    const stopping = stopSignal()
    let mqttInput: MqttInput | null = null
    let pusher: WitnessPusher | null = null
    let loop: Promise<unknown> = Promise.resolve()
    // The vault's own rounds stop when the daemon stops, or when the vault is closed under a running daemon (recovery).
    let closeVault = () => {}
    // While the rounds run, sync's status is live (online/offline) and a round asked for through the API is their next.
    let live: CouchSync | null = null
    // A folder without a vault is served too: the UI offers onboarding (create, or join from a bundle).
    const witnessLogs = (args.flags.get('witness-log') ?? []).map((k) => {
      try {
        return parseVerifierKey(k)
      } catch (err) {
        throw usage(`--witness-log ${k.slice(0, 40)}: ${(err as Error).message}`)
      }
    })
    const host = openHost({
      dir,
      joiners: JOINERS,
      witnessLogs,
      recovery: STORED_PEERS,
      extensions: [syncDomain({ live: () => live })],
      // The edge keeps the telemetry store and seals with the device key: unlocked from TRESOR_PASSPHRASE when set,
      // else from the UI.
      telemetry: true,
      unlock: process.env.TRESOR_PASSPHRASE
        ? {
            passphrase: process.env.TRESOR_PASSPHRASE,
            onError: (err) => out.print(`device key not unlocked: ${err.message}`, { error: err.message })
          }
        : undefined,
      providers: async (vault, store) => {
        if (!store) throw INTERNAL('the edge host keeps a telemetry store')
        // Each checkpoint this device signs goes to the witnesses the vault's policy lists with a URL.
        pusher = new WitnessPusher(vault, (r) =>
          out.print(
            `${new Date().toISOString()} witness ${r.witness}: ${r.status === 200 && r.cosignatures.length ? `cosigned size ${r.size}` : `${r.status} ${r.reason}`}`,
            { witnessPush: r }
          )
        )
        const mqttUrl = flag(args, 'mqtt')
        if (mqttUrl) {
          const topics = args.flags.get('mqtt-topic') ?? ['tresor/#']
          mqttInput = await startMqttInput({
            url: mqttUrl,
            topics,
            store,
            onEvent: (e) => {
              if (e.kind !== 'ingested') out.print(`${new Date().toISOString()} mqtt ${e.kind}: ${e.detail}`, e)
            }
          })
          out.print(`subscribed to ${topics.join(', ')} at ${mqttUrl} (QoS 1, acknowledged once on disk)`, {
            mqtt: mqttUrl,
            topics
          })
        }
        if (args.flags.has('sync')) {
          let closed = false
          const closing = new Promise<void>((resolve) => {
            closeVault = () => {
              closed = true
              resolve()
            }
          })
          const until = {
            promise: Promise.race([stopping.promise, closing]),
            stopped: () => closed || stopping.stopped()
          }
          loop = syncLoop(
            vault,
            args,
            out,
            store,
            until,
            (sync) => {
              live = sync
            },
            () => host.publish({ topic: 'sync' })
          )
            .catch((err: Error) => out.print(`sync stopped: ${err.message}`, { error: err.message }))
            .finally(() => {
              live = null
            })
        }
        return {}
      },
      beforeClose: async () => {
        await pusher?.stop()
        pusher = null
        closeVault()
        await mqttInput?.close()
        mqttInput = null
        await loop
      }
    })
    // Another process has the vault: say so and do not offer onboarding over it.
    const opened = await host.handlers['onboard.status']({} as never)
    if (opened.error?.code === 'IN_USE') {
      await host.close()
      throw IN_USE(opened.error.message)
    }
    // Logs and metrics: the vault as it opens and closes (recovery), what it does, every call answered.
    // loaded here, not with the CLI: the other commands do not pay for the logger, metrics and tracing
    const [{ Observer }, { startTracing }] = await Promise.all([import('./observe.js'), import('./trace.js')])
    const observer = new Observer()
    const tracing = await startTracing().catch((err: Error) => {
      observer.log.error({ error: err.message }, 'trace export could not start; serving without it')
      return null
    })
    observer.tracer = tracing?.tracer ?? null
    const attach = () =>
      observer.attach(
        host.vault(),
        () => host.telemetry(),
        async () => host.handlers['sync.status']({} as never)
      )
    attach()
    const unobserve = host.subscribe((e) =>
      e.topic === 'opened' || e.topic === 'closed' ? attach() : observer.event(e)
    )
    const [token, ingestToken, readerToken] = [
      await serveToken(dir),
      await serveToken(dir, INGEST_TOKEN_FILE),
      await serveToken(dir, READER_TOKEN_FILE)
    ]
    const { server, url, endStreams } = await startHttpHost({
      handlers: host.handlers,
      registry: host.registry,
      token,
      readerToken,
      staticDir,
      port,
      ingest: { store: () => host.telemetry(), token: ingestToken },
      events: host.subscribe,
      witness: args.flags.has('witness') ? () => host.witness() : undefined,
      observe: observer
    })
    observer.log.info(
      { url, pid: process.pid, sync: args.flags.has('sync'), witness: args.flags.has('witness') },
      'serving'
    )
    // The CLI run beside the daemon calls it here instead of opening the vault (edge/cli-client.ts).
    const unsay = await writeServeFile(dir, url)
    try {
      // The link with the token goes only to a person at a terminal: output a supervisor keeps names the file instead.
      const link = process.stdout.isTTY
        ? `${url}/#token=${token}`
        : `${url} (open ${url}/#token=<the token in the file>)`
      out.print(
        `Tresor is served at ${link}\n(the token is in ${join(dir, SERVE_TOKEN_FILE)}; stop with Ctrl-C)\ntelemetry intake: POST ${url}/ingest with the token in ${join(dir, INGEST_TOKEN_FILE)}\nread-only (the API's reads, /events, /metrics): the token in ${join(dir, READER_TOKEN_FILE)}`,
        {
          url,
          tokenFile: join(dir, SERVE_TOKEN_FILE),
          ingestUrl: `${url}/ingest`,
          ingestTokenFile: join(dir, INGEST_TOKEN_FILE),
          readerTokenFile: join(dir, READER_TOKEN_FILE)
        }
      )
      await stopping.promise
    } finally {
      // Stop taking requests; browsers keep connections open, so those are cut after a short grace.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      endStreams()
      server.closeIdleConnections()
      setTimeout(() => server.closeAllConnections(), 2000).unref()
      await closed
      await unsay()
      unobserve()
      await host.close()
      await tracing?.shutdown().catch((err: Error) => observer.log.warn({ error: err.message }, 'last spans not sent'))
      observer.log.info({ pid: process.pid }, 'stopped')
    }
    return 0
  },

  async sync(args, out) {
    const sub = args.command[1]
    if (sub === 'status') {
      return withApi(await vaultApi(args), async (api) => {
        const status = await api.call('sync.status', {})
        out.print(describeStatus(status), status)
        return 0
      })
    }
    if (sub === 'git') return syncGitCommand(args, out)
    if (sub === 'telemetry') {
      const conn = await connection(dirOf(args), args)
      return withApi(await vaultApi(args, { telemetry: true }), async (api) => {
        const { round, pull } = await api.call('sync.telemetry', {
          ...conn,
          admin: args.flags.has('admin'),
          pull: args.flags.has('pull')
        })
        out.print(describeForward(round, pull), { round, pull })
        return round.denied.length > 0 || (pull?.quarantined ?? 0) > 0 ? EXIT_PARTLY_REFUSED : 0
      })
    }
    if (sub !== 'couch') throw usage('sync couch, sync git, sync telemetry or sync status')
    const passphrase = await getPassphrase('Device key passphrase: ')
    const conn = await connection(dirOf(args), args, passphrase)
    return withApi(await vaultApi(args, { unlock: true, passphrase }), async (api) => {
      const { round, status } = await api.call('sync.couch', { ...conn, admin: args.flags.has('admin') })
      out.print(
        `pulled ${round.pulled}, admitted ${round.admitted}, duplicates ${round.duplicates}, quarantined ${round.quarantined}, waiting ${round.waiting}, pushed ${round.pushed}\n${describeStatus(status)}`,
        { round, status }
      )
      return round.rollback || round.denied.length > 0 ? EXIT_PARTLY_REFUSED : 0
    })
  },

  async quarantine(args, out) {
    return withApi(await vaultApi(args), async (api) => {
      const entries = await api.call('sync.quarantine', {})
      out.print(
        entries.length === 0
          ? 'nothing in quarantine'
          : entries
              .map((e) => `${e.at}  ${e.code.padEnd(16)} ${e.docId}\n    ${e.reason} (from ${e.source})`)
              .join('\n'),
        entries
      )
      return 0
    })
  },

  async daemon(args, out) {
    boundDaemonHeap()
    return withVault(await openUnlocked(args), async (vault) => {
      const store = await TelemetryStore.open(vault)
      try {
        await syncLoop(vault, args, out, store, stopSignal())
        return 0
      } finally {
        await store.close()
      }
    })
  }
}

function stopSignal(): { promise: Promise<void>; stopped: () => boolean } {
  let stopped = false
  const promise = new Promise<void>((resolve) => {
    const stop = () => {
      stopped = true
      resolve()
    }
    process.once('SIGTERM', stop)
    process.once('SIGINT', stop)
  })
  return { promise, stopped: () => stopped }
}

function describeForward(round: ForwardRound, pull: PullRound | null): string {
  return [
    `telemetry: forwarded ${round.batches} batch(es) (${round.readings} readings); forwarded up to ${round.forwardedSeq}, ${round.pending} waiting`,
    ...(round.resent ? [`RESENT    ${round.resent}`] : []),
    ...(round.denied.length ? [`REFUSED   ${round.denied[0]!.id}: ${round.denied[0]!.reason}`] : []),
    ...(pull
      ? [
          `pulled ${pull.pulled}: admitted ${pull.admitted}, duplicates ${pull.duplicates}, quarantined ${pull.quarantined}, waiting ${pull.waiting}`
        ]
      : [])
  ].join('\n')
}

/**
 * The daemon's sync: by default it follows the server (sync/couch-follow.ts: changes feed in, appends out as they
 * happen) and forwards telemetry every --interval seconds; with --rounds it runs rounds every --interval seconds
 * instead, for hosts that cannot hold a connection. Both back off while the server is unreachable.
 */
async function syncLoop(
  vault: Vault,
  args: ParsedArgs,
  out: Out,
  store: TelemetryStore,
  stopping: { promise: Promise<void>; stopped: () => boolean },
  onOpen?: (sync: CouchSync) => void,
  onSyncChange?: () => void
): Promise<void> {
  const interval = Number(flag(args, 'interval') ?? 10)
  if (!Number.isFinite(interval) || interval < 1 || interval > 3600) throw usage('--interval is 1-3600 seconds')
  const conn = await connection(vault.dir, args)
  const sync = await CouchSync.open(vault, { ...conn, admin: args.flags.has('admin') })
  onOpen?.(sync)
  // A long-running host outlives a network error that a library left unhandled
  // (pouchdb-replication drops a progress request's rejection when the server
  // dies mid-round): say so and carry on; the next round retries.
  process.on('unhandledRejection', (err) => {
    out.print(`${new Date().toISOString()} network error outside a round: ${(err as Error)?.message ?? String(err)}`, {
      error: (err as Error)?.message ?? String(err)
    })
  })
  // Every device sees every device: while it syncs, this one signs its status (heads, health, check, sync).
  const reporter = new StatusReporter(vault, {
    software: TRESOR_VERSION,
    sync: async () => syncStanding(await sync.status()),
    onError: (err) => out.print(`device status not signed: ${err.message}`, { statusError: err.message })
  })
  const syncChanged = () => {
    reporter.request('sync')
    onSyncChange?.()
  }
  const follower = args.flags.has('rounds')
    ? null
    : CouchFollower.follow(vault, sync, {
        onChange: syncChanged,
        onReport: (line) => out.print(`${new Date().toISOString()} sync ${line}`, { live: line })
      })
  const telemetry = async () => {
    if (store.head.seq === 0 && !args.flags.has('pull')) return
    // Telemetry has its own database: its failure (e.g. not created yet) is reported, and the event sync goes on.
    await telemetryRound(store, { ...conn, admin: args.flags.has('admin') }, args.flags.has('pull')).then(
      (t) => out.print(`${new Date().toISOString()} ${describeForward(t.round, t.pull)}`, { telemetry: t }),
      (err: Error) =>
        out.print(`${new Date().toISOString()} telemetry not forwarded: ${err.message}`, {
          telemetryError: err.message
        })
    )
  }
  let backoff = 1
  try {
    while (!stopping.stopped()) {
      let delay = interval
      if (follower) await telemetry()
      else
        try {
          const round = await sync.syncOnce()
          out.print(
            `${new Date().toISOString()} synced: +${round.admitted} in, ${round.pushed} out, ${round.quarantined} quarantined${round.rollback ? ', ROLLBACK reported' : ''}${round.denied.length ? `, ${round.denied.length} refused` : ''}`,
            { round }
          )
          syncChanged()
          await telemetry()
          backoff = 1
        } catch (err) {
          if (err instanceof VaultError && err.code === 'READ_ONLY') throw err
          delay = Math.min(backoff, 60)
          backoff *= 2
          out.print(`${new Date().toISOString()} offline: ${(err as Error).message}; retrying in ${delay}s`, {
            error: (err as Error).message,
            retryIn: delay
          })
          syncChanged()
        }
      // The timer keeps the process alive between rounds; a stop signal cuts the wait short.
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        stopping.promise,
        new Promise((resolve) => {
          timer = setTimeout(resolve, delay * 1000)
        })
      ])
      clearTimeout(timer)
    }
  } finally {
    await reporter.stop()
    await follower?.stop()
    await sync.close()
  }
}
