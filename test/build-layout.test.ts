/**
 * The built JavaScript finds its workers: the verify and judge pools start
 * `./<name>.js` relative to the chunk that holds them, so in every build (the
 * desktop's main process, the edge CLI and daemon, one CommonJS file) each such chunk has its
 * worker beside it. A chunk in a subfolder once made the desktop's full
 * verification of a large vault fail to start its workers.
 */
import { describe, expect, it } from 'vitest'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const OUT = fileURLToPath(new URL('../out/', import.meta.url))

function workersNamed(dir: string): { chunk: string; worker: string }[] {
  const found: { chunk: string; worker: string }[] = []
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      if (e.isDirectory()) walk(p)
      else if (p.endsWith('.js') || p.endsWith('.cjs'))
        for (const m of readFileSync(p, 'utf8').matchAll(/spawnModuleWorker\(\s*["']([\w-]+)["']/g))
          found.push({ chunk: p, worker: m[1]! })
    }
  }
  walk(dir)
  return found
}

describe('build layout', () => {
  for (const build of ['main', 'edge'])
    it(`build - out/${build}: every chunk that starts a worker has it beside it`, () => {
      const dir = join(OUT, build)
      expect(existsSync(dir), `out/${build} is missing: run npm run build`).toBe(true)
      const uses = workersNamed(dir)
      expect(new Set(uses.map((u) => u.worker))).toEqual(new Set(['verify-worker', 'judge-worker']))
      const missing = uses.filter((u) => !existsSync(join(u.chunk, '..', `${u.worker}.js`)))
      expect(missing).toEqual([])
    })
})
