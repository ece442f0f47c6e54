/**
 * Spreads event checks over worker threads so a full verification uses every
 * core. Small jobs stay inline: a worker costs more to start than it saves.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads'
import { availableParallelism } from 'node:os'
import { checkRaws, type EventCheck } from './check-events.js'
import { INTERNAL } from './errors.js'

export interface EventChecker {
  check(raws: unknown[], vault: string): Promise<EventCheck[]>
  close(): Promise<void>
}

export const inlineChecker: EventChecker = {
  check: async (raws, vault) => checkRaws(raws, vault),
  close: async () => {}
}

/**
 * A worker thread for `name` (a module beside `base`). In a bundle (electron-vite)
 * the worker is built next to the bundle as `<name>.js`. From source (tsx,
 * vitest) it is TypeScript: a tiny bootstrap registers tsx's loader inside the
 * thread first (an --import flag in execArgv is not honoured by workers on Node 20).
 */
export function spawnModuleWorker(name: string, base: string, options: WorkerOptions = {}): Worker {
  if (!base.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, base), options)
  const entry = JSON.stringify(new URL(`./${name}.ts`, base).href)
  return new Worker(`import('tsx/esm/api').then((m) => { m.register(); return import(${entry}) })`, {
    ...options,
    eval: true
  })
}

const spawnWorker = () => spawnModuleWorker('verify-worker', import.meta.url)

export class WorkerChecker implements EventChecker {
  private readonly workers: Worker[] = []
  private readonly pending = new Map<number, { resolve: (r: EventCheck[]) => void; reject: (e: Error) => void }>()
  private job = 0
  /** A worker failed or exited: this pool is done (the shared one is replaced on next use). */
  broken = false

  constructor(size: number = Math.max(1, Math.min(availableParallelism(), 8))) {
    for (let i = 0; i < size; i++) {
      const w = spawnWorker()
      w.on('message', (m: { job: number; results: EventCheck[] }) => {
        const p = this.pending.get(m.job)
        this.pending.delete(m.job)
        if (this.pending.size === 0) for (const x of this.workers) x.unref()
        p?.resolve(m.results)
      })
      const failAll = (err: Error) => {
        this.broken = true
        for (const p of this.pending.values()) p.reject(err)
        this.pending.clear()
      }
      w.on('error', failAll)
      w.on('exit', (code) => failAll(new Error(`verify worker exited (${code})`)))
      // Idle workers do not keep the process alive; a job out does (see check).
      w.unref()
      this.workers.push(w)
    }
  }

  async check(raws: unknown[], vault: string): Promise<EventCheck[]> {
    const n = this.workers.length
    if (this.broken) throw INTERNAL('the verify pool lost a worker')
    if (this.pending.size === 0) for (const w of this.workers) w.ref()
    const chunk = Math.ceil(raws.length / n)
    const parts: Promise<EventCheck[]>[] = []
    for (let i = 0; i < n && i * chunk < raws.length; i++) {
      const job = ++this.job
      const slice = raws.slice(i * chunk, (i + 1) * chunk)
      parts.push(
        new Promise((resolve, reject) => {
          this.pending.set(job, { resolve, reject })
          this.workers[i]!.postMessage({ job, raws: slice, vault })
        })
      )
    }
    return (await Promise.all(parts)).flat()
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
  return { check: (raws, vault) => pool.check(raws, vault), close: async () => {} }
}

/** Inline for small logs, the shared worker pool for large ones. */
export function checkerFor(events: number): EventChecker {
  return events >= 4000 && availableParallelism() > 1 ? sharedChecker() : inlineChecker
}
