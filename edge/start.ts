/**
 * How the built `tresor` starts: the CLI and daemon are one CommonJS file,
 * `cli.cjs`, run with the V8 code cache the build stored beside it
 * (core/code-cache.ts). As ES modules the same code was compiled on every call
 * (Node 20 keeps no compile cache for modules): ~30 ms of each `tresor status`,
 * which a supervisor or a script pays every time it asks.
 *
 * The cache holds what a status compiles: the build runs `init`, `status` and `verify`
 * on a throwaway vault with the file loaded fresh, then takes the cache
 * (`makeCliCodeCache`, called by rolldown.config.ts in a child process).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runCached, runScript, writeCodeCache } from '../core/code-cache.js'
import { INTERNAL } from '../core/errors.js'

type Cli = { main(argv: string[]): Promise<number> }

const CLI_FILE = fileURLToPath(new URL('./cli.cjs', import.meta.url))

function cliOf(exports: unknown): Cli {
  if (typeof (exports as Partial<Cli>).main !== 'function') throw INTERNAL(`${CLI_FILE} does not export main`)
  return exports as Cli
}

/** Runs one `tresor` command from the built CLI; its exit code. */
export async function main(argv: string[]): Promise<number> {
  let cli: Cli
  try {
    const ran = runCached(CLI_FILE)
    if (!ran) throw INTERNAL('it is missing')
    cli = cliOf(ran.exports)
  } catch (err) {
    process.stderr.write(
      `tresor: ${CLI_FILE} did not load (${(err as Error).message}): run \`npm run build:edge\` (or reinstall the package)\n`
    )
    return 1
  }
  return cli.main(argv)
}

/**
 * Build step: runs `init`, `status` and `verify` from `cli.cjs` on a throwaway vault (output discarded), then stores
 * the code cache with everything those compiled. Exits non-zero where a command fails: the build stops.
 */
export async function makeCliCodeCache(): Promise<void> {
  const source = readFileSync(CLI_FILE, 'utf8')
  const ran = runScript(CLI_FILE, source, undefined)
  const cli = cliOf(ran.exports)
  const dir = join(mkdtempSync(join(tmpdir(), 'tresor-code-cache-')), 'vault')
  process.env.TRESOR_PASSPHRASE = 'code-cache warm-up'
  try {
    for (const argv of [
      ['init', '--dir', dir, '--vault', 'warm-up', '--name', 'build', '--roles', 'operator'],
      ['status', '--dir', dir],
      ['verify', '--dir', dir]
    ]) {
      const code = await cli.main(argv)
      if (code !== 0) throw INTERNAL(`tresor ${argv[0]} exited ${code} while the code cache was made`)
    }
  } finally {
    rmSync(join(dir, '..'), { recursive: true, force: true })
  }
  writeCodeCache(CLI_FILE, { script: ran.script, source })
}
