/**
 * Build for the headless side: the `tresor` CLI and daemon (out/edge) and the
 * bench (out/bench), as plain JavaScript so nothing compiles TypeScript at run
 * time. Packages stay in node_modules (`npm ci --omit=dev` installs them); only
 * our own code is bundled. The verify and judge workers are entries of their
 * own, and every chunk lands in the same folder, so `new URL('./verify-worker.js',
 * import.meta.url)` finds the worker from whichever chunk holds the pool.
 */
import { builtinModules } from 'node:module'
import { defineConfig, type RolldownOptions } from 'rolldown'

const root = import.meta.dirname
const workers = {
  'verify-worker': `${root}/core/verify-worker.ts`,
  'judge-worker': `${root}/core/telemetry/judge-worker.ts`
}
const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)])
// Bare specifiers are packages or Node's own modules: never bundled.
const external = (id: string) => builtins.has(id) || !(id.startsWith('.') || id.startsWith('/') || id.startsWith('\0'))

const target = (outDir: string, input: Record<string, string>): RolldownOptions => ({
  input,
  platform: 'node',
  external,
  output: {
    dir: `${root}/${outDir}`,
    format: 'esm',
    entryFileNames: '[name].js',
    chunkFileNames: '[name]-[hash].js',
    sourcemap: true,
    cleanDir: true
  }
})

export default defineConfig([
  target('out/edge', { cli: `${root}/edge/cli.ts`, ...workers }),
  target('out/bench', {
    run: `${root}/bench/run.ts`,
    child: `${root}/bench/child.ts`,
    'ceiling-worker': `${root}/bench/ceiling-worker.ts`,
    ...workers
  })
])
