/**
 * Build for the headless side: the `tresor` CLI and daemon (out/edge) and the
 * bench (out/bench), as plain JavaScript so nothing compiles TypeScript at run
 * time. Packages stay in node_modules (`npm ci --omit=dev` installs them),
 * except the ones every vault open loads, which go into one CommonJS file
 * beside the chunks with V8's code cache for it (core/bundled.ts). The CLI and
 * daemon are one CommonJS file too, `cli.cjs`, with the code cache a status
 * compiles (edge/start.ts); `start.cjs` runs it. The verify and judge workers
 * are ES module entries of their own, and everything lands in the same folder,
 * so `new URL('./verify-worker.js', import.meta.url)` finds the worker from
 * whichever file holds the pool.
 */
import { execFileSync } from 'node:child_process'
import { builtinModules } from 'node:module'
import { build, defineConfig, type Plugin, type RolldownOptions } from 'rolldown'
import { LEFT_OUT, makePackagesCodeCache } from './core/bundled.ts'

const root = import.meta.dirname
const workers = {
  'verify-worker': `${root}/core/verify-worker.ts`,
  'judge-worker': `${root}/core/telemetry/judge-worker.ts`
}
const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)])
// Bare specifiers are packages or Node's own modules: never bundled into our chunks.
const external = (id: string) => builtins.has(id) || !(id.startsWith('.') || id.startsWith('/') || id.startsWith('\0'))

/**
 * After the chunks are written: the package bundle beside them, and its code cache; with `cli`, the CLI as one
 * CommonJS file (its dynamic imports inlined: each runs on first import still) and the code cache a status compiles,
 * made by running it in a child process (edge/start.ts).
 */
const commonJsFiles = (outDir: string, cli: boolean): Plugin => ({
  name: 'tresor-commonjs-files',
  async writeBundle() {
    const file = `${root}/${outDir}/packages.cjs`
    await build({
      input: `${root}/core/bundled-entry.ts`,
      platform: 'node',
      external: (id) => builtins.has(id) || LEFT_OUT.has(id),
      output: { file, format: 'cjs' }
    })
    makePackagesCodeCache(file)
    if (!cli) return
    for (const name of ['cli', 'start']) {
      const { output } = await build({
        input: `${root}/edge/${name}.ts`,
        platform: 'node',
        external,
        output: { file: `${root}/${outDir}/${name}.cjs`, format: 'cjs', codeSplitting: false, sourcemap: true }
      })
      // node:vm, which runs cli.cjs, has no loader for import() on Node 20 (core/code-cache.ts): require instead
      const imports = output.flatMap((o) =>
        o.type === 'chunk' ? o.dynamicImports.filter((d) => d !== o.fileName) : []
      )
      if (imports.length > 0) throw new Error(`${name}.cjs would import() ${imports.join(', ')}: use lazyPackage`)
    }
    const start = JSON.stringify(`${root}/${outDir}/start.cjs`)
    try {
      execFileSync(process.execPath, ['-e', `require(${start}).makeCliCodeCache()`], {
        stdio: ['ignore', 'ignore', 'pipe']
      })
    } catch (err) {
      throw new Error(`the CLI's code cache was not made: ${(err as { stderr?: Buffer }).stderr ?? err}`)
    }
  }
})

const target = (outDir: string, input: Record<string, string>, cli = false): RolldownOptions => ({
  input,
  platform: 'node',
  external,
  plugins: [commonJsFiles(outDir, cli)],
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
  target('out/edge', workers, true),
  target('out/bench', {
    run: `${root}/bench/run.ts`,
    child: `${root}/bench/child.ts`,
    'ceiling-worker': `${root}/bench/ceiling-worker.ts`,
    ...workers
  })
])
