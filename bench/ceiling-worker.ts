// Worker for the native verify ceiling: verifies pre-signed messages with node:crypto only (no policy, no parsing).
import { parentPort, workerData } from 'node:worker_threads'
import { createPublicKey, verify } from 'node:crypto'

const { pk, msgs, sigs, rounds } = workerData as {
  pk: Uint8Array
  msgs: Uint8Array[]
  sigs: Uint8Array[]
  rounds: number
}
const key = createPublicKey({
  key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), pk]),
  format: 'der',
  type: 'spki'
})
const t = performance.now()
let ok = 0
for (let r = 0; r < rounds; r++) for (let i = 0; i < msgs.length; i++) if (verify(null, msgs[i]!, key, sigs[i]!)) ok++
parentPort!.postMessage({ ok, ms: performance.now() - t })
