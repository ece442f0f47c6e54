/**
 * Spreads event checks over worker threads so a full verification uses every
 * core. Small jobs stay inline: a worker costs more to start than it saves.
 */
import type { Worker, WorkerOptions } from 'node:worker_threads'
import { lazyPackage } from './lazy.js'
import { availableParallelism } from 'node:os'
import { checkBodies, checkRaws, type BodiesCheck, type EventCheck } from './check-events.js'
import { joinSubtrees, rootOfIds, type Hash, type Subtrees } from './proofs/merkle.js'
import { INTERNAL } from './errors.js'
import { settle, type Waiting, type WorkerAnswer } from './worker-job.js'

export interface EventChecker {
  /** Per-event checks of raw events, in order. */
  check(raws: unknown[], vault: string): Promise<EventCheck[]>
  /** Stored body texts (PouchDB's by-sequence values) checked as one page: see checkBodies. */
  checkBodies(bodies: string[], vault: string): Promise<BodiesCheck>
  /** The Merkle root over event ids laid end to end (see rootOfIds). */
  root(ids: string): Promise<Hash>
  close(): Promise<void>
}

/** A message to a verify worker. */
export type PoolRequest = { job: number } & (
  | { kind: 'raws'; raws: unknown[]; vault: string }
  | { kind: 'bodies'; bodies: string[]; vault: string }
  | { kind: 'subtrees'; ids: string }
)

export const inlineChecker: EventChecker = {
  check: async (raws, vault) => checkRaws(raws, vault),
  checkBodies: async (bodies, vault) => checkBodies(bodies, vault),
  root: async (ids) => rootOfIds(ids),
  close: async () => {}
}

// Node's worker threads for a full check only, not every CLI call (the built CLI is one file: edge/start.ts).
const threads = lazyPackage<typeof import('node:worker_threads')>('node:worker_threads')

/**
 * A worker thread for `name` (a module beside `base`). In a bundle (electron-vite)
 * the worker is built next to the bundle as `<name>.js`. From source (tsx,
 * vitest) it is TypeScript: a tiny bootstrap registers tsx's loader inside the
 * thread first (an --import flag in execArgv is not honoured by workers on Node 20).
 */
export function spawnModuleWorker(name: string, base: string, options: WorkerOptions = {}): Worker {
  const { Worker } = threads()
  if (!base.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, base), options)
  const entry = JSON.stringify(new URL(`./${name}.ts`, base).href)
  return new Worker(`import('tsx/esm/api').then((m) => { m.register(); return import(${entry}) })`, {
    ...options,
    eval: true
  })
}

const spawnWorker = () => spawnModuleWorker('verify-worker', import.meta.url)

/** Leaves per share when a large root is hashed on the workers (a power of two: each share is a perfect subtree). */
const ROOT_BLOCK = 4096

type Request = PoolRequest extends infer R ? (R extends unknown ? Omit<R, 'job'> : never) : never

/** Jobs a worker holds at once: the next is already there when it answers one, so it never waits on a round trip. */
const DEPTH = 2
/** Events per job: small enough that a worker slowed by a neighbour (the main thread, the disk) holds up no other. */
const SHARE = 250

export class WorkerChecker implements EventChecker {
  private readonly workers: Worker[] = []
  /** Jobs out per worker (at most DEPTH). */
  private readonly holding: number[] = []
  private readonly pending = new Map<number, Waiting<never>>()
  /** Jobs no worker holds yet, oldest first: each goes to the first worker with room (see pump). */
  private readonly queue: PoolRequest[] = []
  private job = 0
  /** A worker failed or exited: this pool is done (the shared one is replaced on next use). */
  broken = false

  constructor(size: number = Math.max(1, Math.min(availableParallelism(), 8))) {
    for (let i = 0; i < size; i++) {
      const w = spawnWorker()
      w.on('message', (m: WorkerAnswer<never>) => {
        this.holding[i]!--
        settle(this.pending, m)
        this.pump()
        if (this.pending.size === 0) for (const x of this.workers) x.unref()
      })
      const failAll = (err: Error) => {
        this.broken = true
        for (const p of this.pending.values()) p.reject(err)
        this.pending.clear()
        this.queue.length = 0
      }
      w.on('error', failAll)
      w.on('exit', (code) => failAll(new Error(`verify worker exited (${code})`)))
      // Idle workers do not keep the process alive; a job out does (see send).
      w.unref()
      this.workers.push(w)
      this.holding.push(0)
    }
  }

