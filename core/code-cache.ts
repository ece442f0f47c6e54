/**
 * A CommonJS file of the built edge run with V8's code cache beside it
 * (`<file>.cache`): the compile a process would otherwise pay on every start,
 * taken from the bytes the build stored. The built edge has two: the CLI and
 * daemon (`cli.cjs`, edge/start.ts) and the packages a vault open loads
 * (`packages.cjs`, core/bundled.ts).
 *
 * The code cache is an optimisation only, and V8 trusts it: its own check is
 * the source's length, its version and its flags, and a release build reads a
 * rotten cache without a checksum (a crash, or code from another source of the
 * same length). So the file carries SHA-256 digests of the source it was made
 * for and of itself, checked before V8 sees a byte; a cache that fails either,
 * or that V8 refuses (another Node), costs the compile and nothing else.
 *
 * A script node:vm runs has no loader for `import()` (Node 20 offers one behind
 * an experimental flag or warning only), so these files load what they load
 * with `require`; the build refuses a CLI file with an `import()` in it.
 */
import { hash } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname } from 'node:path'
import { Script } from 'node:vm'

/** How the code cache went: taken, refused by V8, failing its digests (never shown to V8), or not there. */
export type CacheState = 'accepted' | 'rejected' | 'damaged' | 'absent'

/** A file that ran: what it exported, and how its cache went. */
export type Ran = { exports: unknown; cache: CacheState }

/** The cache file: this line, then V8's bytes. `<source sha256> <bytes sha256>` in hex. */
const CACHE_MAGIC = 'tresor-code-cache/1'
const sha256 = (data: string | Buffer) => hash('sha256', data, 'hex')

function frameCache(source: string, data: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${CACHE_MAGIC} ${sha256(source)} ${sha256(data)}\n`), data])
}

/** V8's bytes from a cache file, or null unless it is one, made for `source` (the file's bytes as read), and whole. */
function unframeCache(source: Buffer, file: Buffer): Buffer | null {
  const end = file.indexOf(0x0a)
  if (end < 0 || end > 200) return null
  const [magic, forSource, digest] = file.subarray(0, end).toString('latin1').split(' ')
  const data = file.subarray(end + 1)
  return magic === CACHE_MAGIC && forSource === sha256(source) && digest === sha256(data) ? data : null
}

function readIfExists(file: string): Buffer | undefined {
  try {
    return readFileSync(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

// The module wrapper Node gives a CommonJS file, on the source's first line so its line numbers hold.
const wrap = (source: string) => `(function (exports, require, module, __filename, __dirname) {${source}\n})`
type Wrapped = (exports: unknown, require: unknown, module: unknown, filename: string, dirname: string) => void

/**
 * Compiles and runs the CommonJS file at `file` (with `cachedData` where given) as Node would, requiring through
 * `requireFor` (default: a require from the file's folder).
 */
export function runScript(
  file: string,
  source: string,
  cachedData: Buffer | undefined,
  requireFor: (name: string) => unknown = createRequire(file)
): { script: Script; exports: unknown } {
  const script = new Script(wrap(source), { filename: file, cachedData })
  const module = { exports: {} as unknown }
  ;(script.runInThisContext() as Wrapped)(module.exports, requireFor, module, file, dirname(file))
  return { script, exports: module.exports }
}

/** Runs the file at `file` with its code cache where one is whole and made for it; null where there is no file. */
export function runCached(file: string, requireFor?: (name: string) => unknown): Ran | null {
  const bytes = readIfExists(file)
  if (!bytes) return null
  const framed = readIfExists(`${file}.cache`)
  const cachedData = framed && unframeCache(bytes, framed)
  const { script, exports } = runScript(file, bytes.toString('utf8'), cachedData ?? undefined, requireFor)
  const cache = !framed ? 'absent' : !cachedData ? 'damaged' : script.cachedDataRejected ? 'rejected' : 'accepted'
  return { exports, cache }
}

/**
 * Build step: stores beside `file` the code cache of its script that ran (from `source`, as runScript was given it),
 * with what it compiled so far. A string's SHA-256 is its UTF-8 bytes', so the digest matches the file as read.
 */
export function writeCodeCache(file: string, ran: { script: Script; source: string }): void {
  writeFileSync(`${file}.cache`, frameCache(ran.source, ran.script.createCachedData()))
}
