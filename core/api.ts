/**
 * The one API of core: a typed map of `domain.verb` handlers. Every host
 * (Electron IPC, the edge daemon's HTTP, the CLI, tests) calls core through
 * `createHandlers(...)` and nothing else. Arguments arrive untrusted: each
 * handler validates before acting.
 */
import type { Vault, Health } from './vault.js'
import type { GovState, MemberState, ProposalState } from './governance/state.js'
import type { Action } from './governance/actions.js'
import { missingApprovals, rulesFor } from './governance/policy.js'
import { ledgerBalances, type LedgerEntry } from './governance/registers.js'
import type { VerifyReport } from './verify.js'
import type { SignedEvent } from './envelope.js'
import type { RecoveryReport } from './recover.js'
import { ALREADY_EXISTS, BAD_ARGUMENT, NOT_FOUND, UNKNOWN_METHOD } from './errors.js'
import { stateHash } from './governance/state.js'
import type { Json } from './canonical.js'
import type { IngestResult, QuarantineEntry, StreamMeter, TelemetryStore, Usage } from './telemetry/store.js'
import type { Reading } from './telemetry/reading.js'
import type { ReadingProof } from './telemetry/batch.js'
import { LogView, type Badge } from './log-view.js'
import { proveInclusion } from './proofs/prover.js'
import type { InclusionProofFile } from './proofs/proof-file.js'
import { parseBounded } from './canonical.js'
import { eventDocId } from './store.js'

export interface VaultStatus {
  vaultId: string
  name: string
  device: string
  unlocked: boolean
  /** `damaged`: the database itself is damaged; `vault.recover` (tresor recover) is the way back. */
  health: { state: Health['state']; reason: string | null; damaged: boolean }
  /** After a recovery: the length this device's own feed must reach again before it signs (null: nothing to wait for). */
  catchUp: number | null
  events: number
  feeds: Record<string, { length: number; head: string }>
  lastCheck: Pick<VerifyReport, 'ok' | 'mode' | 'checked' | 'total' | 'durationMs' | 'verifiedAt'> | null
  /** Set by a host that can remember the passphrase in the OS keychain (the desktop app): whether it can here, and why not. */
  keychain?: { ok: boolean; reason?: string; remembered: boolean }
}

/** A proposal as a reviewer sees it: what changes, who signed, what is still needed. */
export interface ProposalView extends ProposalState {
  /** Sentences saying what the quorum still lacks; empty when it can be committed. */
  missing: string[]
  /** Past its expiry by this device's clock (the fold decides by vault time). */
  expired: boolean
}

/** Sync status as every host shows it. Computed by sync/ (core never imports it) and handed in by the host. */
export interface SyncStatus {
  url: string | null
  user: string | null
  online: boolean
  /** Local events the server is not known to hold. */
  pendingUp: number
  /** Pulled events waiting in staging for a predecessor or a membership commit. */
  pendingDown: number
  quarantine: number
  lastSuccess: string | null
  lastError: string | null
  lastRollback: { at: string; message: string } | null
  denied: { id: string; reason: string }[]
  design: string | null
}

/** Capabilities a host adds to the handler map (they live outside core). */
export interface HostProviders {
  syncStatus?: () => Promise<SyncStatus>
  /** The device's telemetry store, where the host opened one (edge daemon, CLI). */
  telemetry?: TelemetryStore
  /** Lock the device key after this long without a call that signs or unlocks (default 15 minutes; 0: never). */
  autoLockMs?: number
}

/** Bundles travel through the API as text; a bigger one goes by file (tresor bundle). */
const MAX_BUNDLE_TEXT = 48 * 1024 * 1024

/** What a recovery brought back (core/recover.ts), and one line per peer asked. */
export interface RecoveryResult extends RecoveryReport { peers: string[] }

/** Whether the host's folder holds a vault yet (the UI shows onboarding until it does). */
export interface OnboardStatus { hasVault: boolean; dir: string; deviceKey: string | null; error: { code: string; message: string } | null }

export interface TelemetryStatus extends Usage { enabled: boolean; forwardedSeq: number; sealedSeq: number; batches: number }

export interface LogEntry { id: string; author: string; seq: number; ts: string; type: string; badge: Badge; payload?: SignedEvent['payload'] }
export interface LogEntryDetail extends LogEntry { payload: SignedEvent['payload']; raw: string }

