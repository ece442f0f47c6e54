/**
 * The CLI as a transport: a command parses its flags, calls core's handlers
 * and prints. Where no process holds the vault, the CLI opens it itself;
 * where `tresor serve` holds it (owner.lock names it, and it left its address
 * in `serve.json`), the CLI calls that daemon's API on loopback with the
 * serve token (`serve-token`, readable by the owner only), so every such
 * command works while the daemon runs. A vault held by another kind of
 * process (the desktop app) is still IN_USE, naming it.
 */
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import {
  createHandlers,
  dispatch,
  fromWireError,
  IN_USE,
  INTERNAL,
  isWireError,
  OWNER_FILE,
  readJsonFileIfExists,
  registryOf,
  TelemetryStore,
  VaultError,
  writeJsonFile,
  type Handlers,
  type Vault,
  type WireError,
  lazyPackage
} from '../core/index.js'
import { syncDomain, type SyncHostMethods } from '../sync/methods.js'
import { dirOf, openVault } from './cli-support.js'
import { getPassphrase } from './passphrase.js'
import type { ParsedArgs } from './args.js'

// Node's HTTP client only when a daemon is there to ask (the CLI is one file, loaded whole: edge/start.ts).
const http = lazyPackage<typeof import('node:http')>('node:http')

/** Where a running `tresor serve` answers (its pid and loopback URL), beside its token. */
export const SERVE_FILE = 'serve.json'
/** The HTTP host's access token, made once per install, readable by the owner only. */
export const SERVE_TOKEN_FILE = 'serve-token'

/** What the CLI calls: core's contract and sync's extension, as `tresor serve` serves them. */
export type CliHandlers = Handlers & SyncHostMethods
export type CliMethod = keyof CliHandlers
type ArgsOf<M extends CliMethod> = Parameters<CliHandlers[M]>[0]
type ResultOf<M extends CliMethod> = Awaited<ReturnType<CliHandlers[M]>>

const SYNC_EXTENSION = [syncDomain()]
const REGISTRY = registryOf(SYNC_EXTENSION)

export interface VaultApi {
  call<M extends CliMethod>(method: M, args: ArgsOf<M>): Promise<ResultOf<M>>
  /** The daemon's URL when the calls go to a running `tresor serve`; null when this process opened the vault. */
  readonly via: string | null
  /**
   * The vault this process opened (null through a daemon): for work bigger than an API call carries (a bundle file over
   * 48 MiB).
   */
  readonly local: Vault | null
  /** The telemetry store this process opened (with `telemetry`), for intake that waits for room instead of polling. */
  readonly telemetry: TelemetryStore | null
  close(): Promise<void>
}

/** Said by `tresor serve` once it listens; taken back when it stops. */
export async function writeServeFile(dir: string, url: string): Promise<() => Promise<void>> {
  const path = join(dir, SERVE_FILE)
  await writeJsonFile(path, { v: 1, pid: process.pid, url })
  return async () => {
    const still = (await readJsonFileIfExists(path, 4096, 2).catch(() => null)) as { pid?: unknown } | null
    if (still?.pid === process.pid) await rm(path, { force: true })
  }
}

/**
 * The vault's API for one command: the running daemon's, or this process's
 * own. `unlock`: the command signs, so the device key must be unlocked (with
 * the passphrase from TRESOR_PASSPHRASE or a prompt); a daemon whose key was
 * locked is locked again when the command ends. `passphrase`: one the
 * command already asked for (to open sealed credentials), so it is not asked twice.
 */
export async function vaultApi(args: ParsedArgs, opts: ApiOptions = {}): Promise<VaultApi> {
  let vault: Vault
  try {
    vault = await openVault(args, opts.full)
  } catch (err) {
    if (!(err instanceof VaultError) || err.code !== 'IN_USE') throw err
    const daemon = await runningDaemon(dirOf(args))
    if (!daemon) throw err
    return remoteApi(daemon, opts)
  }
  let store: TelemetryStore | undefined
  try {
    if (opts.unlock) await vault.unlock(opts.passphrase ?? (await getPassphrase('Device key passphrase: ')))
    // Telemetry seals with the key: unlocked from TRESOR_PASSPHRASE where it is set, as the daemon does.
    else if (opts.telemetry && process.env.TRESOR_PASSPHRASE) await vault.unlock(process.env.TRESOR_PASSPHRASE)
    if (opts.telemetry) store = await TelemetryStore.open(vault)
  } catch (err) {
    await vault.close()
    throw err
  }
  const handlers = createHandlers(vault, { autoLockMs: 0, telemetry: store }, SYNC_EXTENSION)
  return {
    via: null,
    local: vault,
    telemetry: store ?? null,
    call: (method, a) => dispatch(handlers, method, a, REGISTRY) as never,
    close: async () => {
      await store?.close()
      await vault.close()
    }
  }
}

