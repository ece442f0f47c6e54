/**
 * The built `tresor` runs the CLI and daemon from one CommonJS file with the V8
 * code cache the build stored for it (edge/start.ts, core/code-cache.ts), and a
 * command loads only what it uses: a `tresor status` compiles nothing of ours
 * and loads no package or Node module that only other commands need (the
 * start-up every supervisor and script pays). A rotten cache costs only the
 * compile; a CLI file that does not load is said, with what to do.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runCached } from '../core/code-cache.js'
import { cleanupDirs, makeVault, tempDir } from './helpers.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const EDGE = join(ROOT, 'out/edge')
const CLI = join(EDGE, 'cli.cjs')
// A copy must sit where the CLI resolves its packages: inside this checkout.
const copies = mkdtempSync(join(ROOT, 'out/built-cli-test-'))

afterAll(async () => {
  rmSync(copies, { recursive: true, force: true })
  await cleanupDirs()
})

/** `tresor …` from the built edge at `edge` (a copy of out/edge by default), recording what it loaded. */
async function tresor(args: string[], edge = EDGE) {
  const out = join(await tempDir(), 'loaded')
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      join(ROOT, 'test/support/loaded-files.mjs'),
      '-e',
      `require(${JSON.stringify(join(edge, 'start.cjs'))}).main(process.argv.slice(1)).then((c) => { process.exitCode = c })`,
      ...args
    ],
    {
      encoding: 'utf8',
      env: { ...process.env, LOADED_FILES_OUT: `${out}.files`, LOADED_BUILTINS_OUT: `${out}.builtins` }
    }
  )
  const lines = (f: string) => readFileSync(f, 'utf8').split('\n').filter(Boolean)
  return { ...r, files: lines(`${out}.files`), builtins: lines(`${out}.builtins`) }
}

/** A copy of the built edge beside out/edge, to damage. */
function edgeCopy(name: string): string {
  const dir = join(mkdtempSync(join(copies, `${name}-`)), 'edge')
  cpSync(EDGE, dir, { recursive: true, filter: (f) => !f.endsWith('.map') })
  return dir
}

describe('built CLI', () => {
  it('build - out/edge: the CLI is one file with a code cache this Node takes', () => {
    const ran = runCached(CLI)!
    expect(ran.cache).toBe('accepted')
    expect(typeof (ran.exports as { main?: unknown }).main).toBe('function')
  })

  it('a status loads none of the packages and Node modules only other commands use', async () => {
    const vault = await makeVault({ notes: 3 })
    await vault.close()
    const r = await tresor(['status', '--dir', vault.dir])
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/health\s+OK/)
    const packages = new Set(
      r.files
        .filter((f) => f.includes('node_modules'))
        .map((f) => f.slice(f.lastIndexOf('node_modules') + 'node_modules/'.length).split('/')[0]!)
    )
    // the LevelDB binding and what it stands on; everything else a vault open needs is in packages.cjs
    expect([...packages].sort()).toEqual([
      'abstract-leveldown',
      'catering',
      'is-buffer',
      'level',
      'level-supports',
      'leveldown',
      'node-gyp-build',
      'pouchdb-adapter-leveldb',
      'pouchdb-fetch'
    ])
    // ours: the starter only (the CLI and the package bundle run from their code caches, not through require)
    expect(r.files.filter((f) => f.startsWith(ROOT) && !f.includes('node_modules'))).toEqual([join(EDGE, 'start.cjs')])
    for (const unused of ['http', 'readline', 'worker_threads', 'zlib', 'v8']) expect(r.builtins).not.toContain(unused)
  })

  it('a rotten CLI code cache never reaches V8: the CLI compiles and runs', async () => {
    const edge = edgeCopy('rotten-cache')
    const cache = readFileSync(`${CLI}.cache`)
    cache.fill(0x5a, cache.length >> 2, cache.length >> 1) // rot in V8's bytes, past the header
    writeFileSync(join(edge, 'cli.cjs.cache'), cache)
    expect(runCached(join(edge, 'cli.cjs'))!.cache).toBe('damaged')
    const vault = await makeVault()
    await vault.close()
    const r = await tresor(['status', '--dir', vault.dir], edge)
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/health\s+OK/)
  })

  it('a CLI code cache made for another build is not used', () => {
    const edge = edgeCopy('stale-cache')
    const source = readFileSync(CLI, 'utf8')
    // one comment changed, the length kept: V8's own check would take the old cache
    const edited = source.replace('// edge/cli.ts', '// edge/cli.TS')
    expect(edited.length).toBe(source.length)
    expect(edited).not.toBe(source)
    writeFileSync(join(edge, 'cli.cjs'), edited)
    expect(runCached(join(edge, 'cli.cjs'))!.cache).toBe('damaged')
  })

  it('a CLI file that does not load is said, with what to do, and nothing runs', async () => {
    const edge = edgeCopy('truncated')
    const source = readFileSync(CLI)
    writeFileSync(join(edge, 'cli.cjs'), source.subarray(0, source.length >> 1))
    const vault = await makeVault()
    await vault.close()
    const r = await tresor(['status', '--dir', vault.dir], edge)
    expect(r.status).toBe(1)
    expect(r.stderr).toMatch(
      /^tresor: .*cli\.cjs did not load \(.+\): run `npm run build:edge` \(or reinstall the package\)\n$/
    )
    expect(r.stdout).toBe('')
    // and with no CLI file at all
    rmSync(join(edge, 'cli.cjs'))
    const gone = await tresor(['status', '--dir', vault.dir], edge)
    expect(gone.status).toBe(1)
    expect(gone.stderr).toMatch(/cli\.cjs did not load \(it is missing\)/)
  })
})
