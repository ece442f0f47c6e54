/** Worker thread entry: checks batches of raw events for the verify pool. */
import { parentPort } from 'node:worker_threads'
import { checkRaws } from './check-events.js'

parentPort?.on('message', (msg: { job: number; raws: unknown[]; vault: string }) => {
  parentPort!.postMessage({ job: msg.job, results: checkRaws(msg.raws, msg.vault) })
})