/** Argument and result types per method: the contract every transport is typed against. */
export interface Handlers {
  'vault.status': (args: Record<string, never>) => Promise<VaultStatus>
  'vault.members': (args: Record<string, never>) => Promise<MemberState[]>
  'gov.state': (args: Record<string, never>) => Promise<{ state: GovState; hash: string }>
  'gov.inbox': (args: Record<string, never>) => Promise<ProposalView[]>
  'gov.proposals': (args: { status?: ProposalState['status'] }) => Promise<ProposalView[]>
  'gov.show': (args: { proposal: string }) => Promise<ProposalView>
  'gov.propose': (args: { action: Action; reason: string; expiresAt?: string }) => Promise<ProposalView>
  'gov.approve': (args: { proposal: string }) => Promise<ProposalView>
  'gov.reject': (args: { proposal: string; reason: string }) => Promise<ProposalView>
  'gov.withdraw': (args: { proposal: string }) => Promise<ProposalView>
  'gov.commit': (args: { proposal: string }) => Promise<ProposalView>
  'ledger.balances': (args: Record<string, never>) => Promise<{ entries: LedgerEntry[]; balances: Record<string, Record<string, number>> }>
  'sync.status': (args: Record<string, never>) => Promise<SyncStatus | null>
  'vault.verify': (args: { full?: boolean }) => Promise<VerifyReport>
  /** How far the running full check is (null when none runs): for a progress bar. */
  'vault.progress': (args: Record<string, never>) => Promise<{ task: 'verify'; done: number; total: number } | null>
  /** `remember` asks a host with an OS keychain to keep the passphrase there (core itself ignores it). */
  'vault.unlock': (args: { passphrase: string; remember?: boolean }) => Promise<{ unlocked: true }>
  /** `forget` drops a remembered passphrase from the host's keychain. */
  'vault.lock': (args: { forget?: boolean }) => Promise<{ unlocked: false }>
  'log.list': (args: { offset?: number; limit?: number; type?: string; author?: string; from?: string; to?: string; payloads?: boolean }) => Promise<{ entries: LogEntry[]; total: number; types: string[]; authors: string[] }>
  'log.get': (args: { author: string; seq: number }) => Promise<LogEntryDetail>
  'proof.event': (args: { id: string }) => Promise<InclusionProofFile>
  'bundle.export': (args: { since?: Record<string, number> }) => Promise<{ text: string; events: number }>
  'bundle.import': (args: { text: string }) => Promise<{ admitted: number; duplicates: number }>
  'log.appendNote': (args: { text: string }) => Promise<{ id: string; seq: number }>
  /**
   * Rebuild a damaged vault (run by the host, which holds the vault): the
   * database is moved aside, never deleted; the log is rebuilt from what still
   * reads, the journal, the bundle given and, with `peers`, the CouchDB server
   * and Git mirror the vault syncs with, all through the gate.
   */
  'vault.recover': (args: { passphrase: string; bundle?: string; peers?: boolean }) => Promise<RecoveryResult>
  'onboard.status': (args: Record<string, never>) => Promise<OnboardStatus>
  'onboard.create': (args: { vaultName: string; memberName: string; roles: string[]; passphrase: string }) => Promise<OnboardStatus>
  'onboard.keygen': (args: { name: string; passphrase: string }) => Promise<{ publicKey: string }>
  'onboard.join': (args: { bundle: string; passphrase: string }) => Promise<OnboardStatus>
  'onboard.joinCouch': (args: { url: string; user?: string; password?: string; passphrase: string }) => Promise<OnboardStatus>
  'onboard.joinGit': (args: { url: string; token: string; passphrase: string }) => Promise<OnboardStatus>
  'telemetry.status': (args: Record<string, never>) => Promise<TelemetryStatus>
  'telemetry.streams': (args: { windowMs?: number }) => Promise<StreamMeter[]>
  'telemetry.readings': (args: { stream: string; from?: string; to?: string; limit?: number }) => Promise<{ readings: Reading[]; total: number }>
  'telemetry.quarantine': (args: { limit?: number }) => Promise<QuarantineEntry[]>
  'telemetry.prove': (args: { stream: string; id: string }) => Promise<ReadingProof>
  'telemetry.ingest': (args: { ndjson: string; stream?: string }) => Promise<IngestResult>
}

