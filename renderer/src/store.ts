/**
 * The UI's view of core: one zustand store built from slices. Actions call the
 * API client, then refresh from core; core stays the source of truth. Views
 * read through selectors (selectors.ts), never by reaching into slices.
 */
import { withEntry } from './records.js'
import { create, type StateCreator } from 'zustand'
import type {
  Action,
  GovState,
  Inbox,
  LedgerEntry,
  LogEntry,
  LogEntryDetail,
  InclusionProofFile,
  OnboardStatus,
  ProposalView,
  Reading,
  RecoveryResult,
  StreamMeter,
  TelemetryQuarantineEntry,
  TelemetryStatus,
  VerifyReport
} from '../../core/index.js'
import { ApiError, send, type FollowState, type Send } from './api-client.js'
import type { VaultErrorCode, ViewEvent } from '../../core/index.js'
import type { AppArgsOf, AppResultOf, SyncStatus } from '../../main/contract.js'

export type Screen =
  | 'health'
  | 'inbox'
  | 'proposal'
  | 'log'
  | 'members'
  | 'devices'
  | 'flags'
  | 'registers'
  | 'documents'
  | 'telemetry'
  | 'sync'

export function asApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err
  // core's own check run in the page (core/forms.ts: a form's text made an action) throws a VaultError: keep its code
  if (err instanceof Error && err.name === 'VaultError' && typeof (err as { code?: unknown }).code === 'string')
    return new ApiError((err as unknown as { code: VaultErrorCode }).code, err.message)
  return new ApiError('TRANSPORT', err instanceof Error ? err.message : String(err))
}

/** A long or failing call's visible state: busy while it runs, the error if it failed. */
export interface Job {
  busy: boolean
  error: ApiError | null
  done: string | null
}
const idle: Job = { busy: false, error: null, done: null }

export interface SessionSlice {
  onboard: OnboardStatus | null
  /** The host's status: core's, with the desktop's keychain where there is one. */
  status: AppResultOf<'vault.status'> | null
  statusError: ApiError | null
  screen: Screen
  jobs: Record<string, Job>
  go(screen: Screen): void
  loadOnboard(): Promise<void>
  loadStatus(): Promise<void>
  /** Run a call as a named job: busy flag, error, completion text. Returns the value or null on failure. */
  run<T>(name: string, fn: () => Promise<T>, done?: string): Promise<T | null>
  createVault(args: AppArgsOf<'onboard.create'>): Promise<void>
  makeKey(args: { name: string; passphrase: string }): Promise<string | null>
  joinVault(args: { bundle: string; passphrase: string }): Promise<void>
  joinFrom(
    kind: 'couch' | 'git',
    args: { url: string; user?: string; password?: string; token?: string; passphrase: string }
  ): Promise<void>
  unlock(passphrase: string, remember?: boolean): Promise<void>
  lock(forget?: boolean): Promise<void>
  runFullCheck(): Promise<void>
  /** The person says the vault folder was moved here, not copied. */
  confirmHome(): Promise<void>
  /** Rebuild a damaged vault (the host moves the damaged database aside, never deletes it). */
  recoverVault(args: { passphrase: string; bundle?: string; peers: boolean }): Promise<void>
  recovery: RecoveryResult | null
  verifyResult: VerifyReport | null
  progress: { done: number; total: number } | null
}

export interface LogSlice {
  logTotal: number
  logTypes: string[]
  logAuthors: string[]
  logFilter: { type?: string; author?: string; from?: string; to?: string }
  /** Pages of entries by page number; a change of filter starts over. */
  logPages: Record<number, LogEntry[]>
  logGeneration: number
  logDetail: LogEntryDetail | null
  logProof: InclusionProofFile | null
  setLogFilter(filter: LogSlice['logFilter']): void
  loadLogPage(page: number): Promise<void>
  openLogEntry(author: string, seq: number): Promise<void>
  closeLogEntry(): void
  proveEvent(id: string): Promise<void>
}

