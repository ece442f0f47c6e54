/**
 * Continuous sync with a CouchDB-protocol server: one round to catch up, then
 * the server's changes feed is followed (long-polled, PouchDB's replication
 * with retry and backoff) into staging, and every batch goes through the same
 * gate as a round's; this device's appends are pushed as they happen, batched
 * (while one push is in flight, the next collects everything appended
 * meanwhile). A network drop or a server restart resumes from the checkpoints
 * (the replication's, the gate's mark, the high-water marks) without a full
 * round; the rollback check runs on every resume and every `checkEveryMs`,
 * and a rollback found is handled by a full round (which reports it).
 */
import { sharedChecker, type Vault, type VaultChange } from '../core/index.js'
import type { CouchSync, LiveStatus } from './couch-sync.js'
import { replicateLive } from './remote.js'

export interface FollowOptions {
  /** How often the rollback check runs while nothing else prompts it (default 30 s). */
  checkEveryMs?: number
  /** Told whenever the follower's state or what it took in changes (the host's `sync` event). */
  onChange?: () => void
  /** Told of each step, for a log line (admitted, pushed, retrying, rollback). */
  onReport?: (line: string) => void
}

const MIN_RETRY_MS = 500
const MAX_RETRY_MS = 30_000

/**
 * One run at a time: a request while a run is in flight makes it run once more afterwards (taking everything that came
 * meanwhile), however many requests came. A step says whether it has more to do now, or must stop (it retries itself).
 */
class OneAtATime {
  private running: Promise<void> | null = null
  private again = false

  constructor(
    private readonly step: () => Promise<'done' | 'more' | 'stop'>,
    private readonly stopped: () => boolean
  ) {}

  request(): void {
    if (this.running) {
      this.again = true
      return
    }
    this.running = (async () => {
      do {
        this.again = false
        const outcome = await this.step()
        if (outcome === 'stop') return
        if (outcome === 'more') this.again = true
      } while (this.again && !this.stopped())
    })().finally(() => {
      this.running = null
    })
  }

  /** Resolves when no run is in flight. */
  idle(): Promise<void> {
    return this.running ?? Promise.resolve()
  }
}

export class CouchFollower {
  private status: LiveStatus
  private stopped = false
  private stopPull: (() => void) | null = null
  private unwatch: (() => void) | null = null
  private checkTimer: NodeJS.Timeout | null = null
  private retryTimer: NodeJS.Timeout | null = null
  private readonly draining = new OneAtATime(
    () => this.drainStep(),
    () => this.stopped
  )
  private readonly pushing = new OneAtATime(
    () => this.pushStep(),
    () => this.stopped
  )
  private pushRetryMs = MIN_RETRY_MS
  private readonly checker = sharedChecker()
  private started: Promise<void>
  private wake: () => void = () => {}

  private constructor(
    private readonly vault: Vault,
    private readonly sync: CouchSync,
    private readonly options: FollowOptions
  ) {
    this.status = {
      phase: 'starting',
      since: new Date().toISOString(),
      retryAt: null,
      error: null,
      admitted: 0,
      pushed: 0,
      lastChange: null
    }
    this.publish()
    this.started = this.start(MIN_RETRY_MS)
  }

  /** Start following; the first round runs in the background (retried with backoff while the server is away). */
  static follow(vault: Vault, sync: CouchSync, options: FollowOptions = {}): CouchFollower {
    return new CouchFollower(vault, sync, options)
  }

  get live(): LiveStatus {
    return { ...this.status }
  }

  private set(patch: Partial<LiveStatus>): void {
    this.status = { ...this.status, ...patch }
    this.publish()
  }

  private publish(): void {
    this.sync.setLive(this.status)
    this.options.onChange?.()
  }

  private report(line: string): void {
    this.options.onReport?.(line)
  }

