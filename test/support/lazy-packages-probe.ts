/**
 * Child process for test/sync-remote.test.ts: opens a local database and says
 * whether PouchDB's HTTP client (node-fetch, fetch-cookie) or the `level` package
 * (only PouchDB's old-layout migration calls it) was loaded for it; then calls the
 * `level` the LevelDB adapter holds, as that migration does, and asks a
 * CouchDB-protocol server for its info through sync's remote handle.
 * `node --import tsx lazy-packages-probe.ts <dir> <database URL>`
 */
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { openDb } from '../../core/pouch.js'
import { remoteDb } from '../../sync/remote.js'
import { ADMIN } from './couch.js'

const require = createRequire(import.meta.url)
const loaded = (pkg: RegExp) => Object.keys(require.cache).some((p) => pkg.test(p))
const httpClient = /[\\/]node_modules[\\/](node-fetch|fetch-cookie)[\\/]/
// the package behind `level` (its own path holds a stand-in until the first call)
const level = /[\\/]node_modules[\\/]level-packager[\\/]/
const [dir, url] = process.argv.slice(2) as [string, string]
const db = openDb(join(dir, 'local'))
await db.put({ _id: 'probe', n: 1 })
const local = {
  httpClientLoaded: loaded(httpClient),
  levelLoaded: loaded(level),
  doc: ((await db.get('probe')) as unknown as { n: number }).n
}
await db.close()

// What pouchdb-adapter-leveldb calls to read a database in the old layout: the package itself, loaded now.
type Level = {
  put(k: string, v: unknown): Promise<void>
  get(k: string): Promise<unknown>
  close(): Promise<void>
}
const fromAdapter = createRequire(require.resolve('pouchdb-adapter-leveldb'))
const adapterLevel = fromAdapter('level') as (path: string, opts: object) => Level
const old = adapterLevel(join(dir, 'old-layout'), { valueEncoding: 'json' })
await old.put('k', { n: 2 })
const migration = { levelLoaded: loaded(level), value: await old.get('k') }
await old.close()

const info = (await remoteDb(url, ADMIN).info()) as { db_name?: string }
process.stdout.write(
  JSON.stringify({ local, migration, remote: { httpClientLoaded: loaded(httpClient), dbName: info.db_name } })
)