export interface GovSlice {
  gov: GovState | null
  inbox: Inbox
  proposals: ProposalView[]
  selected: string | null
  ledger: { entries: LedgerEntry[]; balances: Record<string, Record<string, number>> } | null
  loadGov(): Promise<void>
  openProposal(id: string): void
  /** The member a link named (Members marks and scrolls to their row). */
  focusMember: string | null
  openMember(name: string): void
  /** `job` names the form's own status line (each form shows only its own result). */
  /**
   * `action` may be a function building it from a form's text: a mistake there is the job's error, like the vault's
   * refusal.
   */
  propose(action: Action | (() => Action), reason: string, job?: string): Promise<ProposalView | null>
  decide(kind: 'approve' | 'reject' | 'commit' | 'withdraw', proposal: string, reason?: string): Promise<void>
  loadLedger(): Promise<void>
}

export interface TelemetrySlice {
  telemetryStatus: TelemetryStatus | null
  streams: StreamMeter[]
  streamReadings: Record<string, Reading[]>
  telemetryQuarantine: TelemetryQuarantineEntry[]
  loadTelemetry(): Promise<void>
  loadReadings(stream: string): Promise<void>
}

export interface SyncSlice {
  sync: SyncStatus | null
  loadSync(): Promise<void>
  /** A signed bundle for one member's device(s) (what they are not known to hold), or of everything. */
  exportBundle(forMember: string | null): Promise<AppResultOf<'bundle.export'> | null>
  /** Import a bundle file's text; what arrived is kept for the screen to show. */
  importBundle(text: string): Promise<void>
  imported: AppResultOf<'bundle.import'> | null
}

/** The documents register, its governed changes and the ZIP migration (core/methods/documents.ts). */
export interface DocumentsSlice {
  docs: AppResultOf<'documents.index'> | null
  docRules: AppResultOf<'documents.rules'>['rules'] | null
  docQuarantine: AppResultOf<'documents.quarantine'>['entries']
  /** The open document's id, its current text, a diff between two of its versions and a version's proof. */
  docOpen: string | null
  docText: { digest: string; text: string | null } | null
  docDiff: (AppResultOf<'documents.diff'> & { from: string; to: string }) | null
  docProof: InclusionProofFile | null
  /** A dry run of a ZIP (what each file would become) and the archive it was made from. */
  zipPlan: { name: string; zip: string; plan: AppResultOf<'documents.plan'> } | null
  /** The files a migration proposal would bring in (for its review), by proposal id. */
  proposalFiles: Map<string, AppResultOf<'documents.proposalPlan'>['files']>
  loadDocuments(): Promise<void>
  openDocument(id: string | null): Promise<void>
  diffVersions(from: string, to: string): Promise<void>
  proveVersion(event: string): Promise<void>
  planZip(name: string, zip: string): Promise<void>
  migrateZip(reason: string): Promise<void>
  proposeLifecycle(doc: string, to: string, reason: string): Promise<void>
  proposeVersion(args: AppArgsOf<'documents.proposeVersion'>): Promise<void>
  loadProposalFiles(proposal: string): Promise<void>
}

/** The host's pushed changes: what they refresh, and whether the push channel is up. */
export interface LiveSlice {
  /** Every member's devices as their signed statuses say (core/devices.ts). */
  devices: AppResultOf<'devices.list'> | null
  /** What the witnesses say: split-view evidence each device signed, judged here (core/vault-witness.ts). */
  witness: AppResultOf<'witness.status'> | null
  loadDevices(): Promise<void>
  push: FollowState | null
  setPush(state: FollowState): void
  /** Fetch again what the changes touch (only that: the store stays a view of core). */
  refreshOn(events: ViewEvent[]): Promise<void>
}

export type AppState = SessionSlice & LogSlice & GovSlice & TelemetrySlice & SyncSlice & DocumentsSlice & LiveSlice
type Slice<T> = StateCreator<AppState, [], [], T>

/** How many log entries one request brings. */
export const LOG_PAGE = 200

