/**
 * The edge daemon, observed (issue 18): structured JSON logs (pino, one object a line on stderr, level from
 * TRESOR_LOG_LEVEL, info by default) carrying the vault, device and request ids; Prometheus metrics (prom-client) for
 * `GET /metrics` with the golden signals per API method (requests, errors by code, latency), what the vault did
 * (events appended here and taken in, checks, forks, telemetry readings), and its standing at scrape time (READ-ONLY,
 * the last check, log size, sync backlog, telemetry backlog). Governance facts (commits, policy changes, incidents,
 * health) are log events too.
 *
 * What is never logged: a request body (vault.unlock carries the passphrase), a token, an event's payload (it may hold
 * a private field), a reading. Only ids, names, kinds, codes and counts go out; error messages are the vault's own,
 * which name no secret.
 */
import type { Logger } from 'pino'
import type { Tracer } from '@opentelemetry/api'
import type { Counter, Histogram, Registry } from 'prom-client'
import { lazyPackage, reviewAction, type HostEvent, type TelemetryStore, type Vault } from '../core/index.js'

// Required when a daemon starts observing, not when the CLI loads (edge/start.ts: the CLI is one file, loaded whole).
const pinoPackage = lazyPackage<typeof import('pino')>('pino')
const promClient = lazyPackage<typeof import('prom-client')>('prom-client')

/** OpenTelemetry's SpanStatusCode.ERROR, named here so the API package is only needed when tracing is on. */
const SPAN_STATUS_ERROR = 2

const POLICY_KINDS = new Set(['policy.set', 'vault.settings', 'flag.set', 'witness.policy', 'doc.rules'])

/** What the metrics read of sync's status (sync/couch-sync.ts). */
export interface SyncView {
  online: boolean
  pendingUp: number
  pendingDown: number
  quarantine: number
  lastSuccess: string | null
  /** While a follower holds the connection: events taken in and sent since it started. */
  live?: { admitted: number; pushed: number } | null
}

export interface ApiObservation {
  reqId: string
  method: string
  ok: boolean
  code: string | null
  seconds: number
}

export class Observer {
  readonly log: Logger
  readonly registry: Registry
  private vault: Vault | null = null
  private telemetry: () => TelemetryStore | null = () => null
  private sync: (() => Promise<SyncView>) | null = null
  private committed = new Set<string>()
  private health: string | null = null
  private readonly requests: Counter<'method' | 'outcome'>
  private readonly errors: Counter<'method' | 'code'>
  private readonly latency: Histogram<'method'>
  private readonly appended: Counter<'type'>
  private readonly admitted: Counter
  private readonly forks: Counter
  private readonly checks: Counter<'mode' | 'outcome'>
  private readonly readings: Counter<'decision'>
  private readonly commits: Counter<'kind'>

