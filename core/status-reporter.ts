/**
 * Signs this device's `device.status` (core/devices.ts) for a long-running
 * host: at start (once the key is unlocked), right after every check and
 * health change, and on a heartbeat when something changed or the last status
 * is getting old. Failures are reported through `onError` and tried again at
 * the next tick; the reporter never takes the host down.
 */
import {
  DEVICE_STATUS,
  parseStatus,
  STATUS_HEARTBEAT_MS,
  STATUS_IDLE_MS,
  statusChanged,
  statusPayload,
  type DeviceStatus,
  type StatusReason
} from './devices.js'
import { STATE_VERSION } from './governance/state.js'
import { dict } from './dict.js'
import type { Vault } from './vault.js'

export interface StatusReporterOptions {
  software: string
  /** How the host's sync stands (null: it syncs with no server). */
  sync?: () => Promise<DeviceStatus['sync']>
  /** How often the heartbeat looks (default a minute); heartbeat and idle intervals (tests shorten them). */
  tickMs?: number
  heartbeatMs?: number
  idleMs?: number
  onError?: (err: Error) => void
}

const RANK: Record<StatusReason, number> = { heartbeat: 0, sync: 1, health: 2, check: 3, start: 4 }

export class StatusReporter {
  /** The last status this device signed: what it said, when, and its seq (the status is an event of its own feed). */
  private last: { status: DeviceStatus; at: number; seq: number } | null = null
  private lookedBack = false
  private timer: ReturnType<typeof setInterval> | null = null
  private soon: ReturnType<typeof setTimeout> | null = null
  private running: Promise<void> = Promise.resolve()
  private stopped = false
  private readonly unwatch: () => void
  private pendingReason: StatusReason = 'heartbeat'

  constructor(
    private readonly vault: Vault,
    private readonly options: StatusReporterOptions
  ) {
    this.unwatch = vault.onChange((c) => {
      if (c.kind === 'check') this.request('check')
      else if (c.kind === 'health') this.request('health')
      else if (c.kind === 'key' && c.unlocked && this.last === null) this.request('start')
    })
    this.timer = setInterval(() => this.request('heartbeat'), options.tickMs ?? 60_000)
    this.timer.unref?.()
    this.request('start')
  }

  /** Sign soon (a burst of changes is one status). */
  request(reason: StatusReason): void {
    if (this.stopped) return
    // One status for a burst, under its weightiest reason.
    if (RANK[reason] > RANK[this.pendingReason]) this.pendingReason = reason
    if (this.soon) return
    this.soon = setTimeout(() => {
      this.soon = null
      const why = this.pendingReason
      this.pendingReason = 'heartbeat'
      this.running = this.running.then(() => this.report(why))
    }, 200)
    this.soon.unref?.()
  }

  private async current(reason: StatusReason): Promise<Omit<DeviceStatus, 'v'>> {
    const heads = dict<number>()
    for (const [author, h] of Object.entries(this.vault.heads())) heads[author] = h.length
    const health = this.vault.health
    const report = health.report
    return {
      reason,
      heads,
      health: health.state === 'read-only' ? 'read-only' : 'ok',
      why: health.state === 'read-only' ? (health.reason ?? 'its check failed') : null,
      check: report ? { mode: report.mode, ok: report.ok, at: report.verifiedAt, issues: report.issues.length } : null,
      software: this.options.software,
      formats: { event: 2, state: STATE_VERSION },
      sync: (await this.options.sync?.().catch(() => null)) ?? null
    }
  }

  /** The latest status this device signed, found once by looking back along its own feed. */
  private async lookBack(): Promise<void> {
    if (this.lookedBack) return
    this.lookedBack = true
    const head = this.vault.heads()[this.vault.device]?.length ?? 0
    for (let seq = head; seq >= 1 && seq > head - 500; seq--) {
      const doc = await this.vault.store.get(this.vault.device, seq)
      if (!doc) continue
      const e = JSON.parse(doc.raw) as { type: string; ts: string; payload: unknown }
      if (e.type !== DEVICE_STATUS) continue
      const status = parseStatus(e.payload)
      if (status) this.last = { status, at: Date.parse(e.ts), seq }
      return
    }
  }

  private async report(reason: StatusReason): Promise<void> {
    if (this.stopped || !this.vault.unlocked || !this.vault.member) return
    try {
      await this.lookBack()
      const next = await this.current(reason)
      const since = this.last ? Date.now() - this.last.at : Infinity
      // The last status itself is no news: its own feed counts as it was when that status was signed.
      const me = this.vault.device
      const comparable =
        this.last && next.heads[me] === this.last.seq
          ? { ...next, heads: { ...next.heads, [me]: this.last.status.heads[me] ?? 0 } }
          : next
      const changed = statusChanged(this.last?.status ?? null, comparable)
      // A sync that came online or went offline is said at once; its counts change all the time and wait.
      const due =
        reason === 'sync'
          ? this.last !== null && this.last.status.sync?.online !== next.sync?.online
          : reason === 'heartbeat'
            ? (changed && since >= (this.options.heartbeatMs ?? STATUS_HEARTBEAT_MS)) ||
              since >= (this.options.idleMs ?? STATUS_IDLE_MS)
            : changed || this.last === null
      if (!due) return
      const payload = statusPayload(next)
      const signed = await this.vault.appendStatus(payload)
      this.last = { status: parseStatus(payload)!, at: Date.now(), seq: signed.event.seq }
    } catch (err) {
      this.options.onError?.(err as Error)
    }
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.unwatch()
    if (this.timer) clearInterval(this.timer)
    if (this.soon) clearTimeout(this.soon)
    await this.running
  }
}