const sessionSlice =
  (client: Send): Slice<SessionSlice> =>
  (set, get) => ({
    onboard: null,
    status: null,
    statusError: null,
    screen: 'health',
    jobs: {},
    verifyResult: null,
    recovery: null,
    progress: null,
    go: (screen) => set({ screen }),
    run: async (name, fn, done) => {
      set((s) => ({ jobs: { ...s.jobs, [name]: { busy: true, error: null, done: null } } }))
      try {
        const value = await fn()
        set((s) => ({ jobs: { ...s.jobs, [name]: { ...idle, done: done ?? null } } }))
        return value
      } catch (err) {
        set((s) => ({ jobs: { ...s.jobs, [name]: { ...idle, error: asApiError(err) } } }))
        return null
      }
    },
    loadOnboard: async () => {
      try {
        set({ onboard: await client('onboard.status', {}) })
      } catch (err) {
        set({ statusError: asApiError(err) })
      }
    },
    loadStatus: async () => {
      try {
        set({ status: await client('vault.status', {}), statusError: null })
      } catch (err) {
        set({ status: null, statusError: asApiError(err) })
      }
    },
    confirmHome: async () => {
      const r = await get().run('home', () => client('vault.confirmHome', {}), 'Confirmed: this is its home now.')
      if (r) set({ status: { ...get().status!, moved: null } })
      await get().loadStatus()
    },
    createVault: async (args) => {
      const r = await get().run('onboard', () => client('onboard.create', args))
      if (r) {
        set({ onboard: r })
        await get().loadStatus()
      }
    },
    makeKey: async (args) => (await get().run('keygen', () => client('onboard.keygen', args)))?.publicKey ?? null,
    joinVault: async (args) => {
      const r = await get().run('onboard', () => client('onboard.join', args))
      if (r) {
        set({ onboard: r })
        await get().loadStatus()
      }
    },
    joinFrom: async (kind, args) => {
      const r = await get().run('onboard', () =>
        kind === 'couch'
          ? client('onboard.joinCouch', {
              url: args.url,
              user: args.user,
              password: args.password,
              passphrase: args.passphrase
            })
          : client('onboard.joinGit', { url: args.url, token: args.token ?? '', passphrase: args.passphrase })
      )
      if (r) {
        set({ onboard: r })
        await get().loadStatus()
      }
    },
    unlock: async (passphrase, remember) => {
      await get().run('unlock', () => client('vault.unlock', { passphrase, ...(remember ? { remember: true } : {}) }))
      await get().loadStatus()
    },
    lock: async (forget) => {
      await get().run('unlock', () => client('vault.lock', forget ? { forget: true } : {}))
      await get().loadStatus()
    },
    runFullCheck: async () => {
      // Long work shows progress: ask core how far the check is while it runs.
      const poll = setInterval(() => {
        void client('vault.progress', {}).then(
          (p) => set({ progress: p }),
          () => undefined
        )
      }, 250)
      const report = await get().run('verify', () => client('vault.verify', { full: true }), 'Full check finished.')
      clearInterval(poll)
      set({ progress: null })
      if (report) set({ verifyResult: report })
      // A full check can lift or set READ-ONLY: show what core now says.
      await get().loadStatus()
      get().setLogFilter(get().logFilter)
    },
    recoverVault: async (args) => {
      const r = await get().run(
        'recover',
        () =>
          client('vault.recover', {
            passphrase: args.passphrase,
            peers: args.peers,
            ...(args.bundle ? { bundle: args.bundle } : {})
          }),
        'Recovery finished.'
      )
      if (r) set({ recovery: r })
      await get().loadStatus()
      get().setLogFilter(get().logFilter)
    }
  })

const logSlice =
  (client: Send): Slice<LogSlice> =>
  (set, get) => ({
    logTotal: 0,
    logTypes: [],
    logAuthors: [],
    logFilter: {},
    logPages: {},
    logGeneration: 0,
    logDetail: null,
    logProof: null,
    setLogFilter: (filter) => {
      set((s) => ({ logFilter: filter, logPages: {}, logGeneration: s.logGeneration + 1 }))
      void get().loadLogPage(0)
    },
    loadLogPage: async (page) => {
      const generation = get().logGeneration
      const res = await get().run('log', () =>
        client('log.list', { ...get().logFilter, offset: page * LOG_PAGE, limit: LOG_PAGE })
      )
      if (!res || generation !== get().logGeneration) return // a newer filter won
      set((s) => ({
        logPages: { ...s.logPages, [page]: res.entries },
        logTotal: res.total,
        logTypes: res.types,
        logAuthors: res.authors
      }))
    },
    openLogEntry: async (author, seq) => {
      set({ logProof: null })
      const detail = await get().run('logDetail', () => client('log.get', { author, seq }))
      set({ logDetail: detail })
    },
    closeLogEntry: () => set({ logDetail: null, logProof: null }),
    proveEvent: async (id) => {
      const proof = await get().run('proof', () => client('proof.event', { id }))
      set({ logProof: proof })
    }
  })