export type Method = keyof Handlers
export type ArgsOf<M extends Method> = Parameters<Handlers[M]>[0]
export type ResultOf<M extends Method> = Awaited<ReturnType<Handlers[M]>>

export const METHODS: readonly Method[] = [
  'vault.status', 'vault.members', 'vault.verify', 'vault.progress', 'vault.unlock', 'vault.lock', 'vault.recover', 'log.list', 'log.get', 'log.appendNote',
  'proof.event', 'bundle.export', 'bundle.import',
  'gov.state', 'gov.inbox', 'gov.proposals', 'gov.show', 'gov.propose', 'gov.approve', 'gov.reject', 'gov.withdraw', 'gov.commit',
  'ledger.balances', 'sync.status',
  'onboard.status', 'onboard.create', 'onboard.keygen', 'onboard.join', 'onboard.joinCouch', 'onboard.joinGit',
  'telemetry.status', 'telemetry.streams', 'telemetry.readings', 'telemetry.quarantine', 'telemetry.prove', 'telemetry.ingest'
]

export function isMethod(name: unknown): name is Method {
  return typeof name === 'string' && (METHODS as readonly string[]).includes(name)
}

function obj(args: unknown): Record<string, unknown> {
  if (args === undefined || args === null) return {}
  if (typeof args !== 'object' || Array.isArray(args)) throw BAD_ARGUMENT('arguments must be an object')
  return args as Record<string, unknown>
}

function optInt(v: unknown, name: string, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt
  if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max) throw BAD_ARGUMENT(`${name} must be an integer in [${min}, ${max}]`)
  return v as number
}

function optString(v: unknown, name: string, max: number): string | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'string' || v.length > max) throw BAD_ARGUMENT(`${name} must be a string of at most ${max} characters`)
  return v
}

export function statusOf(vault: Vault): VaultStatus {
  const report = vault.health.report
  const feeds = vault.heads()
  return {
    vaultId: vault.vaultId,
    name: vault.config.name,
    device: vault.device,
    unlocked: vault.unlocked,
    health: { state: vault.health.state, reason: vault.health.reason, damaged: vault.health.damaged === true },
    catchUp: vault.awaitingCatchUp,
    events: Object.values(feeds).reduce((n, f) => n + f.length, 0),
    feeds,
    lastCheck: report && { ok: report.ok, mode: report.mode, checked: report.checked, total: report.total, durationMs: report.durationMs, verifiedAt: report.verifiedAt }
  }
}

/** What a proposal still needs under the current policy, and whether it is past expiry. */
export function viewProposal(state: GovState, p: ProposalState, now: Date = new Date()): ProposalView {
  const missing = p.status === 'open' ? missingApprovals(rulesFor(state.policy, p.action.kind, p.action.args), p.proposer, p.approvals) : []
  return { ...p, missing, expired: p.status === 'open' && now.toISOString() > p.expiresAt }
}

/** Open proposals this device's member can still sign: not their own, not yet approved by them, not expired. */
export function inboxOf(vault: Vault, now: Date = new Date()): ProposalView[] {
  const me = vault.member?.name
  if (!me) return []
  return Object.values(vault.state.proposals)
    .filter((p) => p.status === 'open' && p.proposer !== me && !p.approvals.some((a) => a.member === me))
    .map((p) => viewProposal(vault.state, p, now))
    .filter((p) => !p.expired)
    .sort((a, b) => (a.createdAt < b.createdAt ? -1 : 1))
}

/** Build the handler map for one open vault. */
export function createHandlers(vault: Vault, providers: HostProviders = {}): Handlers {
  const logView = new LogView(vault)
  const autoLock = autoLocker(vault, providers.autoLockMs ?? DEFAULT_AUTO_LOCK_MS)
  const handlers = buildHandlers(vault, providers, logView)
  // Every call that signs or unlocks restarts the auto-lock timer.
  for (const m of SIGNING_METHODS) {
    const fn = handlers[m] as (a: unknown) => Promise<unknown>
    ;(handlers as unknown as Record<string, (a: unknown) => Promise<unknown>>)[m] = async (a) => { try { return await fn(a) } finally { autoLock.touch() } }
  }
  return handlers
}

