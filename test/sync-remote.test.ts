/**
 * The HTTP database handle sync uses. pouchdb-replication drops the promise of
 * its progress request (`src.info().then(...)`): a server that dies
 * mid-replication must not end the process through that unhandled rejection.
 */
import { describe, expect, it } from 'vitest'
import { createServer } from 'node:net'
import { remoteDb } from '../sync/remote.js'

describe('remote database handle', () => {
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
