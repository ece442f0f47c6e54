/**
 * A vault on one device: its log store, its device key, its health.
 * Opening a vault runs the boot self-check; a failed check puts it in
 * READ-ONLY and every append refuses until a full check passes again.
 */
import { mkdir, readFile } from 'node:fs/promises'
import { readJsonFile, readJsonFileIfExists, removeFile, writeJsonFile } from './files.js'
import { join } from 'node:path'
import { openDb } from './pouch.js'
import { LogStore, parseEventDocId, type EventDoc } from './store.js'
import { AppendPipeline } from './append-pipeline.js'
import { decodeEvent, GENESIS_TYPE, signEvent, utcNow, type DecodedEvent, type SeenHead, type SignedEvent } from './envelope.js'
import { createKeyFile, openKeyFile, readKeyFile, writeKeyFile, type DeviceKey } from './keys.js'
import { verifyFull, verifyIncremental, type VerifyReport } from './verify.js'
import { checkPoint, loadPoint, savePoint, signPoint, type VerifiedPoint } from './verified-point.js'
import { ALREADY_EXISTS, BAD_ARGUMENT, LOCKED, MALFORMED, READ_ONLY, VaultError } from './errors.js'
import { isHex } from './bytes.js'
import { isWeakPublicKey } from './ed25519.js'
import type { Json } from './canonical.js'

export const VAULT_FILE = 'vault.json'
export const KEY_FILE = 'device.key'
export const DB_DIR = 'events.db'
/** Written when a check fails; a normal start then runs a full check until one passes. */
export const ALARM_FILE = 'alarm.json'
const ROLE_RE = /^[a-z][a-z0-9_-]{0,31}$/

export interface MemberSpec { name: string; roles: string[]; keys: string[] }

export interface VaultConfig {
  format: 'tresor-vault'
  v: 1
  vaultId: string
  name: string
  /** This device's public key (its own feed). */
  device: string
  /** Author of the genesis event, to find it without a scan. */
  genesisAuthor: string
}

export type HealthState = 'ok' | 'read-only'
export interface Health { state: HealthState; reason: string | null; report: VerifyReport | null }

export interface OpenOptions {
  dir: string
  /** Force a full check instead of an incremental start. */
  full?: boolean
  onProgress?: (done: number, total: number) => void
}

export interface CreateOptions {
  dir: string
  vaultName: string
  passphrase: string
  /** This device's member name and roles (the founder). */
  memberName: string
  roles: string[]
  /** Further founding members with their device keys. */
  members?: MemberSpec[]
  kdf?: { N: number; r: number; p: number }
  now?: Date
}

/** Make (or reuse) the device key in `dir`. */
export async function ensureDeviceKey(dir: string, name: string, passphrase: string, kdf?: CreateOptions['kdf']): Promise<DeviceKey> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const path = join(dir, KEY_FILE)
  const existing = await readKeyFile(path).catch((err: VaultError) => (err.code === 'NOT_FOUND' ? null : Promise.reject(err)))
  if (existing) return openKeyFile(existing, passphrase)
  const { file, key } = await createKeyFile(name, passphrase, kdf)
  await writeKeyFile(path, file)
  return key
}

function checkMembers(members: MemberSpec[]): void {
  const names = new Set<string>()
  const keys = new Set<string>()
  for (const m of members) {
    if (typeof m.name !== 'string' || m.name.trim() === '' || m.name.length > 128) throw BAD_ARGUMENT('each member needs a name of 1-128 characters')
    if (names.has(m.name)) throw BAD_ARGUMENT(`member ${m.name} is listed twice`)
    names.add(m.name)
    if (!Array.isArray(m.roles) || m.roles.length === 0 || !m.roles.every((r) => ROLE_RE.test(r))) {
      throw BAD_ARGUMENT(`member ${m.name}: roles must be lower-case names like operator,auditor`)
    }
    for (const k of m.keys) {
      if (!isHex(k, 32)) throw BAD_ARGUMENT(`member ${m.name}: key must be 64 lower-case hex characters`)
      if (isWeakPublicKey(Buffer.from(k, 'hex'))) throw BAD_ARGUMENT(`member ${m.name}: key is of small order or not canonical`)
      if (keys.has(k)) throw BAD_ARGUMENT(`key ${k.slice(0, 8)}… is listed twice`)
      keys.add(k)
    }
  }
}

export class Vault {
  readonly dir: string
  readonly config: VaultConfig
  readonly store: LogStore
  private key: DeviceKey | null = null
  private healthState: Health = { state: 'ok', reason: null, report: null }
  private memberKeys = new Set<string>()
  private feeds = new Map<string, { length: number; head: string }>()
  private queue: Promise<unknown> = Promise.resolve()
  private point: VerifiedPoint | null = null
  private pipeline!: AppendPipeline
  private journalRejected = 0

  private constructor(dir: string, config: VaultConfig, store: LogStore) {
    this.dir = dir
    this.config = config
    this.store = store
  }

