/**
 * A vault on one device: its log store, its device key, its health.
 * Opening a vault runs the boot self-check; a failed check puts it in
 * READ-ONLY and every append refuses until a full check passes again.
 */
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { readJsonFile, readJsonFileIfExists, removeFile, writeJsonFile } from './files.js'
import { join } from 'node:path'
import { openDb } from './pouch.js'
import { LogStore, FORK_PREFIX, parseEventDocId, type EventDoc } from './store.js'
import { planIngest, type Incoming, type Verdict } from './ingest.js'
import { checkerFor, type EventChecker } from './verify-pool.js'
import { checkUnknown } from './check-events.js'
import { AppendPipeline } from './append-pipeline.js'
import {
  decodeEvent,
  GENESIS_TYPE,
  signEvent,
  utcNow,
  type Cite,
  type DecodedEvent,
  type SignedEvent
} from './envelope.js'
import { createKeyFile, openKeyFile, readKeyFile, writeKeyFile, type DeviceKey } from './keys.js'
import { verifyFull, verifyIncremental, type VerifyIssue, type VerifyReport } from './verify.js'
import { checkPoint, loadPoint, savePoint, signPoint, type VerifiedPoint } from './verified-point.js'
import {
  ALREADY_EXISTS,
  BAD_ARGUMENT,
  LOCKED,
  MALFORMED,
  NOT_A_MEMBER,
  NOT_ALLOWED,
  READ_ONLY,
  VERIFY_FAILED,
  VaultError
} from './errors.js'
import { inspectLevelDir, storageFailure } from './storage.js'
import {
  CATCH_UP_FILE,
  GENESIS_FILE,
  inFeedOrder,
  keepGenesisCopy,
  knownFeeds,
  recount,
  recoverVault,
  type RecoveryReport
} from './recover.js'
import { sha256Hex } from './bytes.js'
import { importBundle, openBundle } from './bundle.js'
import { maybeCheckpoint } from './proofs/prover.js'
import { isHex } from './bytes.js'
import { isWeakPublicKey, signDetached } from './ed25519.js'
import { GovFold, isGovernanceType, type GovEvent } from './governance/fold.js'
import { auditGovernance } from './governance/audit.js'
import { everKeys, keyOwner, type GovState, type MemberState } from './governance/state.js'
import { own } from './dict.js'
import { acquireOwner } from './owner.js'
import { checkHome, confirmHome, type Moved } from './device-home.js'
import type { Json } from './canonical.js'
import type { Appender, Health } from './vault-views.js'
import { DEVICE_STATUS } from './devices.js'

export const VAULT_FILE = 'vault.json'
export const KEY_FILE = 'device.key'
export const DB_DIR = 'events.db'
/** Written when a check fails; a normal start then runs a full check until one passes. */
export const ALARM_FILE = 'alarm.json'
const ROLE_RE = /^[a-z][a-z0-9_-]{0,31}$/
/** At most this many gate-checked ids remembered (~110 bytes each); beyond it, the next incremental check does them. */
const GATE_CHECKED_MAX = 100_000
/** Proposals expire after a week unless the proposer says otherwise. */

export interface MemberSpec {
  name: string
  roles: string[]
  keys: string[]
}

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

export type { Health } from './vault-views.js'

/** What changed in a vault (Vault.onChange): what a live host pushes to its views and its sync. */
export type VaultChange =
  | { kind: 'append'; author: string; seq: number; id: string; type: string }
  | { kind: 'ingest'; admitted: number; forks: number }
  | { kind: 'check'; mode: 'full' | 'incremental'; ok: boolean }
  | { kind: 'health' }
  | { kind: 'key'; unlocked: boolean }

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
export async function ensureDeviceKey(
  dir: string,
  name: string,
  passphrase: string,
  kdf?: CreateOptions['kdf']
): Promise<DeviceKey> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  await chmod(dir, 0o700) // a folder that becomes a vault is this user's alone, whoever made it
  const path = join(dir, KEY_FILE)
  const existing = await readKeyFile(path).catch((err: VaultError) =>
    err.code === 'NOT_FOUND' ? null : Promise.reject(err)
  )
  if (existing) return openKeyFile(existing, passphrase)
  const { file, key } = await createKeyFile(name, passphrase, kdf)
  try {
    await writeKeyFile(path, file)
  } catch (err) {
    if ((err as VaultError).code !== 'ALREADY_EXISTS') throw err
    key.keyPair.secretKey.fill(0)
    // another process made the key first: that one is this device's key
    return openKeyFile(await readKeyFile(path), passphrase)
  }
  return key
}

function checkMembers(members: MemberSpec[]): void {
  const names = new Set<string>()
  const keys = new Set<string>()
  for (const m of members) {
    if (typeof m.name !== 'string' || m.name.trim() === '' || m.name.length > 128)
      throw BAD_ARGUMENT('each member needs a name of 1-128 characters')
    if (names.has(m.name)) throw BAD_ARGUMENT(`member ${m.name} is listed twice`)
    names.add(m.name)
    if (!Array.isArray(m.roles) || m.roles.length === 0 || !m.roles.every((r) => ROLE_RE.test(r))) {
      throw BAD_ARGUMENT(`member ${m.name}: roles must be lower-case names like operator,auditor`)
    }
    for (const k of m.keys) {
      if (!isHex(k, 32)) throw BAD_ARGUMENT(`member ${m.name}: key must be 64 lower-case hex characters`)
      if (isWeakPublicKey(Buffer.from(k, 'hex')))
        throw BAD_ARGUMENT(`member ${m.name}: key is of small order or not canonical`)
      if (keys.has(k)) throw BAD_ARGUMENT(`key ${k.slice(0, 8)}… is listed twice`)
      keys.add(k)
    }
  }
}

