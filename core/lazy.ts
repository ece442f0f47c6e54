/**
 * Packages loaded on first use, not at start-up. Every CLI call pays for what
 * it loads before it does any work (a supervisor's `tresor status` every few
 * seconds, a script's loop), so a package only some commands need — the Git
 * client, MQTT, the CouchDB transport, YAML, ZIP, diff, the daemon's logger,
 * metrics and schemas — is required the first time one of them calls it, and
 * so are Node's own modules only some commands use (HTTP, readline, worker
 * threads, zlib, v8). The built CLI is one file (edge/start.ts), so an import
 * would load them with it, whatever the command. They are CommonJS, so this is
 * a plain synchronous require and the call sites stay as they were. In the
 * built edge the packages every vault open needs come from its one-file bundle
 * (core/bundled.ts).
 */
import { createRequire } from 'node:module'
import { BUNDLED, bundledPackages } from './bundled.js'

const require = createRequire(import.meta.url)

export function lazyPackage<T>(name: string): () => T {
  let loaded: T | undefined
  const bundled = BUNDLED.includes(name)
  return () => (loaded ??= ((bundled && bundledPackages()?.packages.get(name)?.()) || require(name)) as T)
}
