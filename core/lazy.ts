/**
 * Packages loaded on first use, not at start-up. Every CLI call pays for what
 * it loads before it does any work (a supervisor's `tresor status` every few
 * seconds, a script's loop), so a package only some commands need — the Git
 * client, MQTT, the CouchDB transport, YAML, ZIP, diff — is required the first
 * time one of them calls it. They are CommonJS packages, so this is a plain
 * synchronous require and the call sites stay as they were.
 */
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

export function lazyPackage<T>(name: string): () => T {
  let loaded: T | undefined
  return () => (loaded ??= require(name) as T)
}
