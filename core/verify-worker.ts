/** Worker thread entry: checks batches of raw events or stored bodies, and hashes feed roots, for the verify pool. */
import { parentPort } from 'node:worker_threads'
import { checkBodies, checkRaws } from './check-events.js'
import { subtreesOfIds } from './proofs/merkle.js'
import { answerOf } from './worker-job.js'
import type { PoolRequest } from './verify-pool.js'

parentPort?.on('message', (msg: PoolRequest) => {
  parentPort!.postMessage(
    answerOf(msg.job, () =>
      msg.kind === 'raws'
        ? checkRaws(msg.raws, msg.vault)
        : msg.kind === 'bodies'
          ? checkBodies(msg.bodies, msg.vault)
          : subtreesOfIds(msg.ids)
    )
  )
})
