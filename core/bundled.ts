/**
 * The packages a local vault loads, from one file in the built edge. Opening a
 * vault loads PouchDB and its LevelDB stack: about a hundred CommonJS files,
 * each resolved, read and compiled, ~35 ms of every `tresor status`. The edge
 * build (rolldown.config.ts) bundles them into `packages.cjs` beside its chunks
 * and stores V8's code cache for it in `packages.cjs.cache`; loaded from there
 * they cost ~7 ms. Where no bundle sits beside this module (a source run, the
 * tests, the desktop's build) the packages load from node_modules as before.
 *
 * The code cache is an optimisation only, and V8 trusts it: its own check is
 * the source's length, its version and its flags, and a release build reads a
 * rotten cache without a checksum (a crash, or code from another source of the
 * same length). So the file carries SHA-256 digests of the source it was made
 * for and of itself, checked before V8 sees a byte; a cache that fails either,
 * or that V8 refuses (another Node), costs the compile and nothing else. A
 * bundle that does not load is reported once and the packages load from
 * node_modules, which hold the same versions.
 */
import { createRequire } from 'node:module'
import { hash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Script } from 'node:vm'
import { fileURLToPath } from 'node:url'
import { INTERNAL } from './errors.js'

/** The packages in the bundle (core/bundled-entry.ts lists them the same way), each evaluated on its first call. */
export const BUNDLED: readonly string[] = [
  'pouchdb-core',
  'pouchdb-adapter-leveldb',
  'pouchdb-adapter-http',
  'pouchdb-replication'
]

type Packages = Map<string, () => unknown>
/** How the code cache went: taken, refused by V8, failing its digests (never shown to V8), or not there. */
export type Bundle = { packages: Packages; cache: 'accepted' | 'rejected' | 'damaged' | 'absent' }

/** The cache file: this line, then V8's bytes. `<source sha256> <bytes sha256>` in hex. */
const CACHE_MAGIC = 'tresor-code-cache/1'
const sha256 = (data: string | Buffer) => hash('sha256', data, 'hex')

function frameCache(source: string, data: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${CACHE_MAGIC} ${sha256(source)} ${sha256(data)}\n`), data])
}

/** V8's bytes from a cache file, or null unless it is one, made for `source`, and whole. */
function unframeCache(source: string, file: Buffer): Buffer | null {
  const end = file.indexOf(0x0a)
  if (end < 0 || end > 200) return null
  const [magic, forSource, digest] = file.subarray(0, end).toString('latin1').split(' ')
  const data = file.subarray(end + 1)
  return magic === CACHE_MAGIC && forSource === sha256(source) && digest === sha256(data) ? data : null
}

/**
 * What the bundle leaves out and requires at run time, each resolved from the package that depends on it, as an
 * unbundled load would: core/pouch.ts puts its deferred stand-ins at exactly those paths. Anything else it requires
 * (Node's modules, leveldown with its native binding) is resolved from the bundle's folder.
 */
const DEPENDENT = new Map([
  ['pouchdb-fetch', 'pouchdb-core'],
  ['level', 'pouchdb-adapter-leveldb']
])

/** What the bundle build leaves out besides Node's modules: the native leveldown, and what core/pouch.ts defers. */
export const LEFT_OUT: ReadonlySet<string> = new Set(['leveldown', ...DEPENDENT.keys()])

const wrap = (source: string) => `(function (exports, require, module) {${source}\n})`

/** Compiles and runs the bundle at `file`, with V8's code cache where there is one. */
function run(file: string, source: string, cachedData: Buffer | undefined): { script: Script; packages: Packages } {
  const script = new Script(wrap(source), { filename: file, cachedData })
  const fromBundle = createRequire(file)
  const requireFor = (name: string) => {
    const dependent = DEPENDENT.get(name)
    return dependent ? createRequire(fromBundle.resolve(dependent))(name) : fromBundle(name)
  }
  const module = { exports: {} as { packages?: Packages } }
  ;(script.runInThisContext() as (e: unknown, r: unknown, m: unknown) => void)(module.exports, requireFor, module)
  const packages = module.exports.packages
  if (!(packages instanceof Map)) throw INTERNAL(`${file} does not export its packages`)
  return { script, packages }
}

function readIfExists(file: string): Buffer | undefined {
  try {
    return readFileSync(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

/** The bundle at `file` (null where there is none), and whether V8 took its code cache. */
export function loadBundle(file: string): Bundle | null {
  const bytes = readIfExists(file)
  if (!bytes) return null
  const source = bytes.toString('utf8')
  const framed = readIfExists(`${file}.cache`)
  const cachedData = framed && unframeCache(source, framed)
  const { script, packages } = run(file, source, cachedData ?? undefined)
  const cache = !framed ? 'absent' : !cachedData ? 'damaged' : script.cachedDataRejected ? 'rejected' : 'accepted'
  return { packages, cache }
}

/**
 * Build step (rolldown.config.ts): the code cache for the bundle at `file`, taken after every package in it has been
 * evaluated, so the functions a vault's open runs are in it compiled.
 */
export function codeCacheFor(file: string): Buffer {
  const source = readFileSync(file, 'utf8')
  const { script, packages } = run(file, source, undefined)
  const names = [...packages.keys()]
  if (names.join() !== BUNDLED.join()) throw INTERNAL(`${file} holds ${names.join(', ')}, not ${BUNDLED.join(', ')}`)
  for (const load of packages.values()) load()
  return frameCache(source, script.createCachedData())
}

/** The bundle at `file`, or null where there is none or it fails to load (said once, as a process warning). */
export function packagesFrom(file: string): Bundle | null {
  try {
    return loadBundle(file)
  } catch (err) {
    process.emitWarning(
      `${file} did not load (${(err as Error).message}): the packages load from node_modules instead; reinstall to restore it`
    )
    return null
  }
}

let bundle: Bundle | null | undefined
/** The bundle beside this module (built chunks only), loaded on first use. */
export function bundledPackages(): Bundle | null {
  return bundle !== undefined
    ? bundle
    : (bundle = packagesFrom(fileURLToPath(new URL('./packages.cjs', import.meta.url))))
}
