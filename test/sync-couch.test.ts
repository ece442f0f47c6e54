import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cp, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import nacl from 'tweetnacl'
import { Vault, ensureDeviceKey } from '../core/vault.js'
import { stateHash } from '../core/governance/state.js'
import { decodeEvent, signEvent } from '../core/envelope.js'
import { checkIncident } from '../core/incident.js'
import { canonicalize } from '../core/canonical.js'
import { eventDocId } from '../core/store.js'
import { toHex } from '../core/bytes.js'
import { CouchSync, listQuarantine } from '../sync/couch-sync.js'
import { createHandlers } from '../core/api.js'
import { remoteDb } from '../sync/remote.js'
import { SYNC_STATE_FILE } from '../sync/sync-state.js'
import { MAX_PAGE_BYTES } from '../sync/couch-pull.js'
import { syncDomain } from '../sync/methods.js'
import { ADMIN, REVIEWER, WRITER, addUser, startCouch, type Couch } from './support/couch.js'
import type { Doc } from '../core/pouch.js'
import { cleanupDirs, FAST_KDF, PASS, tempDir } from './helpers.js'
import { approve, commit, propose } from '../core/governance/calls.js'
import { exportBundle } from '../core/bundle.js'

let couch: Couch
let serverDir: string

beforeAll(async () => {
  serverDir = join(await tempDir('tresor-couch-'), 'server')
  couch = await startCouch(serverDir)
})

afterAll(async () => {
  await couch?.stop()
  await cleanupDirs()
})

/** A fresh database on the server for one test; the first device to sync with admin rights installs the design doc. */
async function freshDb(name: string): Promise<string> {
  await couch.request('PUT', `/${name}`, undefined, ADMIN)
  await couch.request(
    'PUT',
    `/${name}/_security`,
    {
      admins: { names: [ADMIN.username], roles: [] },
      members: { names: [WRITER.username, REVIEWER.username], roles: [] }
    },
    ADMIN
  )
  return `${couch.root}/${name}`
}

/** alice, bob, carol: three devices, one vault directory each, joined from alice's genesis bundle. */
async function threeDevices() {
  const root = await tempDir()
  const bobKey = await ensureDeviceKey(join(root, 'bob'), 'bob', PASS, FAST_KDF)
  const carolKey = await ensureDeviceKey(join(root, 'carol'), 'carol', PASS, FAST_KDF)
  const alice = await Vault.create({
    dir: join(root, 'alice'),
    vaultName: 'Ops',
    passphrase: PASS,
    memberName: 'alice',
    roles: ['operator'],
    kdf: FAST_KDF,
    members: [
      { name: 'bob', roles: ['chain', 'operator'], keys: [bobKey.publicKey] },
      { name: 'carol', roles: ['auditor'], keys: [carolKey.publicKey] }
    ]
  })
  const genesis = JSON.stringify(await exportBundle(alice, {}))
  const bob = await Vault.join({ dir: join(root, 'bob'), bundle: genesis, passphrase: PASS })
  const carol = await Vault.join({ dir: join(root, 'carol'), bundle: genesis, passphrase: PASS })
  return { root, alice, bob, carol, all: [alice, bob, carol] }
}

async function sync(vault: Vault, url: string, admin = false) {
  const s = await CouchSync.open(vault, { url, credentials: admin ? ADMIN : WRITER, admin })
  try {
    return await s.syncOnce()
  } finally {
    await s.close()
  }
}

/**
 * A hostile server in front of the real one: every request is passed on, except the changes feed, which `changes`
 * answers (given the request's URL and a way to ask the real server for it). Returns its base URL and its stop.
 */
async function inFrontOfCouch(
  changes: (target: URL, res: ServerResponse, upstream: () => Promise<Buffer>) => Promise<void>
): Promise<{ root: string; close: () => void }> {
  const hostile = createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = []
      for await (const c of req) chunks.push(c as Buffer)
      const headers: Record<string, string> = {}
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host') headers[k] = v
      const ask = () =>
        fetch(`${couch.root}${req.url}`, {
          method: req.method,
          headers,
          body: chunks.length > 0 ? Buffer.concat(chunks) : undefined
        })
      const target = new URL(req.url ?? '/', 'http://x')
      if (target.pathname.endsWith('/_changes'))
        return changes(target, res, async () => Buffer.from(await (await ask()).arrayBuffer()))
      const upstream = await ask()
      res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' })
      res.end(Buffer.from(await upstream.arrayBuffer()))
    })().catch((err: unknown) => res.destroy(err as Error))
  })
  await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve))
  return { root: `http://127.0.0.1:${(hostile.address() as AddressInfo).port}`, close: () => hostile.close() }
}