export class Vault implements Appender {
  readonly dir: string
  readonly config: VaultConfig
  readonly store: LogStore
  private key: DeviceKey | null = null
  private healthState: Health = { state: 'ok', reason: null, report: null }
  /** The governance graph folded from every verified governance event (and fork evidence). */
  private fold: GovFold = GovFold.build('', [], [])
  /** Fork evidence held: event id → slot. */
  private evidence = new Map<string, { author: string; seq: number; prev: string | null }>()
  private feeds = new Map<string, { length: number; head: string }>()
  private queue: Promise<unknown> = Promise.resolve()
  private point: VerifiedPoint | null = null
  /**
   * Ids of the events the gate admitted since the last signed point: their bytes passed the strict check just before
   * they were written, so the incremental check that signs the next point (on close, or a check asked for) reads them
   * back without checking them twice (core/check-events.ts knownCheck). A full check ignores it.
   */
  private readonly gateChecked = new Set<string>()
  private pipeline!: AppendPipeline
  private journalRejected = 0
  /** Gives the vault folder back (owner.lock). */
  private releaseOwner: () => Promise<void> = async () => undefined
  /** After a recovery: how long this device's own feed was; it signs nothing until it is that long again. */
  private catchUp: number | null = null
  /** Opened somewhere other than where this folder last lived (a copy, or a move): core/device-home.ts. */
  private movedFrom: Moved | null = null
  private readonly listeners = new Set<(change: VaultChange) => void>()

  private constructor(dir: string, config: VaultConfig, store: LogStore) {
    this.dir = dir
    this.config = config
    this.store = store
    store.db.onDamage((err) => {
      this.healthState = { state: 'read-only', reason: err.message, report: this.healthState.report, damaged: true }
      this.changed({ kind: 'health' })
    })
  }

