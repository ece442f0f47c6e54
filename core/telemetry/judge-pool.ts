/**
 * Judging reading lines (parse, validate against policy and schema,
 * canonicalise, leaf hash, dedup fingerprint) is pure and the heaviest part
 * of intake, so it runs on a worker thread while the main thread deduplicates,
 * writes the WAL and seals. Small inputs, and single-core machines, judge inline.
 */
import { availableParallelism } from 'node:os'
import type { Worker } from 'node:worker_threads'
import { spawnModuleWorker } from '../verify-pool.js'
import { settle, type Waiting, type WorkerAnswer } from '../worker-job.js'
import type { StreamEntry } from '../governance/registers.js'
import { leafHashText } from '../proofs/merkle.js'
import { fingerprint } from './fingerprints.js'
import { dedupKey, judgeLine, type TelemetryPolicy } from './reading.js'

export interface JudgeJob {
  lines: string[]
  schemas: [string, StreamEntry][]
  policy: TelemetryPolicy
  nowMs: number
  defaultStream?: string
}

/**
 * One line's verdict; `ok` lines carry what the store needs, their leaf hash at `leaves[32*k]` (k = rank among ok
 * lines).
 */
export type JudgedLine =
  | { index: number; ok: true; id: string; stream: string; ts: string; canonical: string; key: string; fp: number }
  | { index: number; ok: false; id: string | null; stream: string | null; code: string; reason: string }

export interface JudgeOutput {
  lines: JudgedLine[]
  leaves: Uint8Array
}

export function judgeLines(task: JudgeJob): JudgeOutput {
  const ctx = {
    schemas: new Map(task.schemas),
    policy: task.policy,
    nowMs: task.nowMs,
    defaultStream: task.defaultStream
  }
  const lines: JudgedLine[] = []
  const leaves: Uint8Array[] = []
  for (let index = 0; index < task.lines.length; index++) {
    const line = task.lines[index]!
    if (line.trim() === '') continue
    const j = judgeLine(line, ctx)
    if (!j.ok) {
      lines.push({ index, ok: false, id: j.id, stream: j.stream, code: j.code, reason: j.reason })
      continue
    }
    const key = dedupKey(j.reading.stream, j.reading.id)
    lines.push({
      index,
      ok: true,
      id: j.reading.id,
      stream: j.reading.stream,
      ts: j.reading.ts,
      canonical: j.canonical,
      key,
      fp: fingerprint(key)
    })
    leaves.push(leafHashText(j.canonical))
  }
  const flat = new Uint8Array(leaves.length * 32)
  for (const [k, leaf] of leaves.entries()) flat.set(leaf, k * 32)
  return { lines, leaves: flat }
}

const INLINE_BELOW = 64

export class JudgePool {
  private worker: Worker | null = null
  private readonly pending = new Map<number, Waiting<JudgeOutput>>()
  private job = 0

  constructor(private readonly useWorker = availableParallelism() > 1) {}

  judge(task: JudgeJob): Promise<JudgeOutput> {
    if (!this.useWorker || task.lines.length < INLINE_BELOW) return Promise.resolve(judgeLines(task))
    const w = (this.worker ??= this.start())
    const job = ++this.job
    if (this.pending.size === 0) w.ref() // keep the process alive while a job is out
    return new Promise((resolve, reject) => {
      this.pending.set(job, { resolve, reject })
      w.postMessage({ job, task })
    })
  }

  private start(): Worker {
    // A small young generation: the judge turns whole request bodies into garbage at intake speed, and V8's default
    // (sized for the machine) let that garbage hold tens of MiB between collections.
    const w = spawnModuleWorker('judge-worker', import.meta.url, { resourceLimits: { maxYoungGenerationSizeMb: 6 } })
    w.on('message', (m: WorkerAnswer<JudgeOutput>) => {
      settle(this.pending, m)
      if (this.pending.size === 0) w.unref()
    })
    const failAll = (err: Error) => {
      for (const p of this.pending.values()) p.reject(err)
      this.pending.clear()
      this.worker = null
    }
    w.on('error', failAll)
    w.on('exit', (code) => {
      if (this.pending.size > 0) failAll(new Error(`telemetry judge worker exited (${code})`))
    })
    w.unref()
    return w
  }

  async close(): Promise<void> {
    await this.worker?.terminate()
    this.worker = null
  }
}