const flag = (name: string) => ({ kind: 'flag.set' as const, args: { flag: name, value: true } })

describe('couch sync', () => {
  it('couch - offline approval session: B approves offline, comes back, C commits, all three hold the same state', async () => {
    const url = await freshDb('offline-session')
    const { alice, bob, carol, all } = await threeDevices()
    try {
      expect((await sync(alice, url, true)).design).toBe('installed')
      const p = await propose(alice, flag('corepay_enabled'), 'payment simulation passed')
      for (const v of all) await sync(v, url)
      expect(bob.state.proposals[p.id]?.status).toBe('open')
      // bob is offline now: he reviews what synced earlier and approves
      await approve(bob, p.id)
      await alice.append('audit.note', { text: 'alice works on meanwhile' })
      await sync(alice, url)
      await sync(carol, url)
      expect(carol.state.proposals[p.id]!.approvals).toEqual([])
      // bob is back online
      await sync(bob, url)
      await sync(carol, url)
      expect((await commit(carol, p.id)).status).toBe('committed')
      for (const v of [carol, alice, bob, alice]) await sync(v, url)
      expect(new Set(all.map((v) => stateHash(v.state))).size).toBe(1)
      for (const v of all) expect(v.state.flags.corepay_enabled).toBe(true)
      for (const v of all) expect((await v.verify({ full: true })).ok).toBe(true)
    } finally {
      for (const v of all) await v.close()
    }
  })

  it('couch - forged events and deletion markers written straight into the server are quarantined on every device with the reason, never applied', async () => {
    const url = await freshDb('forgeries')
    const { alice, bob, all } = await threeDevices()
    try {
      await alice.append('audit.note', { text: 'the real note' })
      for (const v of all) await sync(v, url, v === alice)
      const before = all.map((v) => stateHash(v.state))
      const remote = remoteDb(url, ADMIN)
      const aliceNote = (await remote.get(eventDocId(alice.device, 2))) as unknown as {
        raw: string
        id: string
        type: string
        ts: string
      }
      const ev = JSON.parse(aliceNote.raw)
      // 1. bad signature: alice's next slot, signature of another event
      const badSig = canonicalize({ ...ev, seq: 3, prev: aliceNote.id, payload: { text: 'forged' } })
      // 2. valid signature, wrong vault: a stranger's vault, bob's key? we hold no honest key, so use a throwaway
      // member key of another vault
      const stranger = nacl.sign.keyPair()
      const other = signEvent(
        {
          v: 1,
          vault: 'ee'.repeat(32),
          author: toHex(stranger.publicKey),
          seq: 1,
          prev: 'ee'.repeat(32),
          ts: new Date().toISOString(),
          type: 'audit.note',
          payload: { text: 'elsewhere' },
          seen: []
        },
        stranger.secretKey
      )
      // 3. a rewritten old event. The server is not trusted: whoever controls it can drop the design doc first.
      const rewritten = canonicalize({ ...ev, payload: { text: 'the rewritten note' } })
      const design = await remote.get('_design/tresor')
      await remote.remove(design._id, design._rev!)
      const written = await remote.bulkDocs([
        { _id: eventDocId(alice.device, 3), raw: badSig, id: 'ab'.repeat(32), type: 'audit.note', ts: ev.ts },
        {
          _id: eventDocId(toHex(stranger.publicKey), 1),
          raw: other.raw,
          id: other.id,
          type: 'audit.note',
          ts: other.event.ts
        },
        { ...(aliceNote as unknown as Doc), raw: rewritten }
      ])
      expect(written.every((r) => r.ok)).toBe(true)
      // 4. a deletion marker for the genesis event
      const genesisDoc = await remote.get(eventDocId(alice.device, 1))
      await remote.remove(genesisDoc._id, genesisDoc._rev!)
      await remote.close()
      for (const v of all) {
        const s = await CouchSync.open(v, { url, credentials: WRITER })
        const round = await s.syncOnce()
        expect(round.design).toBe('missing') // reported: this server no longer enforces write-once
        expect((await s.status()).design).toBe('missing')
        await s.close()
        expect(round.quarantined).toBe(4)
        const q = await listQuarantine(v)
        const reasons = Object.fromEntries(q.map((e) => [e.docId, e.code]))
        expect(reasons[eventDocId(alice.device, 3)]).toBe('BAD_SIGNATURE')
        expect(reasons[eventDocId(toHex(stranger.publicKey), 1)]).toBe('WRONG_VAULT')
        expect(reasons[eventDocId(alice.device, 2)]).toBe('BAD_SIGNATURE')
        expect(reasons[eventDocId(alice.device, 1)]).toBe('DELETED')
        expect(q.every((e) => e.reason.length > 0 && e.doc)).toBe(true)
      }
      expect(all.map((v) => stateHash(v.state))).toEqual(before)
      for (const v of all) expect((await v.verify({ full: true })).ok).toBe(true)
      expect((await alice.store.get(alice.device, 2))!.raw).toBe(aliceNote.raw)
      // quarantine is remembered, not re-counted
      expect((await sync(bob, url)).quarantined).toBe(0)
      expect((await listQuarantine(bob)).length).toBe(4)
    } finally {
      for (const v of all) await v.close()
    }
  })

  it('couch - a server database replaced by an older copy is reported as a rollback, changes nothing here, and is signed as a sync.incident every device sees', async () => {
    const url = await freshDb('rollback')
    const { alice, bob, carol, all } = await threeDevices()
    try {
      await sync(alice, url, true)
      await couch.stop()
      const older = join(await tempDir(), 'older')
      await cp(serverDir, older, { recursive: true })
      await couch.start()
      for (let i = 0; i < 3; i++) await alice.append('audit.note', { text: `later ${i}` })
      await sync(alice, url)
      await sync(bob, url)
      const bobState = stateHash(bob.state)
      const aliceFeed = bob.heads()[alice.device]!
      await couch.stop()
      await rm(serverDir, { recursive: true })
      await cp(older, serverDir, { recursive: true })
      await couch.start()
      const round = await sync(bob, url)
      expect(round.rollback).toMatch(/serves less than it served before/)
      expect(stateHash(bob.state)).toBe(bobState)
      expect(bob.heads()[alice.device]).toEqual(aliceFeed)
      expect(bob.health.state).toBe('ok')
      const s = await CouchSync.open(bob, { url, credentials: WRITER })
      expect((await s.status()).lastRollback?.message).toMatch(/rolled back or replaced/)
      await s.close()
      // What bob saw is a signed event in bob's feed, with the marks the server fell below
      expect(round.incidents).toHaveLength(1)
      const incident = (await bob.store.get(bob.device, bob.heads()[bob.device]!.length))!
      const payload = checkIncident(decodeEvent(incident.raw, bob.vaultId).event.payload)
      expect(payload).toMatchObject({ witness: 'couchdb', kind: 'rollback', server: url })
      expect(payload.marks).toContainEqual({ author: alice.device, seq: aliceFeed.length, id: aliceFeed.head })
      // carol never saw the newer server, yet learns it happened from her next round
      await sync(carol, url)
      const seen = (await createHandlers(carol)['log.list']({ type: 'sync.incident', payloads: true })).entries
      expect(seen).toHaveLength(1)
      expect(seen[0]!.author).toBe(bob.device)
      // signed once: the next round finds the server whole again (bob pushed the lost events back)
      expect((await sync(bob, url)).incidents).toHaveLength(0)
    } finally {
      for (const v of all) await v.close()
    }
  })

  it('couch - a server that lost events from the middle of a feed gets them again, though the same round pulled the rest of that feed from it', async () => {
    const { alice, all } = await threeDevices()
    try {
      for (let i = 0; i < 9; i++) await alice.append('audit.note', { text: `note ${i}` })
      // The server holds alice's feed without events 5 and 8: alice pulls the rest from it in the round (her staging
      // has never held her own events), and must not take what it served for all it holds.
      const url = await freshDb('holes')
      const lost = [5, 8].map((seq) => eventDocId(alice.device, seq))
      const feed = Array.from({ length: 10 }, (_, i) => eventDocId(alice.device, i + 1))
      const server = remoteDb(url, ADMIN)
      await server.bulkDocs(
        (await alice.store.docsForPeer(feed)).filter((d) => !lost.includes(d._id)),
        {
          new_edits: false
        }
      )
      await server.close()
      const round = await sync(alice, url, true)
      expect(round.duplicates).toBe(8) // served, and already hers
      expect(round.pushed).toBe(2)
      for (const id of lost)
        expect((await couch.request('GET', `/holes/${encodeURIComponent(id)}`, undefined, ADMIN)).status, id).toBe(200)
    } finally {
      for (const v of all) await v.close()
    }
  })

  it('couch - the server stopped in the middle of a sync and restarted: sync resumes, nothing lost or duplicated', async () => {
    const url = await freshDb('restart')
    const { alice, bob, all } = await threeDevices()
    try {
      await sync(alice, url, true)
      for (let i = 0; i < 1500; i++) void alice.append('audit.note', { text: `reading ${i}` })
      await alice.flush()
      const s = await CouchSync.open(alice, { url, credentials: WRITER })
      const interrupted = s.syncOnce()
      // kill the server once part of the push has landed: mid-sync, whatever the machine's speed
      for (let i = 0; i < 400; i++) {
        const count = (await couch.request('GET', '/restart', undefined, ADMIN)).json.doc_count as number
        if (count > 1) break
        await new Promise((r) => setTimeout(r, 5))
      }
      await couch.stop('SIGKILL')
      await expect(interrupted).rejects.toThrow()
      expect((await s.status()).online).toBe(false)
      await couch.start()
      const resumed = await s.syncOnce()
      expect(resumed.denied).toEqual([])
      expect((await s.status()).pendingUp).toBe(0)
      await s.close()
      const info = await couch.request('GET', '/restart', undefined, ADMIN)
      expect(info.json.doc_count).toBe(1 + 1501) // the design doc and alice's 1501 events, each once
      await sync(bob, url)
      expect(bob.heads()[alice.device]!.length).toBe(alice.heads()[alice.device]!.length)
      expect((await bob.verify({ full: true })).ok).toBe(true)
    } finally {
      for (const v of all) await v.close()
    }
  })

  it('couch - an update to an event doc is refused by the design document; refused pushes are surfaced and retried by comparing heads', async () => {
    const url = await freshDb('write-once')
    const { alice, bob, all } = await threeDevices()
    try {
      await sync(alice, url, true)
      const id = eventDocId(alice.device, 1)
      const doc = await couch.request('GET', `/write-once/${encodeURIComponent(id)}`, undefined, WRITER)
      const update = await couch.request(
        'PUT',
        `/write-once/${encodeURIComponent(id)}`,
        { ...doc.json, raw: 'changed' },
        WRITER
      )
      expect(update.status).toBe(403)
      expect(update.json.reason).toMatch(/write-once/)
      const del = await couch.request(
        'DELETE',
        `/write-once/${encodeURIComponent(id)}?rev=${doc.json._rev}`,
        undefined,
        ADMIN
      )
      expect(del.status).toBe(403)
      // bob syncs with a reviewer account (no writer role): his events are refused and he is told so
      await bob.append('audit.note', { text: 'bob was here' })
      const s = await CouchSync.open(bob, { url, credentials: REVIEWER })
      const round = await s.syncOnce()
      expect(round.denied.map((d) => d.id)).toContain(eventDocId(bob.device, 1))
      expect(round.denied[0]!.reason).toMatch(/only Tresor writers may push/)
      expect((await s.status()).denied.length).toBeGreaterThan(0)
      expect((await s.status()).pendingUp).toBe(1)
      // hosts show the same status through the API, sync's extension of core's registry
      expect(await createHandlers(bob, {}, [syncDomain({ live: () => s })])['sync.status']({})).toMatchObject({
        pendingUp: 1,
        online: true
      })
      // the server admin grants the role; the next round compares heads and sends what is missing
      await addUser(couch, REVIEWER.username, REVIEWER.password, ['tresor-writer'])
      const retry = await s.syncOnce()
      expect(retry.denied).toEqual([])
      expect(retry.pushed).toBeGreaterThanOrEqual(1)
      expect((await s.status()).pendingUp).toBe(0)
      await s.close()
    } finally {
      for (const v of all) await v.close()
    }
  })

  it('couch - a pulled event is written once, to the log: staging holds only what waits, and a round reads only what came since its point in the server feed', async () => {
    const url = await freshDb('written-once')
    const { alice, bob, all } = await threeDevices()
    try {
      for (let i = 0; i < 20; i++) await alice.append('audit.note', { text: `note ${i}` })
      await sync(alice, url, true)
      const s = await CouchSync.open(bob, { url, credentials: WRITER })
      try {
        const first = await s.syncOnce()
        expect(first.admitted).toBe(20) // genesis bob holds from the bundle he joined with
        expect((await s.stagingDb.info()).doc_count).toBe(0) // nothing waits, nothing staged
        // alice signs three more and sends only the last to the server: it waits for the two before it
        for (let i = 0; i < 3; i++) await alice.append('audit.note', { text: `later ${i}` })
        const server = remoteDb(url, ADMIN)
        await server.bulkDocs(await alice.store.docsForPeer([eventDocId(alice.device, 24)]), { new_edits: false })
        const waits = await s.syncOnce()
        expect(waits).toMatchObject({ pulled: 1, admitted: 0, waiting: 1 })
        expect((await s.stagingDb.allDocs({})).rows.map((r) => r.id)).toEqual([eventDocId(alice.device, 24)])
        // the two it waits for arrive: the round reads those two, and takes the staged one in after them
        await server.bulkDocs(await alice.store.docsForPeer([22, 23].map((seq) => eventDocId(alice.device, seq))), {
          new_edits: false
        })
        await server.close()
        expect(await s.syncOnce()).toMatchObject({ pulled: 2, admitted: 3, waiting: 0, quarantined: 0 })
        expect(bob.heads()[alice.device]).toEqual(alice.heads()[alice.device])
        expect(await s.syncOnce()).toMatchObject({ pulled: 0, admitted: 0, duplicates: 0 })
      } finally {
        await s.close()
      }
      expect((await bob.verify({ full: true })).ok).toBe(true)
    } finally {
      for (const v of all) await v.close()
    }
  })

  it('couch - a server database replaced at the same address is read from its start: an event it holds below the old point is taken', async () => {
    const url = await freshDb('replaced-feed')
    const { alice, bob, all } = await threeDevices()
    try {
      for (let i = 0; i < 10; i++) await alice.append('audit.note', { text: `note ${i}` })
      await sync(alice, url, true)
      await sync(bob, url)
      expect(bob.heads()[alice.device]!.length).toBe(11)
      // The database is made again: alice's next event is the first change in it, then what it held before. Nothing
      // bob was told it held is missing (no rollback to see), and its feed is as long as the one bob read.
      await alice.append('audit.note', { text: 'written into the new database first' })
      await couch.request('DELETE', '/replaced-feed', undefined, ADMIN)
      await freshDb('replaced-feed')
      const server = remoteDb(url, ADMIN)
      await server.bulkDocs(await alice.store.docsForPeer([eventDocId(alice.device, 12)]), { new_edits: false })
      const older = Array.from({ length: 11 }, (_, i) => eventDocId(alice.device, i + 1))
      for (const id of older) await server.bulkDocs(await alice.store.docsForPeer([id]), { new_edits: false })
      await server.close()
      const round = await sync(bob, url)
      expect(round.rollback).toBeNull()
      expect(round).toMatchObject({ pulled: 12, admitted: 1, duplicates: 11 })
      expect(bob.heads()[alice.device]).toEqual(alice.heads()[alice.device])
    } finally {
      for (const v of all) await v.close()
    }
  })

  it('couch - a server feed that serves rows without a document and will not move past its page is read once: the rows are quarantined with their reason, the events beside them taken', async () => {
    const url = await freshDb('stuck-feed')
    const { alice, bob, all } = await threeDevices()
    // A server in front of the real one whose changes feed adds rows that are no document, pads each answer to a
    // full page and names as its last sequence the one asked from: a reader that trusts it asks for ever.
    let asked = 0
    const hostile = await inFrontOfCouch(async (target, res, upstream) => {
      asked++
      const feed = JSON.parse((await upstream()).toString()) as { results: unknown[]; last_seq: unknown }
      const junk = [{ id: 'no-doc', seq: 1 }, { id: 'bad-rev', seq: 2, doc: { _id: 'x', _rev: 'forged' } }, null]
      const rows = [...feed.results, ...junk]
      while (rows.length < 500) rows.push({ seq: rows.length })
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ results: rows, last_seq: target.searchParams.get('since') ?? 0 }))
    })
    try {
      for (let i = 0; i < 3; i++) await alice.append('audit.note', { text: `note ${i}` })
      await sync(alice, url, true)
      const round = await sync(bob, `${hostile.root}/stuck-feed`)
      expect(asked).toBe(1)
      expect(round.admitted).toBe(3)
      expect(bob.heads()[alice.device]).toEqual(alice.heads()[alice.device])
      const kept = (await listQuarantine(bob)).filter((q) => q.code === 'MALFORMED_DOC')
      expect(kept.length).toBeGreaterThanOrEqual(3)
      expect(kept[0]!.reason).toMatch(/without a document that has an id and a revision/)
    } finally {
      hostile.close()
      for (const v of all) await v.close()
    }
  })

  it('couch - a sync state from before the point in the feed (no `pull` in sync-couch.json) still reads: its next round reads the feed from the start and takes nothing twice', async () => {
    const url = await freshDb('state-before-point')
    const { alice, bob, all } = await threeDevices()
    try {
      for (let i = 0; i < 5; i++) await alice.append('audit.note', { text: `note ${i}` })
      await sync(alice, url, true)
      await sync(bob, url)
      // what the code before this format wrote: the same file without the point (v 1, nothing else changed)
      const file = join(bob.dir, SYNC_STATE_FILE)
      const state = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>
      expect(state.pull).toMatchObject({ confirmed: true })
      delete state.pull
      await writeFile(file, JSON.stringify(state))
      await alice.append('audit.note', { text: 'one more' })
      await sync(alice, url)
      const round = await sync(bob, url)
      expect(round).toMatchObject({ admitted: 1, duplicates: 6, quarantined: 0, waiting: 0, rollback: null })
      expect(bob.heads()[alice.device]).toEqual(alice.heads()[alice.device])
      expect(JSON.parse(await readFile(file, 'utf8')).pull).toMatchObject({ confirmed: true })
    } finally {
      for (const v of all) await v.close()
    }
  })

  it('couch - a server that answers the changes feed with a page larger than any page of events is refused with the reason, and nothing is taken in', async () => {
    const url = await freshDb('huge-page')
    const { alice, bob, all } = await threeDevices()
    await alice.append('audit.note', { text: 'a note' })
    await sync(alice, url, true)
    let sent = 0
    // a page that never ends: a megabyte of rows at a time, until the reader stops reading
    const hostile = await inFrontOfCouch(async (_target, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write('{"results":[')
      const mib = '{"seq":1,"id":"x"},'.repeat(55_189)
      res.on('error', () => undefined)
      while (!res.destroyed && sent < 200 * 2 ** 20) {
        sent += mib.length
        if (!res.write(mib)) await new Promise((r) => res.once('drain', r).once('close', r))
      }
      res.end()
    })
    try {
      const held = bob.heads()
      await expect(sync(bob, `${hostile.root}/huge-page`)).rejects.toThrow(/changes page of one row of more than/)
      expect(sent).toBeLessThan(200 * 2 ** 20) // it stopped reading
      expect(bob.heads()).toEqual(held)
      expect(bob.health.state).toBe('ok')
    } finally {
      hostile.close()
      for (const v of all) await v.close()
    }
  })

  it('couch - a feed of large events is read in smaller pages, each within the bound: every event arrives', async () => {
    const url = await freshDb('large-events')
    const { alice, bob, all } = await threeDevices()
    try {
      // 600 notes of ~30 KiB: 500 of them, a full page, are more than MAX_PAGE_BYTES
      const text = 'x'.repeat(30 * 1024)
      for (let i = 0; i < 600; i++) void alice.append('audit.note', { text: `${i} ${text}` })
      await alice.flush()
      expect(500 * 30 * 1024).toBeGreaterThan(MAX_PAGE_BYTES)
      await sync(alice, url, true)
      const round = await sync(bob, url)
      expect(round).toMatchObject({ admitted: 600, quarantined: 0, waiting: 0 })
      expect(bob.heads()[alice.device]).toEqual(alice.heads()[alice.device])
    } finally {
      for (const v of all) await v.close()
    }
  })
})
