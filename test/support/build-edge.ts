/**
 * Vitest global setup: the tests run the `tresor` command as an edge device
 * does, from the built JavaScript in out/edge, so it is built from the sources
 * under test first (about a second) and a stale build is never what is tested.
 */
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export default function setup(): void {
  execFileSync('npm', ['run', '-s', 'build:edge'], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    stdio: ['ignore', 'ignore', 'inherit']
  })
}