const govSlice =
  (client: Send): Slice<GovSlice> =>
  (set, get) => ({
    gov: null,
    inbox: { toSign: [], toCommit: [], waiting: [] },
    proposals: [],
    selected: null,
    ledger: null,
    loadGov: async () => {
      const r = await get().run('gov', async () =>
        Promise.all([client('gov.state', {}), client('gov.inbox', {}), client('gov.proposals', {})])
      )
      if (r) set({ gov: r[0].state, inbox: r[1], proposals: r[2] })
    },
    // a decision's outcome belongs to the proposal it was made on: another proposal opens without it
    openProposal: (id) => set((s) => ({ selected: id, screen: 'proposal', jobs: { ...s.jobs, decide: idle } })),
    focusMember: null,
    openMember: (name) => set({ focusMember: name, screen: 'members' }),
    propose: async (action, reason, job = 'propose') => {
      const p = await get().run(
        job,
        async () => client('gov.propose', { action: typeof action === 'function' ? action() : action, reason }),
        'Proposal signed.'
      )
      await get().loadGov()
      return p
    },
    decide: async (kind, proposal, reason) => {
      const label = {
        approve: 'Approval signed.',
        reject: 'Rejection signed.',
        commit: 'Committed.',
        withdraw: 'Withdrawn.'
      }[kind]
      await get().run(
        'decide',
        () =>
          kind === 'reject'
            ? client('gov.reject', { proposal, reason: reason ?? '' })
            : client(`gov.${kind}`, { proposal }),
        label
      )
      await Promise.all([get().loadGov(), get().loadStatus()])
    },
    loadLedger: async () => {
      const r = await get().run('ledger', () => client('ledger.balances', {}))
      if (r) set({ ledger: r })
    }
  })

const telemetrySlice =
  (client: Send): Slice<TelemetrySlice> =>
  (set, get) => ({
    telemetryStatus: null,
    streams: [],
    streamReadings: Object.create(null) as Record<string, Reading[]>,
    telemetryQuarantine: [],
    loadTelemetry: async () => {
      const r = await get().run('telemetry', async () =>
        Promise.all([
          client('telemetry.status', {}),
          client('telemetry.streams', { windowMs: 3_600_000 }),
          client('telemetry.quarantine', { limit: 50 })
        ])
      )
      if (r) set({ telemetryStatus: r[0], streams: r[1], telemetryQuarantine: r[2] })
    },
    loadReadings: async (stream) => {
      const r = await get().run(`readings:${stream}`, () => client('telemetry.readings', { stream, limit: 300 }))
      if (r) set((s) => ({ streamReadings: withEntry(s.streamReadings, stream, r.readings) }))
    }
  })

const syncSlice =
  (client: Send): Slice<SyncSlice> =>
  (set, get) => ({
    sync: null,
    loadSync: async () => {
      const r = await get().run('sync', () => client('sync.status', {}))
      set({ sync: r })
    },
    imported: null,
    exportBundle: (forMember) =>
      get().run('bundle-export', () => client('bundle.export', forMember ? { for: forMember } : {}), 'Bundle signed.'),
    importBundle: async (text) => {
      set({ imported: null })
      const r = await get().run('bundle-import', () => client('bundle.import', { text }), 'Bundle imported.')
      if (r) set({ imported: r })
      await Promise.all([get().loadGov(), get().loadStatus()])
    }
  })

