/**
 * The bench's child process (built as out/bench/child.js): a server whose memory
 * is measured alone while the bench's clients load it from outside.
 * `--flood-child BUDGET`.
 */
import { floodChild } from './telemetry.js'
import { cleanupDirs } from '../test/helpers.js'

const arg = (name: string) => {
  const i = process.argv.indexOf(name)
  return i >= 0 ? Number(process.argv[i + 1]) : null
}
try {
  const flood = arg('--flood-child')
  if (flood !== null) await floodChild(flood)
  else throw new Error('bench/child.ts: say --flood-child BUDGET')
} finally {
  await cleanupDirs()
}
