/**
 * The HTTP database handle sync uses. pouchdb-replication drops the promise of
 * its progress request (`src.info().then(...)`): a server that dies
 * mid-replication must not end the process through that unhandled rejection.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { createServer } from 'node:net'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { remoteDb } from '../sync/remote.js'
import { ADMIN, startCouch } from './support/couch.js'
import { cleanupDirs, tempDir } from './helpers.js'

afterAll(cleanupDirs)

describe('remote database handle', () => {
  it('remote - a local vault database never loads the HTTP client or `level`; the first remote request and the first migration call do, and they work', async () => {
    const dir = await tempDir()
    const couch = await startCouch(join(dir, 'server'))
    try {
      await couch.request('PUT', '/probe', undefined, ADMIN)
      const probe = fileURLToPath(new URL('./support/lazy-packages-probe.ts', import.meta.url))
      const r = spawnSync(process.execPath, ['--import', 'tsx', probe, dir, `${couch.root}/probe`], {
        encoding: 'utf8',
        timeout: 60_000
      })
      expect(r.status, r.stderr).toBe(0)
      expect(JSON.parse(r.stdout)).toEqual({
        local: { httpClientLoaded: false, levelLoaded: false, doc: 1 },
        migration: { levelLoaded: true, value: { n: 2 } },
        remote: { httpClientLoaded: true, dbName: 'probe' }
      })
    } finally {
      await couch.stop()
    }
  })

  it('remote - a request whose promise the caller drops does not end the process when the server is gone; one that is awaited still fails', async () => {
    // a port that was free a moment ago: nothing listens there
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port
        s.close(() => resolve(p))
      })
    })
    const db = remoteDb(`http://127.0.0.1:${port}/gone`)
    const unhandled: unknown[] = []
    const record = (err: unknown) => unhandled.push(err)
    process.on('unhandledRejection', record)
    try {
      void db.info().then(() => 'as pouchdb-replication does: the result dropped, no rejection handler')
      await new Promise((r) => setTimeout(r, 500))
      await expect(db.info()).rejects.toThrow()
      await new Promise((r) => setTimeout(r, 100))
      expect(unhandled).toEqual([])
    } finally {
      process.off('unhandledRejection', record)
      await db.close()
    }
  })
})
