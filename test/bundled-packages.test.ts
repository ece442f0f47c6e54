/**
 * The built edge loads PouchDB and its LevelDB stack from one bundled file
 * with V8's code cache (core/bundled.ts), not from a hundred files in
 * node_modules: that was a third of every `tresor status`. A damaged cache
 * costs only the compile; a damaged bundle is reported and the same packages
 * load from node_modules.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BUNDLED, loadBundle, packagesFrom } from '../core/bundled.js'
import { cleanupDirs, makeVault, tempDir } from './helpers.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const EDGE = join(ROOT, 'out/edge')
const BUNDLE = join(EDGE, 'packages.cjs')
// A copy must sit where the bundle resolves what it leaves out (leveldown, Node's modules): inside this checkout.
const copies = mkdtempSync(join(ROOT, 'out/bundle-test-'))

afterAll(async () => {
  rmSync(copies, { recursive: true, force: true })
  await cleanupDirs()
})

describe('bundled packages', () => {
  it('build - out/edge: the package bundle and its code cache sit beside the chunk that loads them', () => {
    expect(existsSync(BUNDLE), 'out/edge/packages.cjs is missing: run npm run build').toBe(true)
    const loaders = readdirSync(EDGE).filter(
      (f) => f.endsWith('.js') && readFileSync(join(EDGE, f), 'utf8').includes('"./packages.cjs"')
    )
    expect(loaders.length).toBeGreaterThan(0)
    const bundle = loadBundle(BUNDLE)!
    expect([...bundle.packages.keys()]).toEqual(BUNDLED)
    // the cache was made by this Node at build time, so this Node takes it
    expect(bundle.cache).toBe('accepted')
  })

  it('the built CLI opens a vault without reading PouchDB or LevelDB from node_modules, except the native binding', async () => {
    const vault = await makeVault({ notes: 3 })
    await vault.close()
    const out = join(await tempDir(), 'loaded.txt')
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        join(ROOT, 'test/support/loaded-files.mjs'),
        join(ROOT, 'edge/bin/tresor.mjs'),
        'status',
        '--dir',
        vault.dir
      ],
      { encoding: 'utf8', env: { ...process.env, LOADED_FILES_OUT: out } }
    )
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/health\s+OK/)
    const fromNodeModules = readFileSync(out, 'utf8')
      .split('\n')
      .filter((f) => /[\\/]node_modules[\\/](pouchdb-|sublevel-pouchdb|levelup|readable-stream|uuid)/.test(f))
      .map((f) => f.slice(f.lastIndexOf('node_modules') + 'node_modules/'.length))
    // only what core/pouch.ts reads to defer two packages: their versions, and the stand-in it puts in require.cache
    expect(fromNodeModules.sort()).toEqual([
      'pouchdb-adapter-leveldb/package.json',
      'pouchdb-fetch/lib/index.js',
      'pouchdb-fetch/package.json'
    ])
  })

  it('a rotten code cache never reaches V8 (a release V8 crashes on one): the bundle compiles and loads', () => {
    const file = join(mkdtempSync(join(copies, 'rotten-cache-')), 'packages.cjs')
    copyFileSync(BUNDLE, file)
    const cache = readFileSync(`${BUNDLE}.cache`)
    cache.fill(0x5a, cache.length >> 2, cache.length >> 1) // rot in V8's bytes, past the header
    writeFileSync(`${file}.cache`, cache)
    const bundle = loadBundle(file)!
    expect(bundle.cache).toBe('damaged')
    expect(typeof bundle.packages.get('pouchdb-core')!()).toBe('function')
  })

  it('a code cache made for another source of the same length is not used', () => {
    const file = join(mkdtempSync(join(copies, 'stale-cache-')), 'packages.cjs')
    const source = readFileSync(BUNDLE, 'utf8')
    // the same bundle with one comment changed: V8's own check (the length) would take the old cache
    const edited = source.replace('// core/bundled-entry.ts', '// core/bundled-entry.TS')
    expect(edited.length).toBe(source.length)
    expect(edited).not.toBe(source)
    writeFileSync(file, edited)
    copyFileSync(`${BUNDLE}.cache`, `${file}.cache`)
    expect(loadBundle(file)!.cache).toBe('damaged')
  })

  it('a truncated bundle is reported, with what to do, and the vault loads its packages from node_modules', async () => {
    const file = join(mkdtempSync(join(copies, 'truncated-')), 'packages.cjs')
    const source = readFileSync(BUNDLE)
    writeFileSync(file, source.subarray(0, source.length >> 1))
    const warned = new Promise<Error>((resolve) => process.once('warning', resolve))
    expect(packagesFrom(file)).toBeNull()
    expect((await warned).message).toMatch(
      /packages\.cjs did not load \(.+\): the packages load from node_modules instead; reinstall/
    )
    // no bundle at all (a source run) is no warning, just node_modules
    expect(packagesFrom(join(copies, 'none', 'packages.cjs'))).toBeNull()
  })
})
