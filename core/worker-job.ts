/**
 * How the worker pools' threads (verify, telemetry judge) answer: a job's result, or the error it threw. A job that
 * throws then fails with the code and message it would have inline, and its worker stays up for the next job: an
 * uncaught throw would end the thread and, with it, every other job it had.
 */
import { VaultError, type VaultErrorCode } from './errors.js'

export type WorkerAnswer<T> = { job: number } & ({ result: T } | { error: { code: VaultErrorCode; message: string } })

/** Run a job (in the worker) and say how it went. */
export function answerOf<T>(job: number, run: () => T): WorkerAnswer<T> {
  try {
    return { job, result: run() }
  } catch (err) {
    const code = err instanceof VaultError ? err.code : 'INTERNAL'
    return { job, error: { code, message: err instanceof Error ? err.message : String(err) } }
  }
}

export interface Waiting<T> {
  resolve: (result: T) => void
  reject: (err: Error) => void
}

/** Settle (and forget) the job an answer is for, in the pool. */
export function settle<T>(pending: Map<number, Waiting<T>>, answer: WorkerAnswer<T>): void {
  const waiting = pending.get(answer.job)
  pending.delete(answer.job)
  if (!waiting) return
  if ('error' in answer) waiting.reject(new VaultError(answer.error.code, answer.error.message))
  else waiting.resolve(answer.result)
}
