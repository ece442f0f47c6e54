/**
 * Spreads event checks over worker threads so a full verification uses every
 * core. Small jobs stay inline: a worker costs more to start than it saves.
 */
import { Worker } from 'node:worker_threads'
import { availableParallelism } from 'node:os'
import { checkRaws, type EventCheck } from './check-events.js'

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
export function spawnModuleWorker(name: string, base: string): Worker {
  if (!base.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, base))
  const entry = JSON.stringify(new URL(`./${name}.ts`, base).href)
  return new Worker(`import('tsx/esm/api').then((m) => { m.register(); return import(${entry}) })`, { eval: true })
}

const spawnWorker = () => spawnModuleWorker('verify-worker', import.meta.url)

export class WorkerChecker implements EventChecker {
  private readonly workers: Worker[] = []
  private readonly pending = new Map<number, { resolve: (r: EventCheck[]) => void; reject: (e: Error) => void }>()
  private job = 0

  constructor(size: number = Math.max(1, Math.min(availableParallelism(), 8))) {
    for (let i = 0; i < size; i++) {
      const w = spawnWorker()
      w.on('message', (m: { job: number; results: EventCheck[] }) => {
        const p = this.pending.get(m.job)
        this.pending.delete(m.job)
        p?.resolve(m.results)
      })
      const failAll = (err: Error) => {
        for (const p of this.pending.values()) p.reject(err)
        this.pending.clear()
      }
      w.on('error', failAll)
      w.on('exit', (code) => {
        if (this.pending.size > 0) failAll(new Error(`verify worker exited (${code})`))
      })
      this.workers.push(w)
    }
  }

  async check(raws: unknown[], vault: string): Promise<EventCheck[]> {
    const n = this.workers.length
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

/** Inline for small logs, a worker pool for large ones. */
export function checkerFor(events: number): EventChecker {
  return events >= 4000 && availableParallelism() > 1 ? new WorkerChecker() : inlineChecker
}