export const DEFAULT_AUTO_LOCK_MS = 15 * 60_000
const SIGNING_METHODS: readonly Method[] = ['vault.unlock', 'gov.propose', 'gov.approve', 'gov.reject', 'gov.withdraw', 'gov.commit', 'log.appendNote', 'vault.verify']

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

function buildHandlers(vault: Vault, providers: HostProviders, logView: LogView): Handlers {
  let progress: { task: 'verify'; done: number; total: number } | null = null
  const telemetry = (): TelemetryStore => {
    if (!providers.telemetry) throw NOT_FOUND('this host has no telemetry store open (the edge daemon and the CLI do)')
    return providers.telemetry
  }
  const stream = (v: unknown) => {
    const s = optString(v, 'stream', 64)
    if (!s) throw BAD_ARGUMENT('stream is required')
    return s
  }
  const opened = async () => { throw ALREADY_EXISTS('this folder already holds a vault') }
  return {
    'onboard.status': async () => ({ hasVault: true, dir: vault.dir, deviceKey: vault.device, error: null }),
    'vault.recover': async () => { throw UNKNOWN_METHOD('recovery is run by the host that holds the vault (tresor serve, the desktop app) or by tresor recover') },
    'onboard.create': opened,
    'onboard.keygen': opened,
    'onboard.join': opened,
    'onboard.joinCouch': opened,
    'onboard.joinGit': opened,
    'telemetry.status': async () => {
      const t = telemetry()
      return { ...t.usage(), enabled: t.enabled, forwardedSeq: t.forwarded, sealedSeq: t.head.seq, batches: t.batchMetas().length }
    },
    'telemetry.streams': async (args) => telemetry().streams(optInt(obj(args).windowMs, 'windowMs', 1000, 366 * 86_400_000, 15 * 60_000)),
    'telemetry.readings': async (args) => {
      const a = obj(args)
      const limit = optInt(a.limit, 'limit', 1, 10_000, 1000)
      const all = await telemetry().streamReadings(stream(a.stream), { from: optString(a.from, 'from', 30), to: optString(a.to, 'to', 30) })
      return { readings: all.slice(-limit), total: all.length }
    },
    'telemetry.quarantine': async (args) => telemetry().quarantine(optInt(obj(args).limit, 'limit', 1, 1000, 100)),
    'telemetry.prove': async (args) => {
      const a = obj(args)
      const id = optString(a.id, 'id', 128)
      if (!id) throw BAD_ARGUMENT('id is required')
      return telemetry().prove(stream(a.stream), id)
    },
    'telemetry.ingest': async (args) => {
      const a = obj(args)
      const ndjson = optString(a.ndjson, 'ndjson', 60_000)
      if (ndjson === undefined) throw BAD_ARGUMENT('ndjson is required: readings, one JSON object per line')
      return telemetry().ingest(ndjson, { stream: optString(a.stream, 'stream', 64), source: 'api' })
    },
    'sync.status': async () => (providers.syncStatus ? providers.syncStatus() : null),
    'vault.status': async () => statusOf(vault),
    'vault.members': async () => Object.values(vault.state.members),
    'gov.state': async () => ({ state: vault.state, hash: stateHash(vault.state) }),
    'gov.inbox': async () => inboxOf(vault),
    'gov.proposals': async (args) => {
      const status = optString(obj(args).status, 'status', 16)
      return Object.values(vault.state.proposals).filter((p) => !status || p.status === status).map((p) => viewProposal(vault.state, p))
    },
    'gov.show': async (args) => viewProposal(vault.state, vault.proposal(String(obj(args).proposal ?? ''))),
    'gov.propose': async (args) => {
      const a = obj(args)
      const expiresAt = optString(a.expiresAt, 'expiresAt', 24)
      return viewProposal(vault.state, await vault.propose(a.action as Action, String(a.reason ?? ''), expiresAt))
    },
    'gov.approve': async (args) => viewProposal(vault.state, await vault.approve(String(obj(args).proposal ?? ''))),
    'gov.reject': async (args) => {
      const a = obj(args)
      return viewProposal(vault.state, await vault.reject(String(a.proposal ?? ''), String(a.reason ?? '')))
    },
    'gov.withdraw': async (args) => viewProposal(vault.state, await vault.withdraw(String(obj(args).proposal ?? ''))),
    'gov.commit': async (args) => viewProposal(vault.state, await vault.commit(String(obj(args).proposal ?? ''))),
    'ledger.balances': async () => {
      const entries = vault.state.registers.ledger as LedgerEntry[]
      return { entries, balances: ledgerBalances(entries) }
    },
    'vault.verify': async (args) => {
      progress = { task: 'verify', done: 0, total: 0 }
      try {
        return await vault.verify({ full: obj(args).full === true, onProgress: (done, total) => { progress = { task: 'verify', done, total } } })
      } finally {
        progress = null
      }
    },
    'vault.progress': async () => progress,
    'vault.unlock': async (args) => {
      const passphrase = optString(obj(args).passphrase, 'passphrase', 1024)
      if (!passphrase) throw BAD_ARGUMENT('passphrase is required')
      await vault.unlock(passphrase)
      return { unlocked: true }
    },
    'vault.lock': async () => { vault.lock(); return { unlocked: false } },
    'log.list': async (args) => {
      const a = obj(args)
      const offset = optInt(a.offset, 'offset', 0, Number.MAX_SAFE_INTEGER, 0)
      const limit = optInt(a.limit, 'limit', 1, 1000, 100)
      const filter = { type: optString(a.type, 'type', 64), author: optString(a.author, 'author', 64), from: optString(a.from, 'from', 30), to: optString(a.to, 'to', 30) }
      await logView.refresh()
      const rows = logView.select(filter)
      const entries: LogEntry[] = rows.slice(offset, offset + limit).map((r) => ({ ...r, badge: logView.badge(r) }))
      if (a.payloads === true) {
        const docs = await vault.store.getMany(entries.map((e) => eventDocId(e.author, e.seq)))
        for (const [i, doc] of docs.entries()) if (doc) entries[i]!.payload = (JSON.parse(doc.raw) as SignedEvent).payload
      }
      return { entries, total: rows.length, ...logView.facets() }
    },
    'log.get': async (args) => {
      const a = obj(args)
      const author = optString(a.author, 'author', 64)
      const seq = optInt(a.seq, 'seq', 1, Number.MAX_SAFE_INTEGER, 0)
      if (!author || seq < 1) throw BAD_ARGUMENT('author and seq are required')
      await vault.flush()
      const doc = await vault.store.get(author, seq)
      if (!doc) throw NOT_FOUND(`no event ${author.slice(0, 12)}…/${seq}`)
      const event = JSON.parse(doc.raw) as SignedEvent
      const row = { id: doc.id, author, seq, ts: event.ts, type: event.type }
      return { ...row, badge: logView.badge(row), payload: event.payload, raw: doc.raw }
    },
    'proof.event': async (args) => {
      const id = optString(obj(args).id, 'id', 64)
      if (!id) throw BAD_ARGUMENT('id is required')
      return proveInclusion(vault, id)
    },
    'bundle.export': async (args) => {
      const since = obj(args).since ?? {}
      if (typeof since !== 'object' || since === null || Array.isArray(since) || !Object.values(since).every((n) => Number.isSafeInteger(n) && (n as number) >= 0)) {
        throw BAD_ARGUMENT('since maps author keys to feed lengths')
      }
      const bundle = await vault.exportBundle(since as Record<string, number>)
      return { text: JSON.stringify(bundle), events: bundle.events.length }
    },
    'bundle.import': async (args) => {
      const text = obj(args).text
      if (typeof text !== 'string' || text.length === 0 || text.length > MAX_BUNDLE_TEXT) throw BAD_ARGUMENT(`text is a bundle file's content (at most ${MAX_BUNDLE_TEXT} bytes)`)
      parseBounded(text, MAX_BUNDLE_TEXT, 16) // refuse non-JSON and deep nesting before the vault reads it
      return vault.importBundle(text)
    },
    'log.appendNote': async (args) => {
      const text = optString(obj(args).text, 'text', 4096)
      if (!text || text.trim() === '') throw BAD_ARGUMENT('text is required')
      const d = await vault.append('audit.note', { text } as Record<string, Json>)
      return { id: d.id, seq: d.event.seq }
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
