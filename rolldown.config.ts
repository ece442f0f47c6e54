/**
 * Build for the headless side: the `tresor` CLI and daemon (out/edge) and the
 * bench (out/bench), as plain JavaScript so nothing compiles TypeScript at run
 * time. Our own code is bundled as ES modules; packages stay in node_modules
 * (`npm ci --omit=dev` installs them), except the ones every vault open loads,
 * which go into one CommonJS file beside the chunks with V8's code cache for it
 * (core/bundled.ts). The verify and judge workers are entries of their own, and
 * every chunk lands in the same folder, so `new URL('./verify-worker.js',
 * import.meta.url)` finds the worker from whichever chunk holds the pool.
 */
import { writeFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { build, defineConfig, type Plugin, type RolldownOptions } from 'rolldown'
import { LEFT_OUT, codeCacheFor } from './core/bundled.ts'

const root = import.meta.dirname
const workers = {
  'verify-worker': `${root}/core/verify-worker.ts`,
  'judge-worker': `${root}/core/telemetry/judge-worker.ts`
}
const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)])
// Bare specifiers are packages or Node's own modules: never bundled into our chunks.
const external = (id: string) => builtins.has(id) || !(id.startsWith('.') || id.startsWith('/') || id.startsWith('\0'))

/** After the chunks are written: the package bundle beside them, and its code cache. */
const packageBundle = (outDir: string): Plugin => ({
  name: 'tresor-package-bundle',
  async writeBundle() {
    const file = `${root}/${outDir}/packages.cjs`
    await build({
      input: `${root}/core/bundled-entry.ts`,
      platform: 'node',
      external: (id) => builtins.has(id) || LEFT_OUT.has(id),
      output: { file, format: 'cjs' }
    })
    writeFileSync(`${file}.cache`, codeCacheFor(file))
  }
})

const target = (outDir: string, input: Record<string, string>): RolldownOptions => ({
  input,
  platform: 'node',
  external,
  plugins: [packageBundle(outDir)],
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
