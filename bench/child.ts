/**
 * The bench's child processes (built as out/bench/child.js): a workload whose
 * memory is measured alone, or a server the bench's clients load from outside.
 * `--backlog-child N` or `--flood-child BUDGET`.
 */
import { backlogChild, floodChild } from './telemetry.js'
import { cleanupDirs } from '../test/helpers.js'

const arg = (name: string) => {
  const i = process.argv.indexOf(name)
  return i >= 0 ? Number(process.argv[i + 1]) : null
}
try {
  const backlog = arg('--backlog-child')
  const flood = arg('--flood-child')
  if (backlog !== null) await backlogChild(backlog)
  else if (flood !== null) await floodChild(flood)
  else throw new Error('bench/child.ts: say --backlog-child N or --flood-child BUDGET')
} finally {
  await cleanupDirs()
}
