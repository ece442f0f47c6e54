/**
 * The packages a local vault loads, from one file in the built edge. Opening a
 * vault loads PouchDB and its LevelDB stack: about a hundred CommonJS files,
 * each resolved, read and compiled, ~35 ms of every `tresor status`. The edge
 * build (rolldown.config.ts) bundles them into `packages.cjs` beside its chunks
 * and stores V8's code cache for it in `packages.cjs.cache` (core/code-cache.ts,
 * which checks it before V8 sees it); loaded from there they cost ~7 ms. Where
 * no bundle sits beside this module (a source run, the tests, the desktop's
 * build) the packages load from node_modules as before. A bundle that does not
 * load is reported once and the packages load from node_modules, which hold the
 * same versions.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { runCached, runScript, writeCodeCache, type CacheState } from './code-cache.js'
import { INTERNAL } from './errors.js'

/** The packages in the bundle (core/bundled-entry.ts lists them the same way), each evaluated on its first call. */
export const BUNDLED: readonly string[] = [
  'pouchdb-core',
  'pouchdb-adapter-leveldb',
  'pouchdb-adapter-http',
  'pouchdb-replication'
]

type Packages = Map<string, () => unknown>
/** The bundle's packages, and how its code cache went. */
export type Bundle = { packages: Packages; cache: CacheState }

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

/** A require for the bundle at `file`: what it leaves out resolves as an unbundled load would. */
function requireFor(file: string): (name: string) => unknown {
  const fromBundle = createRequire(file)
  return (name) => {
    const dependent = DEPENDENT.get(name)
    return dependent ? createRequire(fromBundle.resolve(dependent))(name) : fromBundle(name)
  }
}

function packagesOf(file: string, exports: unknown): Packages {
  const packages = (exports as { packages?: unknown }).packages
  if (!(packages instanceof Map)) throw INTERNAL(`${file} does not export its packages`)
  return packages as Packages
}

/** The bundle at `file` (null where there is none), and whether V8 took its code cache. */
export function loadBundle(file: string): Bundle | null {
  const ran = runCached(file, requireFor(file))
  return ran && { packages: packagesOf(file, ran.exports), cache: ran.cache }
}

/**
 * Build step (rolldown.config.ts): stores the code cache for the bundle at `file`, taken after every package in it has
 * been evaluated, so the functions a vault's open runs are in it compiled.
 */
export function makePackagesCodeCache(file: string): void {
  const source = readFileSync(file, 'utf8')
  const { script, exports } = runScript(file, source, undefined, requireFor(file))
  const packages = packagesOf(file, exports)
  const names = [...packages.keys()]
  if (names.join() !== BUNDLED.join()) throw INTERNAL(`${file} holds ${names.join(', ')}, not ${BUNDLED.join(', ')}`)
  for (const load of packages.values()) load()
  writeCodeCache(file, { script, source })
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
