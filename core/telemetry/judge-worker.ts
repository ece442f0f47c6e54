/** Worker thread entry: judges chunks of reading lines for the telemetry judge pool. */
import { parentPort } from 'node:worker_threads'
import { judgeLines, type JudgeJob } from './judge-pool.js'
import { answerOf } from '../worker-job.js'

parentPort?.on('message', (msg: { job: number; task: JudgeJob }) => {
  const answer = answerOf(msg.job, () => judgeLines(msg.task))
  parentPort!.postMessage(answer, 'result' in answer ? [answer.result.leaves.buffer as ArrayBuffer] : [])
})