  /** Create a new vault: device key, genesis event, config. The device key's passphrase unlocks it. */
  static async create(opts: CreateOptions): Promise<Vault> {
    if (!opts.vaultName || opts.vaultName.length > 128) throw BAD_ARGUMENT('a vault name of 1-128 characters is required')
    const existing = await readFile(join(opts.dir, VAULT_FILE)).then(() => true, () => false)
    if (existing) throw ALREADY_EXISTS(`${opts.dir} already holds a vault`)
    const key = await ensureDeviceKey(opts.dir, opts.memberName, opts.passphrase, opts.kdf)
    const members: MemberSpec[] = [{ name: opts.memberName, roles: opts.roles, keys: [key.publicKey] }, ...(opts.members ?? [])]
    checkMembers(members)
    const genesis = signEvent({
      v: 1, vault: null, author: key.publicKey, seq: 1, prev: null, ts: utcNow(opts.now),
      type: GENESIS_TYPE, payload: { name: opts.vaultName, members: members as unknown as Json }, seen: []
    }, key.keyPair.secretKey)
    const config: VaultConfig = {
      format: 'tresor-vault', v: 1, vaultId: genesis.id, name: opts.vaultName, device: key.publicKey, genesisAuthor: key.publicKey
    }
    const store = new LogStore(openDb(join(opts.dir, DB_DIR)))
    await store.put(genesis)
    await writeJsonFile(join(opts.dir, VAULT_FILE), config)
    const vault = new Vault(opts.dir, config, store)
    vault.key = key
    await vault.openPipeline()
    await vault.boot({ full: true })
    return vault
  }

  /** Open an existing vault and run the boot self-check (incremental from a valid verified point, else full). */
  static async open(opts: OpenOptions): Promise<Vault> {
    const config = await readJsonFile(join(opts.dir, VAULT_FILE), 64 * 1024) as unknown as VaultConfig
    if (config?.format !== 'tresor-vault' || config.v !== 1 || !isHex(config.vaultId, 32) || !isHex(config.device, 32) || !isHex(config.genesisAuthor, 32)) {
      throw MALFORMED(`${join(opts.dir, VAULT_FILE)} is not a Tresor v1 vault file`)
    }
    const store = new LogStore(openDb(join(opts.dir, DB_DIR)))
    const vault = new Vault(opts.dir, config, store)
    await vault.openPipeline()
    await vault.boot({ full: opts.full === true, onProgress: opts.onProgress })
    return vault
  }

  get vaultId(): string { return this.config.vaultId }
  get device(): string { return this.config.device }
  get health(): Health { return this.healthState }
  get unlocked(): boolean { return this.key !== null }
  get members(): MemberSpec[] { return this.genesisMembers }
  private genesisMembers: MemberSpec[] = []

  /** Decrypt the device key. KEY_AUTH_FAILED on a wrong passphrase. */
  async unlock(passphrase: string): Promise<void> {
    const key = await openKeyFile(await readKeyFile(join(this.dir, KEY_FILE)), passphrase)
    if (key.publicKey !== this.device) throw BAD_ARGUMENT('the key file in this folder is not this vault\'s device key')
    this.key = key
  }

  lock(): void {
    this.key?.keyPair.secretKey.fill(0)
    this.key = null
  }

  /** Replay the append journal into PouchDB (acknowledged appends a crash left unindexed). */
  private async openPipeline(): Promise<void> {
    const { pipeline, rejected } = await AppendPipeline.open(this.dir, this.store, this.vaultId)
    this.pipeline = pipeline
    this.store.setReadBarrier(() => pipeline.flush())
    this.journalRejected = rejected
  }

  private async loadGenesis(): Promise<void> {
    const doc = await this.store.get(this.config.genesisAuthor, 1)
    this.memberKeys = new Set()
    this.genesisMembers = []
    if (!doc) return
    try {
      const g = decodeEvent(doc.raw, this.vaultId)
      if (g.id !== this.vaultId || g.event.type !== GENESIS_TYPE) return
      this.genesisMembers = (g.event.payload.members as unknown as MemberSpec[]) ?? []
      for (const m of this.genesisMembers) for (const k of m.keys) this.memberKeys.add(k)
    } catch {
      // A broken genesis leaves no member keys: every event then fails as UNKNOWN_AUTHOR.
    }
  }

  /** The boot self-check. Sets health; never throws for a bad log, only for I/O failure. */
  async boot(options: { full?: boolean; onProgress?: (done: number, total: number) => void } = {}): Promise<VerifyReport> {
    return this.exclusive(async () => {
      await this.pipeline.flush()
      await this.loadGenesis()
      const point = checkPoint(await loadPoint(this.dir), this.vaultId, this.device)
      const alarm = await readJsonFileIfExists(join(this.dir, ALARM_FILE), 1024 * 1024).catch(() => true)
      const base = { store: this.store, vaultId: this.vaultId, isKnownAuthor: (a: string) => this.memberKeys.has(a), onProgress: options.onProgress }
      const report = options.full || !point || alarm
        ? await verifyFull({ ...base, point })
        : await verifyIncremental({ ...base, point })
      await this.applyReport(report, point)
      return report
    })
  }

