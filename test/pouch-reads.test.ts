/**
 * PouchDB's reads of single keys, asked in one turn of the event loop, reach
 * LevelDB as one getMany (core/pouch.ts, coalesceGets): a pull asks three per
 * event. Each caller must still get exactly what its own read would have
 * given — the value, or not found — whatever the ids are named, and a close
 * right after the reads must answer every one of them.
 */
import { afterAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { openDb } from '../core/pouch.js'
import { eventDocId, LogStore } from '../core/store.js'
import { cleanupDirs, tempDir } from './helpers.js'

afterAll(cleanupDirs)

const leveldown = createRequire(import.meta.url)('leveldown') as (loc: string) => object
const proto = Object.getPrototypeOf(leveldown(join('/nonexistent', 'probe'))) as {
  getMany: (...args: unknown[]) => unknown
}

type Outcome = { found: true; n: unknown } | { found: false; status: unknown }
const outcome = (p: Promise<unknown>): Promise<Outcome> =>
  p.then(
    (doc) => ({ found: true as const, n: (doc as { n: unknown }).n }),
    (err: { status?: unknown }) => ({ found: false as const, status: err.status })
  )

// names a peer could choose, including ones a plain object would mistake for its own (`_`-names are PouchDB's)
const ID = fc.oneof(
  fc.constantFrom('constructor', 'hasOwnProperty', 'toString', 'valueOf', 'ev!a', 'ev!b', 'x', 'é', '\u{1F600}'),
  fc.string({ minLength: 1, maxLength: 12 }).filter((s) => !s.startsWith('_'))
)

describe('pouch reads', () => {
  it('storage - reads asked together answer as each alone would: stored values and not found, for any ids', async () => {
    const dir = await tempDir()
    let run = 0
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(ID, { minLength: 1, maxLength: 40 }),
        fc.array(fc.boolean()),
        async (ids, put) => {
          const db = openDb(join(dir, `db-${run++}`))
          try {
            const stored = new Map<string, number>()
            ids.forEach((id, i) => put[i] && stored.set(id, i))
            if (stored.size > 0) await db.bulkDocs([...stored].map(([_id, n]) => ({ _id, n })) as never)
            // every read in one turn: they go out together
            const together = await Promise.all(ids.map((id) => outcome(db.get(id))))
            const alone: Outcome[] = []
            for (const id of ids) alone.push(await outcome(db.get(id)))
            expect(together).toEqual(alone)
            expect(together).toEqual(
              ids.map((id) => (stored.has(id) ? { found: true, n: stored.get(id) } : { found: false, status: 404 }))
            )
          } finally {
            await db.close()
          }
        }
      ),
      { numRuns: 25 }
    )
    expect(Object.getOwnPropertyNames(Object.prototype)).not.toContain('n')
  })

  it('storage - a write of many documents reads their revision trees in one getMany, not one native call each', async () => {
    const db = openDb(join(await tempDir(), 'db'))
    const calls: number[] = []
    const getMany = proto.getMany
    proto.getMany = function (this: unknown, ...args: unknown[]) {
      calls.push((args[0] as unknown[]).length)
      return getMany.apply(this, args)
    }
    try {
      await db.bulkDocs(Array.from({ length: 200 }, (_, i) => ({ _id: `ev!${i}`, n: i })) as never)
    } finally {
      proto.getMany = getMany
      await db.close()
    }
    expect(calls.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(200)
    expect(calls.length).toBeLessThan(10)
  })

  it('storage - a close asked in the same turn as reads still answers every read', async () => {
    const db = openDb(join(await tempDir(), 'db'))
    await db.bulkDocs([{ _id: 'a', n: 1 }] as never)
    const reads = Promise.allSettled([db.get('a'), db.get('b'), db.get('a')])
    await db.close()
    const settled = await reads
    // what each read gives without the coalescing too: PouchDB finishes its reads before it closes
    expect(settled.map((s) => (s.status === 'fulfilled' ? 'ok' : (s.reason as Error).message))).toEqual([
      'ok',
      'missing',
      'ok'
    ])
  })
  it('storage - event docs asked by id come back as a read by keys gives them, in the order asked, whether a run of slots is read as one range or not', async () => {
    const dir = await tempDir()
    let run = 0
    const author = fc.constantFrom('a'.repeat(64), 'b'.repeat(64))
    const slot = fc.record({ author, seq: fc.integer({ min: 1, max: 30 }) })
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(slot, { selector: (x) => `${x.author}${x.seq}`, maxLength: 50 }),
        fc.array(fc.boolean()),
        // runs of consecutive slots (as a push asks), single slots, and ids that are no slot
        fc.array(
          fc.oneof(
            fc.record({ from: slot, length: fc.integer({ min: 1, max: 12 }) }),
            fc.constantFrom('fork!x', 'constructor', 'ev!zz!1')
          ),
          { maxLength: 8 }
        ),
        async (stored, deleted, asks) => {
          const db = openDb(join(dir, `store-${run++}`))
          try {
            const docs = stored.map((x) => ({ _id: eventDocId(x.author, x.seq), raw: '{}', id: `${x.author}${x.seq}` }))
            if (docs.length > 0) await db.bulkDocs(docs as never)
            for (const [i, d] of docs.entries())
              if (deleted[i]) await db.remove(d._id, (await db.get(d._id))._rev as string)
            const ids = asks.flatMap((a) =>
              typeof a === 'string'
                ? [a]
                : Array.from({ length: a.length }, (_, k) => eventDocId(a.from.author, a.from.seq + k))
            )
            const byKeys = ids.length > 0 ? (await db.allDocs({ keys: ids, include_docs: true })).rows : []
            const expected = byKeys.map((r) => (r.doc && !r.value?.deleted ? r.doc : null))
            const store = new LogStore(db)
            expect(await store.getMany(ids)).toEqual(expected)
            expect(await store.docsForPeer(ids)).toEqual(expected.filter((d) => d !== null))
          } finally {
            await db.close()
          }
        }
      ),
      { numRuns: 40 }
    )
  })
})