  /**
   * Be told of each change to what this vault holds or how it stands: an append of this device's (durable), events
   * taken in, a check or a fault that changed its health. Listeners run synchronously after the change; what they
   * throw is theirs (it never reaches the append or the ingest). Returns the unsubscribe.
   */
  onChange(listener: (change: VaultChange) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  private changed(change: VaultChange): void {
    for (const l of this.listeners) {
      try {
        l(change)
      } catch {
        // a listener's failure is its own: the vault's work is done
      }
    }
  }

  /** Create a new vault: device key, genesis event, config. The device key's passphrase unlocks it. */
  static async create(opts: CreateOptions): Promise<Vault> {
    if (!opts.vaultName || opts.vaultName.length > 128)
      throw BAD_ARGUMENT('a vault name of 1-128 characters is required')
    await Vault.ensureNoVault(opts.dir)
    const key = await ensureDeviceKey(opts.dir, opts.memberName, opts.passphrase, opts.kdf)
    const members: MemberSpec[] = [
      { name: opts.memberName, roles: opts.roles, keys: [key.publicKey] },
      ...(opts.members ?? [])
    ]
    checkMembers(members)
    const genesis = signEvent(
      {
        v: 2,
        vault: null,
        author: key.publicKey,
        seq: 1,
        prev: null,
        ts: utcNow(opts.now),
        type: GENESIS_TYPE,
        payload: { name: opts.vaultName, members: members as unknown as Json },
        deps: []
      },
      key.keyPair.secretKey
    )
    return Vault.establish(opts.dir, genesis, key)
  }

  private static async ensureNoVault(dir: string): Promise<void> {
    const exists = await readFile(join(dir, VAULT_FILE)).then(
      () => true,
      () => false
    )
    if (exists) throw ALREADY_EXISTS(`${dir} already holds a vault`)
  }

  /** Store the genesis, write the vault file, open the journal and run a full check: a vault is born. */
  private static async establish(dir: string, genesis: DecodedEvent, key: DeviceKey): Promise<Vault> {
    const config: VaultConfig = {
      format: 'tresor-vault',
      v: 1,
      vaultId: genesis.id,
      name: String(genesis.event.payload.name ?? ''),
      device: key.publicKey,
      genesisAuthor: genesis.event.author
    }
    const release = await acquireOwner(dir)
    let store: LogStore
    try {
      if (inspectLevelDir(join(dir, DB_DIR)) !== 'new')
        throw ALREADY_EXISTS(`${join(dir, DB_DIR)} already holds a database; refusing to create a vault over it`)
      store = new LogStore(openDb(join(dir, DB_DIR)))
      await store.put(genesis)
      await writeFile(join(dir, GENESIS_FILE), genesis.raw, { mode: 0o600 })
      await writeJsonFile(join(dir, VAULT_FILE), config)
      await checkHome(dir, VAULT_FILE) // a new vault's folder lives here
    } catch (err) {
      await release()
      throw err
    }
    const vault = new Vault(dir, config, store)
    vault.releaseOwner = release
    vault.key = key
    await vault.openPipeline()
    await vault.boot({ full: true })
    return vault
  }

  /**
   * Set up a vault on this device from a bundle that starts at its genesis
   * (the device key in `dir`, made by keygen, should be a key of the vault to
   * sign; without that the device can still review).
   */
  static async join(opts: {
    dir: string
    bundle: string
    passphrase: string
    kdf?: CreateOptions['kdf']
  }): Promise<Vault> {
    const { bundle, events } = openBundle(opts.bundle, null)
    const genesis = events.find((d) => d.id === bundle.vault && d.event.type === GENESIS_TYPE)
    if (!genesis) throw VERIFY_FAILED("bundle does not start at the vault's genesis event: export it with no --since")
    const vault = await Vault.adopt({ ...opts, genesis })
    await importBundle(vault, opts.bundle)
    await vault.boot({ full: true })
    return vault
  }

  /** Set up a vault directory from a verified genesis event (the device key in `dir`, or a new one). */
  static async adopt(opts: {
    dir: string
    genesis: DecodedEvent
    passphrase: string
    kdf?: CreateOptions['kdf']
  }): Promise<Vault> {
    await Vault.ensureNoVault(opts.dir)
    if (opts.genesis.event.type !== GENESIS_TYPE) throw VERIFY_FAILED('not a genesis event')
    const key = await ensureDeviceKey(opts.dir, 'device', opts.passphrase, opts.kdf)
    return Vault.establish(opts.dir, opts.genesis, key)
  }

  /**
   * Rebuild a vault whose database is damaged (see core/recover.ts): the
   * damaged database is moved aside, the log is rebuilt from what still reads
   * (its own copy, the journal, the bundles given) through the gate, and the
   * vault is opened with a full check. Peers bring back the rest by the usual
   * sync rounds afterwards; until this device's own feed is as long as it was,
   * the vault refuses to sign.
   */
  static async recover(opts: {
    dir: string
    bundles?: string[]
    now?: Date
    fetchGenesis?: () => Promise<string | null>
  }): Promise<{ vault: Vault; report: RecoveryReport }> {
    const config = await Vault.readConfig(opts.dir)
    const known = await knownFeeds(opts.dir)
    const { report, events } = await recoverVault(opts.dir, {
      vaultId: config.vaultId,
      device: config.device,
      dbDir: DB_DIR,
      bundles: opts.bundles,
      now: opts.now,
      fetchGenesis: opts.fetchGenesis
    })
    const vault = await Vault.open({ dir: opts.dir, full: true })
    let pending = inFeedOrder(events)
    for (let round = 0; round < 8 && pending.length > 0; round++) {
      const verdicts = await vault.ingestAll(pending)
      const admitted = verdicts.filter(
        (v) => v.decision === 'ADMIT' || (v.decision === 'QUARANTINE' && v.code === 'FORK')
      ).length
      report.admitted += verdicts.filter((v) => v.decision === 'ADMIT').length
      const waiting = new Set(verdicts.filter((v) => v.decision === 'WAIT').map((v) => v.eventId))
      pending = pending.filter((x) => waiting.has(sha256Hex(x.raw)))
      if (admitted === 0) break
    }
    // The rebuilt log checked whole: the last check the vault reports is of what recovery brought back.
    await vault.verify({ full: true })
    const heads = vault.heads()
    // A reduce, not a spread: a recovered feed may hold more events than a call can take arguments.
    const ownSeen = events.reduce((n, d) => (d.event.author === config.device && d.event.seq > n ? d.event.seq : n), 0)
    for (const author of new Set([...Object.keys(known), ...Object.keys(heads)])) {
      report.feeds.push({
        author,
        known: Math.max(own(known, author)?.length ?? 0, author === config.device ? ownSeen : 0),
        recovered: own(heads, author)?.length ?? 0
      })
    }
    report.feeds.sort((a, b) => (a.author < b.author ? -1 : 1))
    recount(report, heads, config.device)
    if (report.ownBehind) {
      await writeJsonFile(join(opts.dir, CATCH_UP_FILE), { v: 1, length: report.ownBehind.known })
      vault.catchUp = report.ownBehind.known
    }
    return { vault, report }
  }

  static async readConfig(dir: string): Promise<VaultConfig> {
    const config = (await readJsonFile(join(dir, VAULT_FILE), 64 * 1024)) as unknown as VaultConfig
    if (
      config?.format !== 'tresor-vault' ||
      config.v !== 1 ||
      !isHex(config.vaultId, 32) ||
      !isHex(config.device, 32) ||
      !isHex(config.genesisAuthor, 32)
    ) {
      throw MALFORMED(`${join(dir, VAULT_FILE)} is not a Tresor v1 vault file`)
    }
    return config
  }

  /** Open an existing vault and run the boot self-check (incremental from a valid verified point, else full). */
  static async open(opts: OpenOptions): Promise<Vault> {
    const config = await Vault.readConfig(opts.dir)
    // Before any file is touched: one process per vault (the journal above all).
    const release = await acquireOwner(opts.dir)
    const store = new LogStore(openDb(join(opts.dir, DB_DIR), { mustExist: true }))
    const vault = new Vault(opts.dir, config, store)
    vault.releaseOwner = release
    // Where a folder copied to another machine would sign with the original's key: say so before anything is signed.
    // (a home that cannot be read or written is no reason to refuse the vault)
    vault.movedFrom = await checkHome(opts.dir, VAULT_FILE).catch(() => null)
    const catchUp = (await readJsonFileIfExists(join(opts.dir, CATCH_UP_FILE), 1024).catch(() => null)) as {
      length?: unknown
    } | null
    if (catchUp && Number.isSafeInteger(catchUp.length)) vault.catchUp = catchUp.length as number
    try {
      await vault.openPipeline()
      await vault.boot({ full: opts.full === true, onProgress: opts.onProgress })
    } catch (err) {
      // Damaged storage is a state the vault reports (READ-ONLY, with the file and why), not a failed open.
      if ((err as VaultError).code !== 'STORAGE_DAMAGED') {
        // the open error is what the caller needs; a close that also fails adds nothing
        await vault.close().catch(() => undefined)
        throw err
      }
    }
    return vault
  }

  /** Where this folder lived before, when it opened somewhere else (a copy would fork the device key if both sign). */
  get moved(): Moved | null {
    return this.movedFrom
  }

  /** The person says the folder was moved, not copied: this is its home now. */
  async confirmHome(): Promise<void> {
    await confirmHome(this.dir, VAULT_FILE)
    this.movedFrom = null
  }

  get vaultId(): string {
    return this.config.vaultId
  }
  get device(): string {
    return this.config.device
  }
  get health(): Health {
    return this.healthState
  }

  /**
   * The one READ-ONLY gate: everything that writes to the vault or vouches for
   * it (appends, ingest, telemetry intake, proofs) asks here, so the rule and
   * its message live in one place. `what` names the refused act.
   */
  assertWritable(what: string): void {
    if (this.healthState.state === 'read-only')
      throw READ_ONLY(`vault is READ-ONLY (${this.healthState.reason ?? 'its check failed'}): ${what} refused`)
  }
  /**
   * Whether this device may sign its own status (core/devices.ts) now: yes while READ-ONLY too — that its check failed
   * is what the other devices most need to hear — unless what is in doubt is its own feed (its key forked, a failed
   * check names it, or the database itself is damaged).
   */
  private assertStatusWritable(): void {
    const h = this.healthState
    if (h.state !== 'read-only') return
    const ownFeed =
      h.damaged === true ||
      (h.report?.forks ?? []).some((f) => f.author === this.device) ||
      (h.report?.issues ?? []).some((i) => i.docId.includes(this.device)) ||
      h.report === null
    if (ownFeed) this.assertWritable('signing a status over a feed in doubt')
  }

  /** Sign this device's status of itself (core/devices.ts); allowed while READ-ONLY unless its own feed is in doubt. */
  appendStatus(payload: Record<string, Json>, now?: Date): Promise<DecodedEvent> {
    return this.appendChecked(DEVICE_STATUS, payload, now, false, true)
  }

  /** After a recovery: the length this device's own feed must reach again before it signs (null: none). */
  get awaitingCatchUp(): number | null {
    return this.catchUp
  }
  get unlocked(): boolean {
    return this.key !== null
  }
  /** Governance state folded from every verified governance event. */
  get state(): GovState {
    return this.fold.state
  }
  /** The verified governance events the state is folded from (fork evidence included). */
  governanceEvents(): GovEvent[] {
    return [...this.fold.events(), ...this.fold.evidenceEvents()]
  }

  /** This device's member, if its key is an active key of an active member. */
  get member(): MemberState | null {
    const owner = keyOwner(this.fold.state, this.device)
    return owner?.active ? owner.member : null
  }

  /** Decrypt the device key. KEY_AUTH_FAILED on a wrong passphrase. */
  async unlock(passphrase: string): Promise<void> {
    const key = await openKeyFile(await readKeyFile(join(this.dir, KEY_FILE)), passphrase)
    if (key.publicKey !== this.device) throw BAD_ARGUMENT("the key file in this folder is not this vault's device key")
    this.key = key
    this.changed({ kind: 'key', unlocked: true })
  }

  /**
   * Sign `message` with this device's key, for signed artefacts outside the
   * event log (telemetry batches). The message must already carry its own
   * domain prefix; LOCKED while the key is locked.
   */
  signDetached(message: Uint8Array): Uint8Array {
    if (!this.key) throw LOCKED('the device key is locked: unlock it with the passphrase first')
    return signDetached(this.key.keyPair.secretKey, message)
  }

  lock(): void {
    this.key?.keyPair.secretKey.fill(0)
    this.key = null
    this.changed({ kind: 'key', unlocked: false })
  }

  /** Replay the append journal into PouchDB (acknowledged appends a crash left unindexed). */
  private async openPipeline(): Promise<void> {
    if (this.store.db.damage) {
      // The journal is left exactly as it is: it may hold what recovery needs.
      this.pipeline = await AppendPipeline.hold(this.dir, this.store.db.damage)
      throw this.store.db.damage
    }
    try {
      const { pipeline, rejected } = await AppendPipeline.open(this.dir, this.store, this.vaultId)
      this.pipeline = pipeline
      this.store.setReadBarrier(() => pipeline.flush())
      this.journalRejected = rejected
    } catch (err) {
      this.pipeline ??= await AppendPipeline.hold(this.dir, this.store.db.damage)
      throw err
    }
  }

  /**
   * Read and fold the governance events the report verified, and the fork evidence; returns issues that fail
   * verification.
   */
  private async loadGovernance(report: VerifyReport): Promise<VerifyIssue[]> {
    const docs = await this.store.getMany(report.gov)
    const events: GovEvent[] = []
    const unreadable: VerifyIssue[] = []
    for (const [i, doc] of docs.entries()) {
      if (!doc) continue
      try {
        const d = decodeEvent(doc.raw, this.vaultId)
        events.push({ id: d.id, event: d.event })
      } catch (err) {
        // The slot changed under the check (or the check saw another body): READ-ONLY, not a failed open.
        unreadable.push({
          code: 'REWRITTEN',
          docId: report.gov[i]!,
          message: `governance event does not decode: ${(err as Error).message}`
        })
      }
    }
    const evidenceDocs = await this.readEvidence()
    const forks = await this.forkPoints(new Map(report.forks.map((f) => [f.author, f.seq])), evidenceDocs, report.feeds)
    const { fold, issues } = auditGovernance(this.vaultId, events, Object.keys(report.feeds), {
      forks,
      evidence: governanceOf(evidenceDocs)
    })
    this.fold = fold
    return [...unreadable, ...issues]
  }

  /** The boot self-check. Sets health; never throws for a bad log, only for I/O failure. */
  async boot(
    options: { full?: boolean; onProgress?: (done: number, total: number) => void } = {}
  ): Promise<VerifyReport> {
    return this.exclusive(async () => {
      // A write that failed (a full disk) heals here once the disk takes writes again; damage does not.
      if (this.store.db.damage) throw this.store.db.damage
      await this.pipeline.heal(this.vaultId)
      await this.pipeline.flush()
      const point = checkPoint(await loadPoint(this.dir), this.vaultId, this.device)
      const alarm = await readJsonFileIfExists(join(this.dir, ALARM_FILE), 1024 * 1024).catch(() => true)
      // Signatures and chains first (any author); who may write is decided by the governance fold after.
      const base = {
        store: this.store,
        vaultId: this.vaultId,
        isKnownAuthor: () => true,
        onProgress: options.onProgress
      }
      const report =
        options.full || !point || alarm
          ? await verifyFull({ ...base, point })
          : await verifyIncremental({ ...base, point, known: this.gateChecked })
      const govIssues = await this.loadGovernance(report)
      if (govIssues.length > 0) {
        for (const i of govIssues) report.issues.push(i)
        report.ok = false
      }
      await this.applyReport(report, point)
      if (report.ok) await this.keepGenesis()
      this.changed({ kind: 'check', mode: report.mode, ok: report.ok })
      return report
    })
  }

  /**
   * Vaults made before the genesis file existed get one once their log checks out (recovery needs it when the database
   * is gone).
   */
  private async keepGenesis(): Promise<void> {
    const at = join(this.dir, GENESIS_FILE)
    if (
      await stat(at).then(
        () => true,
        () => false
      )
    )
      return
    const doc = await this.store.get(this.config.genesisAuthor, 1)
    if (doc && sha256Hex(doc.raw) === this.vaultId) await keepGenesisCopy(this.dir, doc.raw)
  }

  private async applyReport(report: VerifyReport, prior: VerifiedPoint | null): Promise<void> {
    this.feeds = new Map(Object.entries(report.feeds))
    const ownFork = report.forks.find((f) => f.author === this.device)
    if (this.journalRejected > 0) {
      report.ok = false
      report.issues.unshift({
        code: 'MALFORMED',
        docId: 'append.journal',
        message: `the append journal holds ${this.journalRejected} entr(y/ies) that do not verify; it is kept for inspection`
      })
    }
    if (!report.ok) {
      const first = report.issues[0]!
      this.healthState = {
        state: 'read-only',
        reason: `${report.issues.length} verification issue(s); first: ${first.code} at ${first.docId}: ${first.message}`,
        report
      }
      await writeJsonFile(join(this.dir, ALARM_FILE), { at: report.verifiedAt, issues: report.issues.slice(0, 100) })
      return
    }
    this.healthState = ownFork
      ? {
          state: 'read-only',
          reason: `this device's key signed two different events at seq ${ownFork.seq} (restored backup or copied key); add a new device key`,
          report
        }
      : { state: 'ok', reason: null, report }
    if (report.mode === 'full') await removeFile(join(this.dir, ALARM_FILE))
    this.point = prior
    if (this.key) {
      this.point = signPoint(report, this.vaultId, this.device, this.key.keyPair.secretKey)
      await savePoint(this.dir, this.point)
      // The point covers them now: the next incremental check starts after it.
      this.gateChecked.clear()
    }
  }

  /** Run the self-check again (full on request); a passing full check lifts READ-ONLY. */
  async verify(
    options: { full?: boolean; onProgress?: (done: number, total: number) => void } = {}
  ): Promise<VerifyReport> {
    return this.boot(options)
  }

  /** Sign and durably append a (non-governance) event to this device's feed. */
  async append(type: string, payload: Record<string, Json>, now?: Date): Promise<DecodedEvent> {
    if (isGovernanceType(type))
      throw BAD_ARGUMENT(`${type} events are made by propose, approve, reject, withdraw and commit`)
    if (type === DEVICE_STATUS) throw BAD_ARGUMENT(`${type} events are signed by the host's status reporter`)
    return this.appendChecked(type, payload, now)
  }

  /**
   * Sign the next event of this device's feed and append it. A governance
   * event cites the tips of the governance graph (at most LIMITS.maxDeps,
   * however many feeds there are), is dated no earlier than what it cites,
   * and is folded as a trial first: if the fold would not count it, nothing
   * is written and the fold's reason is thrown. The fold is the one judge of
   * what counts, here and on every other device.
   */
  private async appendChecked(
    type: string,
    payload: Record<string, Json>,
    now?: Date,
    governance = false,
    status = false
  ): Promise<DecodedEvent> {
    const { decoded, durable } = await this.exclusive(async () => {
      if (status) this.assertStatusWritable()
      else this.assertWritable(`signing ${type}`)
      if (!this.key) throw LOCKED('unlock the device key to sign')
      if (!this.member) throw NOT_A_MEMBER('this device key is not an active key of an active member')
      const mine = this.feeds.get(this.device) ?? { length: 0, head: '' }
      if (this.catchUp !== null && mine.length < this.catchUp) {
        throw READ_ONLY(
          `this device's own feed came back from recovery with ${mine.length} of the ${this.catchUp} events it had signed: bring the rest back from a peer (tresor sync couch / sync git, or a bundle) before signing anything; signing now would fork this device's key`
        )
      }
      const prev = mine.length === 0 ? this.vaultId : mine.head
      const deps: Cite[] = governance ? this.fold.citationsFor(this.device) : []
      let ts = utcNow(now)
      if (governance) {
        const cited = this.fold.timeOf([prev, ...deps.map((d) => d.id), ...referencedBy(payload)])
        if (cited > ts) ts = cited
      }
      const decoded = signEvent(
        {
          v: 2,
          vault: this.vaultId,
          author: this.device,
          seq: mine.length + 1,
          prev,
          ts,
          type,
          payload,
          deps
        },
        this.key.keyPair.secretKey
      )
      const keep = governance ? this.trial(decoded) : null
      // Sequence and chain are settled under the lock; the disk sync is awaited
      // outside it so appends made meanwhile share one fdatasync.
      const durable = this.pipeline.submit(decoded)
      keep?.()
      this.feeds.set(this.device, { length: decoded.event.seq, head: decoded.id })
      return { decoded, durable }
    })
    try {
      await durable
    } catch (err) {
      const failure = storageFailure(err, join(this.dir, 'append.journal')) ?? (err as Error)
      this.healthState = {
        state: 'read-only',
        reason: `an append could not be written to disk: ${failure.message}; nothing acknowledged is lost — once the disk takes writes again, a full check (tresor verify --full, or Run full check) lifts READ-ONLY`,
        report: this.healthState.report
      }
      this.changed({ kind: 'health' })
      throw failure
    }
    this.changed({
      kind: 'append',
      author: this.device,
      seq: decoded.event.seq,
      id: decoded.id,
      type: decoded.event.type
    })
    return decoded
  }

  /**
   * Fold a signed governance event of this device as a trial: throws the
   * fold's reason unless it counts; else returns what keeps it (the fold
   * extended in place, or folded again when it could not be).
   */
  private trial(decoded: DecodedEvent): () => void {
    const g = { id: decoded.id, event: decoded.event }
    this.fold.begin()
    let fold = this.fold
    if (!fold.extend([g], true)) {
      this.fold.rollback()
      fold = GovFold.build(this.vaultId, this.fold.events(), [g], this.fold.context())
    }
    const outcome = fold.outcome(decoded.id)
    if (outcome?.kind !== 'ok') {
      if (fold === this.fold) this.fold.rollback()
      throw NOT_ALLOWED(outcome?.reason ?? 'the fold did not place this event')
    }
    return () => {
      if (fold === this.fold) this.fold.commit()
      else this.fold = fold
    }
  }

  /** Append a governance event if the fold would count it; else throw the fold's reason (core/governance/calls.ts). */
  appendGovernance(type: string, payload: Record<string, Json>, now?: Date): Promise<DecodedEvent> {
    return this.appendChecked(type, payload, now, true)
  }

  /** Whether the fork evidence document `id` is held as evidence (what a bundle carries of forks). */
  isEvidence(id: string): boolean {
    return this.evidence.has(id)
  }

  /**
   * Per input (a string, in a slot the vault holds), the id of the event stored in its slot; undefined for the rest.
   * Bytes that hash to it are a duplicate whose signature was checked when it was taken in: a round that reads back
   * what this device pushed (or a feed read again from its start) costs a hash an event, not a curve check. Slots are
   * write-once, so what is read here still holds when the gate runs.
   */
  private async storedAt(incoming: { docId: string; raw: unknown }[]): Promise<(string | null | undefined)[]> {
    const out = new Array<string | null | undefined>(incoming.length).fill(undefined)
    const at: number[] = []
    const slots: { author: string; seq: number }[] = []
    incoming.forEach((x, i) => {
      const slot = typeof x.raw === 'string' ? parseEventDocId(x.docId) : null
      if (slot && slot.seq <= (this.feeds.get(slot.author)?.length ?? 0)) {
        at.push(i)
        slots.push(slot)
      }
    })
    if (at.length === 0) return out
    const ids = await this.store.idsAt(slots)
    at.forEach((i, k) => {
      out[i] = ids[k] ?? null
    })
    return out
  }

  /**
   * `ingest` for any number of events (a join from a mirror, a recovery): in calls of at most INGEST_SLICE, in feed
   * order, and what waits for an event a later call admitted (a commit before an approval it cites) judged again as
   * long as that makes progress. One write of n documents costs PouchDB's LevelDB adapter n² (it gathers the
   * operations with an array copy a document): 20,000 at once took 5.5 s, 40,000 20.7 s. Returns each input's last
   * verdict.
   */
  async ingestAll(
    incoming: { docId: string; raw: unknown }[],
    options: { checker?: EventChecker } = {}
  ): Promise<Verdict[]> {
    if (incoming.length <= INGEST_SLICE) return this.ingest(incoming, options)
    const checker = options.checker ?? checkerFor(incoming.length) // one pool for every call
    const out: Verdict[] = []
    try {
      let queue = incoming
      for (;;) {
        const again: typeof incoming = []
        const waited: Verdict[] = []
        let progressed = 0
        for (const slice of gateSlices(queue)) {
          const waits = new Set<string>()
          for (const v of await this.ingest(slice, { checker })) {
            if (v.decision === 'WAIT') {
              waits.add(v.eventId)
              waited.push(v)
              continue
            }
            if (v.decision === 'ADMIT' || v.code === 'FORK') progressed++
            out.push(v)
          }
          if (waits.size > 0)
            for (const x of slice) if (typeof x.raw === 'string' && waits.has(sha256Hex(x.raw))) again.push(x)
        }
        if (again.length === 0 || progressed === 0) {
          for (const v of waited) out.push(v) // a loop, not a spread: there can be 100,000
          return out
        }
        queue = again
      }
    } finally {
      if (!options.checker) await checker.close()
    }
  }

  /**
   * Pass incoming events through the ingestion gate and write the admitted
   * ones durably. Fork evidence is kept. Returns every verdict.
   * `allOrNothing`: refuse the whole input (VERIFY_FAILED, first reason) unless
   * every event is admitted or a duplicate.
   */
  async ingest(
    incoming: { docId: string; raw: unknown }[],
    options: { allOrNothing?: boolean; signer?: string; checker?: EventChecker } = {}
  ): Promise<Verdict[]> {
    const stored = await this.storedAt(incoming)
    const checked = await checkIncoming(
      this.vaultId,
      incoming,
      options.checker,
      incoming.map((x, i) => {
        const id = stored[i]
        return id && sha256Hex(x.raw as string) === id ? id : null
      })
    )
    return this.exclusive(async () => {
      this.assertWritable('taking in events')
      const slots = incoming.map((x) => parseEventDocId(x.docId))
      const held = await this.heldIds(slots, stored)
      const before = await this.heldBefore(slots, held, checked)
      const heldCited = await this.heldCited(checked)
      const plan = planIngest({
        vaultId: this.vaultId,
        heads: this.feeds,
        fold: this.fold,
        evidence: this.evidence,
        heldCited,
        now: Date.now(),
        incoming: checked,
        held,
        before
      })
      const drop = () => {
        if (plan.extended) plan.fold.rollback()
      }
      try {
        // Evidence is kept whatever else happens: a fork is worth knowing even in a refused bundle.
        for (const d of plan.forks) {
          await this.store.putForkEvidence(d)
          this.evidence.set(d.id, { author: d.event.author, seq: d.event.seq, prev: d.event.prev })
        }
        if (options.allOrNothing) {
          const bad = plan.verdicts.find(
            (v) => (v.decision === 'QUARANTINE' && v.code !== 'FORK') || v.decision === 'WAIT'
          )
          if (bad) throw VERIFY_FAILED(`${bad.docId}: ${bad.reason}; nothing applied`)
          if (options.signer && !everKeys(plan.state).has(options.signer))
            throw VERIFY_FAILED('signed by a key that is not a key of this vault; nothing applied')
        }
        if (plan.admit.length > 0) await this.store.putMany(plan.admit)
        for (const d of plan.admit) if (this.gateChecked.size < GATE_CHECKED_MAX) this.gateChecked.add(d.id)
      } catch (err) {
        drop()
        if (plan.forks.length > 0) await this.refold()
        throw err
      }
      if (plan.extended) plan.fold.commit()
      else if (plan.admit.length > 0 || plan.forks.length > 0) this.fold = plan.fold
      this.feeds = plan.heads
      if (this.catchUp !== null && (this.feeds.get(this.device)?.length ?? 0) >= this.catchUp) {
        this.catchUp = null
        await removeFile(join(this.dir, CATCH_UP_FILE))
      }
      const admitted = plan.admit.length
      if (admitted > 0 || plan.forks.length > 0) this.changed({ kind: 'ingest', admitted, forks: plan.forks.length })
      return plan.verdicts
    })
  }

  /**
   * Where each key forked, from what this device holds, whichever branch its
   * feed happens to keep: two events at one seq (feed or evidence), or an
   * event whose `prev` is none of the events held at the seq before it.
   */
  private async forkPoints(
    known: Map<string, number>,
    evidence: Map<string, DecodedEvent>,
    feeds: Record<string, { length: number }>
  ): Promise<Map<string, number>> {
    const forks = new Map(known)
    const mark = (author: string, seq: number) => {
      if (seq >= 1 && seq < (forks.get(author) ?? Infinity)) forks.set(author, seq)
    }
    const at = new Map<string, string[]>()
    for (const d of evidence.values()) {
      const k = `${d.event.author}!${d.event.seq}`
      at.set(k, [...(at.get(k) ?? []), d.id])
    }
    const slotIds = async (author: string, seq: number) => {
      const k = `${author}!${seq}`
      const slot = seq >= 1 && seq <= (own(feeds, author)?.length ?? 0) ? await this.store.get(author, seq) : null
      return [...(slot ? [slot.id] : []), ...(at.get(k) ?? [])]
    }
    for (const d of evidence.values()) {
      const { author, seq, prev } = d.event
      if (new Set(await slotIds(author, seq)).size > 1) mark(author, seq)
      const before = seq > 1 ? await slotIds(author, seq - 1) : []
      if (before.length > 0 && !before.includes(prev ?? '')) mark(author, seq - 1)
    }
    return forks
  }

  /** Fold again from the held governance events and evidence (after evidence arrived outside a kept plan). */
  private async refold(): Promise<void> {
    const docs = await this.readEvidence()
    const forks = await this.forkPoints(new Map(this.fold.forked), docs, Object.fromEntries(this.feeds))
    this.fold = GovFold.build(this.vaultId, this.fold.events(), [], { forks, evidence: governanceOf(docs) })
  }

  /**
   * Fork evidence: the other branches of forks, each checked again here (one
   * that does not verify is left out; the full check names it as
   * BAD_FORK_EVIDENCE). Keeps `this.evidence` in step.
   */
  private async readEvidence(): Promise<Map<string, DecodedEvent>> {
    const docs = new Map<string, DecodedEvent>()
    for await (const page of this.store.scan({ prefix: FORK_PREFIX })) {
      for (const doc of page) {
        if (doc._deleted) continue
        try {
          const d = decodeEvent(doc.raw, this.vaultId)
          docs.set(d.id, d)
        } catch {
          /* named by the full check */
        }
      }
    }
    this.evidence = new Map(
      [...docs.values()].map((d) => [d.id, { author: d.event.author, seq: d.event.seq, prev: d.event.prev }])
    )
    return docs
  }

  /**
   * For incoming v1 events: which of the events their `seen` heads name are
   * held here (in their slot or as evidence). A v1 event is admitted only once
   * every head it names is held, like a v2 event's deps.
   */
  private async heldCited(incoming: Incoming[]): Promise<Set<string>> {
    const wanted = new Map<string, { author: string; seq: number; id: string }>()
    for (const x of incoming) {
      const c = x.checked
      if (!c || 'code' in c || c.event.v !== 1 || !isGovernanceType(c.event.type)) continue
      for (const h of c.event.seen) if (!this.fold.has(h.id) && !this.evidence.has(h.id)) wanted.set(h.id, h)
    }
    if (wanted.size === 0) return new Set()
    const heads = [...wanted.values()]
    const ids = await this.heldIds(heads, [])
    return new Set(heads.filter((h, i) => ids[i] === h.id).map((h) => h.id))
  }

  /** The event id held in each slot. Slots past a feed's verified length are empty: only those within are read. */
  /**
   * The feed event held at the seq before each incoming one, where its prev could disagree with it: the feed's head
   * when the event would follow it, else (a second event for a held slot) the one stored there.
   */
  private async heldBefore(
    slots: ({ author: string; seq: number } | null)[],
    held: (string | null)[],
    incoming: Incoming[]
  ): Promise<(string | null)[]> {
    const lookups: { author: string; seq: number }[] = []
    const out = slots.map((s, i) => {
      if (!s || s.seq < 2) return null
      const feed = this.feeds.get(s.author)
      if (feed && s.seq - 1 === feed.length) return feed.head
      const c = incoming[i]?.checked
      const conflict = held[i] !== null && c !== undefined && !('code' in c) && held[i] !== c.id
      if (conflict) lookups.push({ author: s.author, seq: s.seq - 1 })
      return conflict ? ('lookup' as const) : null
    })
    const ids = await this.store.idsAt(lookups)
    let k = 0
    return out.map((v) => (v === 'lookup' ? (ids[k++] ?? null) : v))
  }

  /** What each slot holds; `known` (storedAt) is not read again. */
  private async heldIds(
    slots: ({ author: string; seq: number } | null)[],
    known: (string | null | undefined)[]
  ): Promise<(string | null)[]> {
    const within = slots.map(
      (s, i) => known[i] === undefined && s !== null && s.seq <= (this.feeds.get(s.author)?.length ?? 0)
    )
    const ids = await this.store.idsAt(slots.filter((_, i) => within[i]) as { author: string; seq: number }[])
    let k = 0
    return within.map((w, i) => (w ? ids[k++]! : (known[i] ?? null)))
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
  async *events(pageSize = 500): AsyncGenerator<{ docId: string; id: string; raw: string; event: SignedEvent }[]> {
    await this.pipeline.flush()
    for await (const page of this.store.scan({ pageSize })) {
      yield page
        .map((doc: EventDoc) => ({
          docId: doc._id,
          id: doc.id,
          raw: doc.raw,
          event: JSON.parse(doc.raw) as SignedEvent
        }))
        .filter((e) => parseEventDocId(e.docId) !== null)
    }
  }

  /** Record what was verified (signed) so the next start is incremental, then close the store. */
  async close(): Promise<void> {
    if (this.closing) return this.closing
    this.closing = this.closeOnce()
    return this.closing
  }

  private closing: Promise<void> | null = null

  private async closeOnce(): Promise<void> {
    // the policy interval; a failure here must not block closing
    if (!this.store.db.damage) await maybeCheckpoint(this).catch(() => null)
    await this.exclusive(async () => {
      try {
        await this.pipeline?.close()
        if (this.key && this.healthState.state === 'ok' && this.point && !this.store.db.damage) {
          const report = await verifyIncremental({
            store: this.store,
            vaultId: this.vaultId,
            isKnownAuthor: () => true,
            point: this.point,
            known: this.gateChecked
          })
          if (report.ok)
            await savePoint(this.dir, signPoint(report, this.vaultId, this.device, this.key.keyPair.secretKey))
        }
      } finally {
        this.lock()
        await this.store.close()
        await this.releaseOwner()
      }
    })
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn)
    // the queue only orders calls; each caller gets its own result or error from `run`
    this.queue = run.catch(() => undefined)
    return run
  }
}

const governanceOf = (docs: Map<string, DecodedEvent>): GovEvent[] =>
  [...docs.values()].filter((d) => isGovernanceType(d.event.type)).map((d) => ({ id: d.id, event: d.event }))

/** The events a governance payload names (an approval's proposal, a commit's approvals). */
function referencedBy(payload: Record<string, Json>): string[] {
  const ids: string[] = []
  if (typeof payload.proposal === 'string') ids.push(payload.proposal)
  if (Array.isArray(payload.approvals)) for (const a of payload.approvals) if (typeof a === 'string') ids.push(a)
  return ids
}

/** The most events `ingestAll` gives the gate in one call (one write of the log). */
export const INGEST_SLICE = 1000

/**
 * Inputs cut into calls of the gate of at most INGEST_SLICE (one write of n documents costs PouchDB n²: see
 * ingestAll), in feed order (slot ids sort by author, then sequence), so a call admits what the one before it made
 * ready; as they are when they fit in one call. ingestAll and the CouchDB gate (per layer of revisions) cut with it.
 */
export function gateSlices<T extends { docId: string }>(items: T[]): T[][] {
  if (items.length <= INGEST_SLICE) return [items]
  const sorted = [...items].sort((a, b) => (a.docId < b.docId ? -1 : a.docId > b.docId ? 1 : 0))
  const out: T[][] = []
  for (let i = 0; i < sorted.length; i += INGEST_SLICE) out.push(sorted.slice(i, i + INGEST_SLICE))
  return out
}

/** Check bytes and signatures of incoming events on every core (the worker pool), then decode the good ones. */
async function checkIncoming(
  vaultId: string,
  incoming: { docId: string; raw: unknown }[],
  given: EventChecker | undefined,
  held: (string | null)[]
): Promise<Incoming[]> {
  // what the vault holds byte for byte (storedAt) is decoded, not checked again
  const decoded = (x: { docId: string; raw: unknown }, id: string): Incoming => ({
    ...x,
    checked: { event: JSON.parse(x.raw as string) as SignedEvent, raw: x.raw as string, id }
  })
  let checker: EventChecker | undefined
  try {
    const checks = await checkUnknown(
      incoming.map((x) => x.raw),
      held,
      (raws) => (checker = given ?? checkerFor(raws.length)).check(raws, vaultId)
    )
    return incoming.map((x, i) => {
      const c = checks[i]!
      if (typeof c === 'string') return decoded(x, c)
      if (!c.ok) return { ...x, checked: { code: c.code, reason: c.message } }
      return decoded(x, c.id)
    })
  } finally {
    if (!given && checker) await checker.close()
  }
}
