/** Worker thread entry: judges chunks of reading lines for the telemetry judge pool. */
import { parentPort } from 'node:worker_threads'
import { judgeLines, type JudgeJob } from './judge-pool.js'

parentPort?.on('message', (msg: { job: number; task: JudgeJob }) => {
  const out = judgeLines(msg.task)
  parentPort!.postMessage({ job: msg.job, out }, [out.leaves.buffer as ArrayBuffer])
})