/** The daemon that holds the vault, if it is a `tresor serve` of this folder that said where it answers. */
export async function runningDaemon(dir: string): Promise<{ url: string; token: string } | null> {
  const owner = (await readJsonFileIfExists(join(dir, OWNER_FILE), 4096, 2).catch(() => null)) as {
    pid?: unknown
    role?: unknown
  } | null
  const serve = (await readJsonFileIfExists(join(dir, SERVE_FILE), 4096, 2).catch(() => null)) as {
    pid?: unknown
    url?: unknown
  } | null
  if (!owner || !serve || owner.pid !== serve.pid || typeof serve.url !== 'string') return null
  if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(serve.url)) return null // loopback only: the token never leaves the machine
  const token = (await readFile(join(dir, SERVE_TOKEN_FILE), 'utf8').catch(() => '')).trim()
  if (!/^[0-9a-f]{64}$/.test(token)) return null
  return { url: serve.url, token }
}

/**
 * One POST to the daemon on loopback with node:http, the connection closed after the answer. Not fetch: loading
 * undici and its kept-alive socket cost a CLI call ~150 ms before it could exit, about half of a `tresor status`.
 */
function postJson(url: string, token: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http().request(
      url,
      {
        method: 'POST',
        agent: false,
        headers: {
          Authorization: `Bearer ${token}`,
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(body),
          Connection: 'close'
        }
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }))
        res.on('error', reject)
      }
    )
    req.on('error', reject)
    req.end(body)
  })
}

function parseAnswer(text: string): { ok: boolean; value?: unknown; error?: WireError } | null {
  try {
    const v = JSON.parse(text) as unknown
    return typeof v === 'object' && v !== null ? (v as { ok: boolean; value?: unknown; error?: WireError }) : null
  } catch {
    return null
  }
}

export async function remoteApi(daemon: { url: string; token: string }, opts: ApiOptions = {}): Promise<VaultApi> {
  const call = async <M extends CliMethod>(method: M, a: ArgsOf<M>): Promise<ResultOf<M>> => {
    let res: { status: number; text: string }
    try {
      res = await postJson(`${daemon.url}/api/${method}`, daemon.token, JSON.stringify(a ?? {}))
    } catch (err) {
      throw IN_USE(
        `the vault is held by tresor serve at ${daemon.url}, which did not answer (${(err as Error).message})`
      )
    }
    const body = parseAnswer(res.text)
    if (!body) throw INTERNAL(`tresor serve at ${daemon.url} answered ${res.status} without a result`)
    if (!body.ok)
      throw isWireError(body.error)
        ? fromWireError(body.error)
        : INTERNAL(`tresor serve at ${daemon.url} answered ${res.status} with an error it did not name`)
    return body.value as ResultOf<M>
  }
  let relock = false
  if (opts.unlock) {
    const status = await call('vault.status', {} as never)
    if (!status.unlocked) {
      await call('vault.unlock', { passphrase: opts.passphrase ?? (await getPassphrase('Device key passphrase: ')) })
      relock = true // the daemon's key was locked before this command: it is locked again after
    }
  }
  return {
    via: daemon.url,
    local: null,
    telemetry: null,
    call,
    close: async () => {
      // the daemon may have locked itself (auto-lock) or stopped: either way the key is not left open by us
      if (relock) await call('vault.lock', {}).catch(() => undefined)
    }
  }
}

export interface ApiOptions {
  unlock?: boolean
  full?: boolean
  telemetry?: boolean
  passphrase?: string
}

/** Run `fn` with the vault's API and always close it. */
export async function withApi<T>(api: VaultApi, fn: (api: VaultApi) => Promise<T>): Promise<T> {
  try {
    return await fn(api)
  } finally {
    await api.close()
  }
}
