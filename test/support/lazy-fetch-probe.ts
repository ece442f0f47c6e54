/**
 * Child process for test/sync-remote.test.ts: opens a local database and says
 * whether PouchDB's HTTP client (node-fetch, fetch-cookie) was loaded for it;
 * then asks a CouchDB-protocol server for its info through sync's remote handle.
 * `node --import tsx lazy-fetch-probe.ts <dir> <database URL>`
 */
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { openDb } from '../../core/pouch.js'
import { remoteDb } from '../../sync/remote.js'
import { ADMIN } from './couch.js'

const require = createRequire(import.meta.url)
const loaded = () =>
  Object.keys(require.cache).some((p) => /[\\/]node_modules[\\/](node-fetch|fetch-cookie)[\\/]/.test(p))
const [dir, url] = process.argv.slice(2) as [string, string]
const db = openDb(join(dir, 'local'))
await db.put({ _id: 'probe', n: 1 })
const local = { httpClientLoaded: loaded(), doc: ((await db.get('probe')) as unknown as { n: number }).n }
await db.close()
const info = (await remoteDb(url, ADMIN).info()) as { db_name?: string }
process.stdout.write(JSON.stringify({ local, remote: { httpClientLoaded: loaded(), dbName: info.db_name } }))