  private send<T>(request: Request): Promise<T> {
    if (this.broken) return Promise.reject(INTERNAL('the verify pool lost a worker'))
    if (this.pending.size === 0) for (const w of this.workers) w.ref()
    const job = ++this.job
    return new Promise<T>((resolve, reject) => {
      this.pending.set(job, { resolve: resolve as (r: never) => void, reject })
      this.queue.push({ job, ...request })
      this.pump()
    })
  }

  /** Hand queued jobs, oldest first, to the least busy workers with room: whoever is free works. */
  private pump(): void {
    while (this.queue.length > 0) {
      let free = -1
      for (let i = 0; i < this.workers.length; i++)
        if (this.holding[i]! < DEPTH && (free < 0 || this.holding[i]! < this.holding[free]!)) free = i
      if (free < 0) return
      this.holding[free]!++
      this.workers[free]!.postMessage(this.queue.shift()!)
    }
  }

  /** `items` cut into shares of at most SHARE (at least one per worker), each checked by `ask`, answers in order. */
  private async spread<I, T>(items: I[], ask: (share: I[]) => Promise<T>): Promise<T[]> {
    const chunk = Math.min(SHARE, Math.ceil(items.length / this.workers.length))
    const parts: Promise<T>[] = []
    for (let i = 0; i * chunk < items.length; i++) parts.push(ask(items.slice(i * chunk, (i + 1) * chunk)))
    return Promise.all(parts)
  }

  async check(raws: unknown[], vault: string): Promise<EventCheck[]> {
    if (this.broken) throw INTERNAL('the verify pool lost a worker')
    const parts = await this.spread(raws, (share) => this.send<EventCheck[]>({ kind: 'raws', raws: share, vault }))
    return parts.flat()
  }

  async checkBodies(bodies: string[], vault: string): Promise<BodiesCheck> {
    if (this.broken) throw INTERNAL('the verify pool lost a worker')
    const parts = await this.spread(bodies, (share) => this.send<BodiesCheck>({ kind: 'bodies', bodies: share, vault }))
    return { items: parts.flatMap((p) => p.items), forks: parts.flatMap((p) => p.forks) }
  }

  /**
   * Large trees are hashed as perfect subtrees of ROOT_BLOCK leaves dealt to whichever worker is free (and the rest
   * them), joined here: equal shares whatever the size. RFC 6962's own split gives one worker up to twice the other's.
   */
  async root(ids: string): Promise<Hash> {
    const n = ids.length / 64
    const block = ROOT_BLOCK * 64
    if (this.workers.length < 2 || !Number.isInteger(n) || n < 2 * ROOT_BLOCK)
      return joinSubtrees([await this.send<Subtrees>({ kind: 'subtrees', ids })])
    const parts: Promise<Subtrees>[] = []
    for (let at = 0; at < ids.length; at += block)
      parts.push(this.send<Subtrees>({ kind: 'subtrees', ids: ids.slice(at, at + block) }))
    return joinSubtrees(await Promise.all(parts))
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()))
  }
}

let shared: WorkerChecker | null = null

/**
 * The process's verify pool: started on the first large check and kept warm for the next ones (a daemon checks on
 * every sync round and every pull), so only the first check in a process pays for starting the workers and
 * compiling their code. Closing the handle leaves the pool running; its idle workers never hold the process open.
 */
export function sharedChecker(): EventChecker {
  if (!shared || shared.broken) shared = new WorkerChecker()
  const pool = shared
  return {
    check: (raws, vault) => pool.check(raws, vault),
    checkBodies: (bodies, vault) => pool.checkBodies(bodies, vault),
    root: (ids) => pool.root(ids),
    close: async () => {}
  }
}

/** Inline for small logs, the shared worker pool for large ones. */
export function checkerFor(events: number): EventChecker {
  return events >= 4000 && availableParallelism() > 1 ? sharedChecker() : inlineChecker
}