  /** Wait `ms`, or less if the follower stops meanwhile. */
  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms)
      this.wake = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  }

  /** The first round (catch, rollback check, push what the server lacks), then the feed and the watchers. */
  private async start(delay: number): Promise<void> {
    if (this.stopped) return
    try {
      const round = await this.sync.syncOnce()
      if (this.stopped) return
      this.set({ admitted: this.status.admitted + round.admitted, pushed: this.status.pushed + round.pushed })
      this.report(`caught up: +${round.admitted} in, ${round.pushed} out${round.rollback ? ', ROLLBACK reported' : ''}`)
    } catch (err) {
      if (this.stopped) return
      const retryAt = new Date(Date.now() + delay).toISOString()
      this.set({ phase: 'retrying', error: (err as Error).message, retryAt })
      this.report(`server unreachable: ${(err as Error).message}; retrying in ${Math.round(delay / 1000)}s`)
      await this.sleep(delay)
      return this.start(Math.min(delay * 2, MAX_RETRY_MS))
    }
    this.set({ phase: 'following', error: null, retryAt: null })
    this.unwatch = this.vault.onChange((c) => this.onVaultChange(c))
    this.stopPull = replicateLive(
      this.sync.remoteDb,
      this.sync.stagingDb,
      {
        change: (seq) => {
          if (seq !== undefined) this.sync.followedTo(seq)
          this.drain()
        },
        state: (state, error) => this.onPullState(state, error),
        denied: () => undefined // a document staging refuses is a local fault: the next round's pull retries it
      },
      (d: number) => Math.min(Math.max(d * 2, MIN_RETRY_MS), MAX_RETRY_MS),
      this.sync.pullSince // from where the round read up to, not from the replication's own checkpoint
    )
    this.checkTimer = setInterval(() => void this.checkRollback(), this.options.checkEveryMs ?? 30_000)
    this.push() // anything appended while the round ran
  }

  private onVaultChange(c: VaultChange): void {
    if (c.kind === 'append' || c.kind === 'ingest') this.push()
    // A check that lifted READ-ONLY: what replication staged meanwhile is judged now.
    if (c.kind === 'check' && c.ok) this.drain()
  }

  private onPullState(state: 'caught-up' | 'active' | 'retrying' | 'ended', error?: string): void {
    if (this.stopped) return
    if (state === 'retrying') {
      if (this.status.phase !== 'retrying') this.report(`server unreachable: ${error ?? 'no answer'}; retrying`)
      this.set({ phase: 'retrying', error: error ?? 'the server does not answer', retryAt: null })
      return
    }
    if (state === 'ended') {
      // Replication ended for good (e.g. the server refused the credentials): start again after a pause.
      this.set({ phase: 'retrying', error: error ?? 'replication ended', retryAt: null })
      this.stopPull?.()
      this.stopPull = null
      this.unwatch?.()
      this.unwatch = null
      if (this.checkTimer) clearInterval(this.checkTimer)
      this.checkTimer = null
      this.retryTimer = setTimeout(() => {
        this.started = this.start(MIN_RETRY_MS)
      }, MAX_RETRY_MS)
      return
    }
    if (this.status.phase === 'retrying') {
      // Back after a drop: what was appended meanwhile goes up, and the server is checked for a rollback.
      this.report('server reachable again: resuming')
      this.set({ phase: 'following', error: null, retryAt: null })
      this.push()
      void this.checkRollback()
    }
  }

  /** Judge what replication staged; one drain at a time, the next one picks up everything that came meanwhile. */
  private drain(): void {
    // A READ-ONLY vault takes nothing in: staged documents wait (the gate's mark stays) until a check lifts it.
    if (this.stopped || this.vault.health.state === 'read-only') return
    this.draining.request()
  }

  private async drainStep(): Promise<'done'> {
    try {
      const counts = await this.sync.drainStaging(this.checker)
      if (counts.admitted > 0 || counts.quarantined > 0) {
        this.set({ admitted: this.status.admitted + counts.admitted, lastChange: new Date().toISOString() })
        this.report(`+${counts.admitted} in${counts.quarantined ? `, ${counts.quarantined} quarantined` : ''}`)
      }
    } catch (err) {
      this.report(`taking in failed: ${(err as Error).message}`)
    }
    return 'done'
  }

  /** Push what the server lacks; one push at a time, batched; retried with backoff while the server is away. */
  private push(): void {
    if (!this.stopped) this.pushing.request()
  }

  private async pushStep(): Promise<'done' | 'more' | 'stop'> {
    try {
      const r = await this.sync.pushNew()
      this.pushRetryMs = MIN_RETRY_MS
      if (r.pushed > 0) {
        this.set({ pushed: this.status.pushed + r.pushed, lastChange: new Date().toISOString() })
        this.report(`${r.pushed} out${r.denied.length ? `, ${r.denied.length} refused` : ''}`)
      }
      if (r.pushed > 0 || r.denied.length > 0) await this.sync.saveState()
      return r.more ? 'more' : 'done'
    } catch (err) {
      if (this.stopped) return 'stop'
      // The server is away: the pull side says so and resumes; this push is tried again with backoff.
      const delay = this.pushRetryMs
      this.pushRetryMs = Math.min(delay * 2, MAX_RETRY_MS)
      this.report(`push failed: ${(err as Error).message}; retrying in ${Math.round(delay / 100) / 10}s`)
      this.retryTimer = setTimeout(() => this.push(), delay)
      return 'stop'
    }
  }

  /** The server serves less than it served before: a full round reports it (sync.incident) and applies none of it. */
  private async checkRollback(): Promise<void> {
    if (this.stopped || this.status.phase !== 'following') return
    try {
      const rollback = await this.sync.rolledBack()
      if (!rollback || this.stopped) return
      this.report(`ROLLBACK: ${rollback}`)
      const round = await this.sync.syncOnce()
      this.set({ lastChange: new Date().toISOString() })
      this.report(`rollback reported (${round.incidents.length} incident event(s) signed)`)
    } catch (err) {
      this.report(`rollback check failed: ${(err as Error).message}`)
    }
  }

  /** Stop following: the feed, the watchers and the timers; waits for a drain or push in flight. */
  async stop(): Promise<void> {
    this.stopped = true
    this.stopPull?.()
    this.unwatch?.()
    if (this.checkTimer) clearInterval(this.checkTimer)
    if (this.retryTimer) clearTimeout(this.retryTimer)
    this.wake()
    await this.started.catch(() => undefined) // start reports its own failures (retrying); stopping goes on
    await Promise.all([this.draining.idle(), this.pushing.idle()])
    await this.sync.saveState().catch(() => undefined) // the marks are saved again by the next round anyway
    await this.checker.close()
    this.status = { ...this.status, phase: 'stopped' }
    this.sync.setLive(this.status)
  }
}