  private async applyReport(report: VerifyReport, prior: VerifiedPoint | null): Promise<void> {
    this.feeds = new Map(Object.entries(report.feeds))
    const ownFork = report.forks.find((f) => f.author === this.device)
    if (this.journalRejected > 0) {
      report.ok = false
      report.issues.unshift({ code: 'MALFORMED', docId: 'append.journal', message: `the append journal holds ${this.journalRejected} entr(y/ies) that do not verify; it is kept for inspection` })
    }
    if (!report.ok) {
      const first = report.issues[0]!
      this.healthState = { state: 'read-only', reason: `${report.issues.length} verification issue(s); first: ${first.code} at ${first.docId}: ${first.message}`, report }
      await writeJsonFile(join(this.dir, ALARM_FILE), { at: report.verifiedAt, issues: report.issues.slice(0, 100) })
      return
    }
    this.healthState = ownFork
      ? { state: 'read-only', reason: `this device's key signed two different events at seq ${ownFork.seq} (restored backup or copied key); add a new device key`, report }
      : { state: 'ok', reason: null, report }
    if (report.mode === 'full') await removeFile(join(this.dir, ALARM_FILE))
    this.point = prior
    if (this.key) {
      this.point = signPoint(report, this.vaultId, this.device, this.key.keyPair.secretKey)
      await savePoint(this.dir, this.point)
    }
  }

  /** Run the self-check again (full on request); a passing full check lifts READ-ONLY. */
  async verify(options: { full?: boolean; onProgress?: (done: number, total: number) => void } = {}): Promise<VerifyReport> {
    return this.boot(options)
  }

  /** Sign and durably append an event to this device's feed. */
  async append(type: string, payload: Record<string, Json>, now?: Date): Promise<DecodedEvent> {
    const { decoded, durable } = await this.exclusive(async () => {
      if (this.healthState.state === 'read-only') throw READ_ONLY(`vault is READ-ONLY: ${this.healthState.reason}`)
      if (!this.key) throw LOCKED('unlock the device key to sign')
      if (type === GENESIS_TYPE) throw BAD_ARGUMENT('a vault has exactly one genesis event')
      if (!this.memberKeys.has(this.device)) throw READ_ONLY('this device key is not a key of the vault')
      const own = this.feeds.get(this.device) ?? { length: 0, head: '' }
      const seen: SeenHead[] = [...this.feeds.entries()]
        .filter(([author]) => author !== this.device)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .slice(0, 64)
        .map(([author, h]) => ({ author, seq: h.length, id: h.head }))
      const decoded = signEvent({
        v: 1, vault: this.vaultId, author: this.device, seq: own.length + 1,
        prev: own.length === 0 ? this.vaultId : own.head, ts: utcNow(now), type, payload, seen
      }, this.key.keyPair.secretKey)
      // Sequence and chain are settled under the lock; the disk sync is awaited
      // outside it so appends made meanwhile share one fdatasync.
      const durable = this.pipeline.submit(decoded)
      this.feeds.set(this.device, { length: decoded.event.seq, head: decoded.id })
      return { decoded, durable }
    })
    try {
      await durable
    } catch (err) {
      this.healthState = { state: 'read-only', reason: `an append could not be written to disk: ${(err as Error).message}`, report: this.healthState.report }
      throw err
    }
    return decoded
  }

  /** Wait until every acknowledged append is in PouchDB (for readers of `store`). */
  async flush(): Promise<void> {
    await this.pipeline.flush()
  }

  /** Feed lengths and heads as last verified (plus own appends since). */
  heads(): Record<string, { length: number; head: string }> {
    return Object.fromEntries(this.feeds)
  }

  /** Stored events in feed order, decoded (no signature check: that is what verify is for). */
  async * events(pageSize = 500): AsyncGenerator<{ docId: string; id: string; raw: string; event: SignedEvent }[]> {
    await this.pipeline.flush()
    for await (const page of this.store.scan({ pageSize })) {
      yield page.map((doc: EventDoc) => ({ docId: doc._id, id: doc.id, raw: doc.raw, event: JSON.parse(doc.raw) as SignedEvent }))
        .filter((e) => parseEventDocId(e.docId) !== null)
    }
  }

  /** Record what was verified (signed) so the next start is incremental, then close the store. */
  async close(): Promise<void> {
    await this.exclusive(async () => {
      await this.pipeline.close()
      if (this.key && this.healthState.state === 'ok' && this.point) {
        const report = await verifyIncremental({ store: this.store, vaultId: this.vaultId, isKnownAuthor: (a) => this.memberKeys.has(a), point: this.point })
        if (report.ok) await savePoint(this.dir, signPoint(report, this.vaultId, this.device, this.key.keyPair.secretKey))
      }
      this.lock()
      await this.store.close()
    })
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn)
    this.queue = run.catch(() => undefined)
    return run
  }
}

export function isVaultError(err: unknown, code?: string): err is VaultError {
  return err instanceof VaultError && (code === undefined || err.code === code)
}