const documentsSlice =
  (client: Send): Slice<DocumentsSlice> =>
  (set, get) => ({
    docs: null,
    docRules: null,
    docQuarantine: [],
    docOpen: null,
    docText: null,
    docDiff: null,
    docProof: null,
    zipPlan: null,
    proposalFiles: new Map(),
    loadDocuments: async () => {
      const r = await get().run('documents', () =>
        Promise.all([client('documents.index', {}), client('documents.rules', {}), client('documents.quarantine', {})])
      )
      if (r) set({ docs: r[0], docRules: r[1].rules, docQuarantine: r[2].entries })
    },
    openDocument: async (id) => {
      set({ docOpen: id, docText: null, docDiff: null, docProof: null })
      const d = id ? get().docs?.documents.find((x) => x.id === id) : null
      if (!d) return
      // the current version's bytes, checked against its digest by the host; text only when it is UTF-8
      const b = await get().run('doc-text', () => client('documents.get', { digest: d.current }))
      if (b && get().docOpen === id) set({ docText: { digest: b.digest, text: b.text } })
    },
    diffVersions: async (from, to) => {
      const r = await get().run('doc-diff', () => client('documents.diff', { from, to }))
      set({ docDiff: r ? { ...r, from, to } : null })
    },
    proveVersion: async (event) => {
      const proof = await get().run('doc-proof', () => client('proof.event', { id: event }))
      set({ docProof: proof })
    },
    planZip: async (name, zip) => {
      set({ zipPlan: null })
      const plan = await get().run('zip-plan', () => client('documents.plan', { name, zip }))
      if (plan) set({ zipPlan: { name, zip, plan } })
    },
    migrateZip: async (reason) => {
      const z = get().zipPlan
      if (!z) return
      const r = await get().run('zip-migrate', () => client('documents.migrate', { name: z.name, zip: z.zip, reason }))
      if (!r) return
      await get().loadGov()
      if (r.duplicate) {
        set((s) => ({
          jobs: {
            ...s.jobs,
            'zip-migrate': { ...idle, done: `DUPLICATE: batch ${r.plan.batch} was migrated already; nothing proposed.` }
          }
        }))
        return
      }
      set({ zipPlan: null })
      if (r.proposal) get().openProposal(r.proposal.id)
    },
    proposeLifecycle: async (doc, to, reason) => {
      const p = await get().run('doc-lifecycle', () => client('documents.proposeLifecycle', { doc, to, reason }))
      if (!p) return
      await get().loadGov()
      get().openProposal(p.id)
    },
    proposeVersion: async (args) => {
      const p = await get().run('doc-version', () => client('documents.proposeVersion', args))
      if (!p) return
      await get().loadGov()
      get().openProposal(p.id)
    },
    loadProposalFiles: async (proposal) => {
      const r = await get().run('proposal-files', () => client('documents.proposalPlan', { proposal }))
      if (r) set((s) => ({ proposalFiles: new Map(s.proposalFiles).set(proposal, r.files) }))
    }
  })

const liveSlice =
  (client: Send): Slice<LiveSlice> =>
  (set, get) => ({
    devices: null,
    witness: null,
    loadDevices: async () => {
      const devices = await get().run('devices', () => client('devices.list', {}))
      if (devices) set({ devices })
      const witness = await get().run('devices', () => client('witness.status', {}))
      if (witness) set({ witness })
    },
    push: null,
    setPush: (push) => set({ push }),
    refreshOn: async (events) => {
      const s = get()
      const topics = new Set(events.map((e) => e.topic))
      const work: Promise<unknown>[] = []
      if (topics.has('vault') || topics.has('opened') || topics.has('closed')) {
        work.push(s.loadStatus(), s.loadGov())
        if (s.screen === 'log') work.push(s.loadLogPage(0))
        if (s.screen === 'registers') work.push(s.loadLedger())
        if (s.screen === 'documents') work.push(s.loadDocuments())
      }
      if (topics.has('sync') && s.screen === 'sync') work.push(s.loadSync())
      if ((topics.has('vault') || topics.has('devices')) && s.screen === 'devices') work.push(s.loadDevices())
      await Promise.all(work)
    }
  })

/** Assemble the store over a client (the real one by default; tests may pass their own). */
export function createAppStore(client: Send = send) {
  return create<AppState>()((...a) => ({
    ...sessionSlice(client)(...a),
    ...logSlice(client)(...a),
    ...govSlice(client)(...a),
    ...telemetrySlice(client)(...a),
    ...syncSlice(client)(...a),
    ...documentsSlice(client)(...a),
    ...liveSlice(client)(...a)
  }))
}

export const useAppStore = createAppStore()