  constructor(destination: NodeJS.WritableStream = process.stderr, level = process.env.TRESOR_LOG_LEVEL ?? 'info') {
    const { Counter, Gauge, Histogram, Registry } = promClient()
    this.log = pinoPackage().pino({ base: { service: 'tresor' }, level }, destination as never)
    this.registry = new Registry()
    const r = [this.registry]
    this.requests = new Counter({
      name: 'tresor_api_requests_total',
      help: 'API calls answered, by method and outcome (ok or error).',
      labelNames: ['method', 'outcome'],
      registers: r
    })
    this.errors = new Counter({
      name: 'tresor_api_errors_total',
      help: 'API calls answered with an error, by method and error code.',
      labelNames: ['method', 'code'],
      registers: r
    })
    this.latency = new Histogram({
      name: 'tresor_api_request_duration_seconds',
      help: 'Time to answer an API call, by method.',
      labelNames: ['method'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: r
    })
    this.appended = new Counter({
      name: 'tresor_events_appended_total',
      help: 'Events this device signed and appended, by type.',
      labelNames: ['type'],
      registers: r
    })
    this.admitted = new Counter({
      name: 'tresor_events_ingested_total',
      help: 'Events from other devices admitted by the ingestion gate.',
      registers: r
    })
    this.forks = new Counter({ name: 'tresor_forks_seen_total', help: 'Fork evidence taken in.', registers: r })
    this.checks = new Counter({
      name: 'tresor_checks_total',
      help: 'Self-checks run, by mode (full, incremental) and outcome (ok, failed).',
      labelNames: ['mode', 'outcome'],
      registers: r
    })
    this.readings = new Counter({
      name: 'tresor_telemetry_readings_total',
      help: 'Telemetry readings posted to /ingest, by the receipt they got.',
      labelNames: ['decision'],
      registers: r
    })
    this.commits = new Counter({
      name: 'tresor_governance_commits_total',
      help: 'Proposals committed (in this device’s view), by action kind.',
      labelNames: ['kind'],
      registers: r
    })
    // a gauge's collect() has the gauge as `this`: what it reads of the observer comes through these
    const vaultOf = () => this.vault
    const syncOf = () => this.sync
    const telemetryOf = () => this.telemetry()
    new Gauge({
      name: 'tresor_read_only',
      help: '1 while the vault is READ-ONLY (its check failed or its storage is damaged), else 0.',
      registers: r,
      collect() {
        this.set(vaultOf()?.health.state === 'read-only' ? 1 : 0)
      }
    })
    new Gauge({
      name: 'tresor_unlocked',
      help: '1 while the device key is unlocked.',
      registers: r,
      collect() {
        this.set(vaultOf()?.unlocked ? 1 : 0)
      }
    })
    new Gauge({
      name: 'tresor_last_check_timestamp_seconds',
      help: 'When the last self-check finished (Unix time; 0 before any).',
      registers: r,
      collect() {
        const at = vaultOf()?.health.report?.verifiedAt
        this.set(at ? Date.parse(at) / 1000 : 0)
      }
    })
    new Gauge({
      name: 'tresor_log_events',
      help: 'Events in this device’s copy of the log (every feed).',
      registers: r,
      collect() {
        this.set(Object.values(vaultOf()?.heads() ?? {}).reduce((n, h) => n + h.length, 0))
      }
    })
    new Gauge({
      name: 'tresor_sync_backlog',
      help: 'CouchDB sync backlog: events the server is not known to hold (up), staged and waiting (down), quarantined.',
      labelNames: ['queue'],
      registers: r,
      async collect() {
        const s = await syncNow()
        this.reset()
        if (!s) return
        this.set({ queue: 'up' }, s.pendingUp)
        this.set({ queue: 'down' }, s.pendingDown)
        this.set({ queue: 'quarantine' }, s.quarantine)
      }
    })
    // sync's standing and what the follower moved, read from its status at scrape time (one read for the three)
    let syncRead: Promise<SyncView | null> | null = null
    const syncNow = () => {
      syncRead ??= (syncOf()?.() ?? Promise.resolve(null))
        .catch(() => null) // no sync configured: nothing to say
        .finally(() => setTimeout(() => (syncRead = null), 0))
      return syncRead
    }
    new Gauge({
      name: 'tresor_sync_online',
      help: '1 while CouchDB sync reaches its server (0 offline, or no sync configured).',
      registers: r,
      async collect() {
        this.set((await syncNow())?.online ? 1 : 0)
      }
    })
    new Gauge({
      name: 'tresor_sync_last_success_timestamp_seconds',
      help: 'When sync last succeeded with its server (Unix time; 0 never).',
      registers: r,
      async collect() {
        const at = (await syncNow())?.lastSuccess
        this.set(at ? Date.parse(at) / 1000 : 0)
      }
    })
    new Counter({
      name: 'tresor_sync_events_total',
      help: 'Events the live sync took in from its server and sent to it since the daemon started following.',
      labelNames: ['direction'],
      registers: r,
      async collect() {
        const live = (await syncNow())?.live
        this.reset()
        if (!live) return
        this.inc({ direction: 'in' }, live.admitted)
        this.inc({ direction: 'out' }, live.pushed)
      }
    })
    new Gauge({
      name: 'tresor_telemetry_backlog_bytes',
      help: 'Telemetry held on disk and not yet forwarded, against its budget.',
      labelNames: ['of'],
      registers: r,
      collect() {
        const u = telemetryOf()?.usage()
        this.reset()
        if (!u) return
        this.set({ of: 'used' }, u.usedBytes)
        this.set({ of: 'budget' }, u.budgetBytes)
      }
    })
  }

  /** What the gauges read: the open vault (null while none), its telemetry store and sync status. */
  attach(vault: Vault | null, telemetry: () => TelemetryStore | null, sync: (() => Promise<SyncView>) | null): void {
    this.vault = vault
    this.telemetry = telemetry
    this.sync = sync
    this.committed = new Set(
      vault
        ? Object.values(vault.state.proposals)
            .filter((p) => p.status === 'committed')
            .map((p) => p.id)
        : []
    )
    this.health = vault?.health.state ?? null
    if (vault) {
      this.log.info({ vault: vault.vaultId, device: vault.device, health: vault.health.state }, 'vault opened')
      if (vault.health.state === 'read-only')
        this.log.warn({ vault: vault.vaultId, reason: vault.health.reason }, 'vault is READ-ONLY')
    }
  }

  private ids() {
    return this.vault ? { vault: this.vault.vaultId, device: this.vault.device } : {}
  }

  /** Where spans go (edge/trace.ts), when trace export is on. */
  tracer: Tracer | null = null

  private span(name: string, seconds: number, attributes: Record<string, string | number | boolean>, ok = true) {
    if (!this.tracer) return
    const end = Date.now()
    const span = this.tracer.startSpan(name, { startTime: end - seconds * 1000, attributes })
    if (!ok) span.setStatus({ code: SPAN_STATUS_ERROR, message: String(attributes['tresor.error_code'] ?? '') })
    span.end(end)
  }

  /** One API call answered: counted, timed and logged (never its arguments or its value). */
  api(o: ApiObservation): void {
    this.span(
      `api ${o.method}`,
      o.seconds,
      {
        'tresor.method': o.method,
        'tresor.request_id': o.reqId,
        'tresor.outcome': o.ok ? 'ok' : 'error',
        ...(o.code ? { 'tresor.error_code': o.code } : {}),
        ...(this.vault ? { 'tresor.vault': this.vault.vaultId, 'tresor.device': this.vault.device } : {})
      },
      o.ok
    )
    this.requests.inc({ method: o.method, outcome: o.ok ? 'ok' : 'error' })
    if (!o.ok) this.errors.inc({ method: o.method, code: o.code ?? 'INTERNAL' })
    this.latency.observe({ method: o.method }, o.seconds)
    const line = { ...this.ids(), reqId: o.reqId, method: o.method, ok: o.ok, code: o.code, ms: o.seconds * 1000 }
    if (o.ok) this.log.info(line, 'api call')
    else this.log.warn(line, 'api call failed')
  }

  /** Readings posted to /ingest and the receipts they got (counts only). */
  ingest(reqId: string, counts: Record<string, number>): void {
    this.span('telemetry ingest', 0, {
      'tresor.request_id': reqId,
      ...Object.fromEntries(Object.entries(counts).map(([k, n]) => [`tresor.receipts.${k.toLowerCase()}`, n]))
    })
    for (const [decision, n] of Object.entries(counts)) if (n > 0) this.readings.inc({ decision }, n)
    this.log.info({ ...this.ids(), reqId, receipts: counts }, 'telemetry ingest')
  }

  /** What the host says changed: counters, and the governance facts and health changes it brings as log events. */
  event(e: HostEvent): void {
    if (e.topic !== 'vault') return
    const c = e.change
    if (c.kind === 'append') {
      this.appended.inc({ type: c.type })
      if (c.type === 'sync.incident')
        this.log.warn({ ...this.ids(), event: c.id, author: c.author, seq: c.seq }, 'incident signed')
    }
    if (c.kind === 'ingest') {
      this.admitted.inc(c.admitted)
      if (c.forks > 0) {
        this.forks.inc(c.forks)
        this.log.warn({ ...this.ids(), forks: c.forks }, 'fork evidence taken in')
      }
    }
    if (c.kind === 'check') this.checks.inc({ mode: c.mode, outcome: c.ok ? 'ok' : 'failed' })
    // only a commit (signed here, or among what was taken in) commits anything: not every append scans the proposals
    if ((c.kind === 'append' && c.type === 'gov.commit') || (c.kind === 'ingest' && c.admitted > 0))
      this.governanceFacts()
    if (this.vault && this.vault.health.state !== this.health) {
      this.health = this.vault.health.state
      const line = { ...this.ids(), health: this.health, reason: this.vault.health.reason }
      if (this.health === 'read-only') this.log.error(line, 'vault is READ-ONLY')
      else this.log.info(line, 'vault health changed')
    }
  }

  /** Proposals committed since last seen (here or on another device), each a log event with what it changes. */
  private governanceFacts(): void {
    const v = this.vault
    if (!v) return
    for (const p of Object.values(v.state.proposals)) {
      if (p.status !== 'committed' || this.committed.has(p.id)) continue
      this.committed.add(p.id)
      this.commits.inc({ kind: p.action.kind })
      const line = {
        ...this.ids(),
        proposal: p.id,
        kind: p.action.kind,
        proposer: p.proposer,
        approvers: p.approvals.map((a) => a.member),
        title: reviewAction(v.state, p.action).title
      }
      this.log.info(line, POLICY_KINDS.has(p.action.kind) ? 'policy changed' : 'proposal committed')
    }
  }

  async metrics(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() }
  }
}
