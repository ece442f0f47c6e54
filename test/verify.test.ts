import { afterAll, describe, expect, it, vi } from 'vitest'
import nacl from 'tweetnacl'
import { cp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { Vault } from '../core/vault.js'
import { eventDocId, LogStore, type EventDoc } from '../core/store.js'
import { decodeEvent, signEvent, type DecodedEvent } from '../core/envelope.js'
import { canonicalize } from '../core/canonical.js'
import { sha256Hex, toHex } from '../core/bytes.js'
import { POINT_FILE } from '../core/verified-point.js'
import { makeCheckpoint } from '../core/proofs/prover.js'
import { readFile, writeFile } from 'node:fs/promises'
import { VaultError } from '../core/errors.js'
import { WorkerChecker, inlineChecker, type EventChecker } from '../core/verify-pool.js'
import { checkBodies, checkRaws, type BodiesCheck } from '../core/check-events.js'
import { verifyFull } from '../core/verify.js'
import { rootOf, rootOfIds } from '../core/proofs/merkle.js'
import { CHECKPOINT_TYPE, eventLeaf, recordLeaf } from '../core/proofs/checkpoint.js'
import { storedBodyTexts } from '../core/pouch.js'
import fc from 'fast-check'
import { cleanupDirs, makeVault, PASS, tempDir, withRawDb } from './helpers.js'
import type { Db } from '../core/pouch.js'
import { propose } from '../core/governance/calls.js'

const bob = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(0xb0))
const BOB = toHex(bob.publicKey)
const BOB_MEMBER = { name: 'bob', roles: ['chain'], keys: [BOB] }

/** Write a document as a winning revision 1 branch: the strongest tamper PouchDB allows (no rev bump to notice). */
async function forceWrite(db: Db, doc: Partial<EventDoc> & { _id: string }): Promise<void> {
  const res = await db.bulkDocs([{ ...doc, _rev: '1-ffffffffffffffffffffffffffffffff' }], { new_edits: false })
  expect(res.every((r) => !r.error)).toBe(true)
}

async function docOf(db: Db, author: string, seq: number): Promise<EventDoc> {
  return (await db.get(eventDocId(author, seq))) as unknown as EventDoc
}

function bobEvent(
  vault: string,
  seq: number,
  prev: string,
  text: string,
  over: Record<string, unknown> = {}
): DecodedEvent {
  return signEvent(
    {
      v: 1,
      vault,
      author: BOB,
      seq,
      prev,
      ts: '2026-05-01T00:00:00.000Z',
      type: 'audit.note',
      payload: { text },
      seen: [],
      ...over
    },
    bob.secretKey
  )
}

function docFor(d: DecodedEvent): EventDoc {
  return { _id: eventDocId(d.event.author, d.event.seq), raw: d.raw, id: d.id, type: d.event.type, ts: d.event.ts }
}

async function reopen(dir: string, full = false): Promise<Vault> {
  const v = await Vault.open({ dir, full })
  return v
}

async function appendCode(v: Vault): Promise<string> {
  try {
    await v.append('audit.note', { text: 'more' })
  } catch (e) {
    return (e as VaultError).code
  }
  return 'NO_ERROR'
}

async function setup(notes = 6, members = [BOB_MEMBER]) {
  const vault = await makeVault({ notes, members })
  const { dir, device, vaultId } = vault
  await vault.close()
  return { dir, device, vaultId }
}

describe('verify', () => {
  afterAll(cleanupDirs)

  it('vault - closing twice is harmless', async () => {
    const vault = await makeVault({ notes: 1 })
    await Promise.all([vault.close(), vault.close()])
    await vault.close()
    const again = await Vault.open({ dir: vault.dir })
    expect(again.health.state).toBe('ok')
    await again.close()
  })

  it('verify - a clean vault verifies fully and starts incrementally', async () => {
    const { dir } = await setup(5)
    const v = await reopen(dir)
    expect(v.health.state).toBe('ok')
    expect(v.health.report).toMatchObject({ ok: true, mode: 'incremental', checked: 0 })
    const full = await v.verify({ full: true })
    expect(full).toMatchObject({ ok: true, mode: 'full', checked: 6, total: 6 })
    await v.close()
  })

  it('verify - a changed event is named, the vault goes READ-ONLY, nothing is lost or overwritten', async () => {
    const { dir, device } = await setup()
    const original = await withRawDb(dir, async (db) => {
      const doc = await docOf(db, device, 4)
      await db.put({ ...doc, raw: doc.raw.replace('note 2', 'note X') } as never)
      return doc
    })
    const v = await reopen(dir)
    expect(v.health.state).toBe('read-only')
    expect(v.health.report!.issues[0]).toMatchObject({ code: 'REWRITTEN', docId: eventDocId(device, 4) })
    await v.unlock(PASS)
    expect(await appendCode(v)).toBe('READ_ONLY')
    // One gate for everything that writes or vouches: appends, governance, ingest, proofs all refuse alike.
    const refusals = await Promise.all(
      [
        v.append('audit.note', { text: 'more' }),
        propose(v, { kind: 'flag.set', args: { flag: 'finance_enabled', value: true } }, 'r'),
        v.ingest([]),
        makeCheckpoint(v)
      ].map((p) =>
        p.then(
          () => null,
          (e: VaultError) => `${e.code}: ${e.message.replace(/\): .*/, ')')}`
        )
      )
    )
    expect(new Set(refusals).size).toBe(1)
    expect(refusals[0]).toMatch(/^READ_ONLY: vault is READ-ONLY \(1 verification issue\(s\); first: REWRITTEN/)
    const full = await v.verify({ full: true })
    expect(full.ok).toBe(false)
    expect(full.issues.map((i) => i.docId)).toContain(eventDocId(device, 4))
    expect(await v.store.count()).toBe(7)
    expect((await v.store.get(device, 4))!.id).toBe(original.id) // the index hint survived; the raw did not
    await v.close()
  })

  it('verify - a rewritten governance event (the genesis) opens READ-ONLY with the reason, not as a failed open', async () => {
    const { dir, device } = await setup()
    await withRawDb(dir, async (db) => {
      const doc = await docOf(db, device, 1)
      await db.put({ ...doc, raw: doc.raw.replace('"name":', '"name": ') } as never)
    })
    const v = await reopen(dir)
    expect(v.health.state).toBe('read-only')
    expect(v.health.report!.issues.map((i) => i.docId)).toContain(eventDocId(device, 1))
    await v.close()
  })

  it('verify - a forged winning revision 1 (no revision bump to notice) is caught as a second body for the slot', async () => {
    const { dir, device } = await setup()
    await withRawDb(dir, async (db) => {
      const doc = await docOf(db, device, 3)
      await forceWrite(db, { ...doc, raw: doc.raw.replace('note 1', 'note Y') })
    })
    const v = await reopen(dir, true)
    expect(v.health.state).toBe('read-only')
    expect(v.health.report!.issues[0]).toMatchObject({ code: 'REWRITTEN', docId: eventDocId(device, 3), seq: 3 })
    await v.close()
  })

  it('verify - a losing forged revision beside an event written since the last point is caught by a normal start', async () => {
    const { dir, vaultId } = await setup(1) // closed: the point covers what the vault holds
    const b1 = bobEvent(vaultId, 1, vaultId, 'one')
    const forged = bobEvent(vaultId, 1, vaultId, 'forged')
    await withRawDb(dir, async (db) => {
      await new LogStore(db).putMany([b1]) // written after the point: the next normal start checks it
      // A second leaf for the slot that loses to the honest one (a lower revision hash): the changes feed and a read
      // of the document show the honest body only.
      const res = await db.bulkDocs([{ ...docFor(forged), _rev: '1-00000000000000000000000000000000' }], {
        new_edits: false
      })
      expect(res.every((r) => !r.error)).toBe(true)
      expect(((await db.get(eventDocId(BOB, 1))) as unknown as EventDoc).raw).toBe(b1.raw)
    })
    const v = await reopen(dir)
    expect(v.health.report!.mode).toBe('incremental')
    expect(v.health.state).toBe('read-only')
    expect(v.health.report!.issues[0]).toMatchObject({ code: 'REWRITTEN', docId: eventDocId(BOB, 1) })
    await v.close()
  })

  it('verify - a deleted event is named by the full and the incremental check', async () => {
    const { dir, device } = await setup()
    await withRawDb(dir, async (db) => {
      const doc = await docOf(db, device, 3)
      await db.remove(doc._id, doc._rev!)
    })
    const inc = await reopen(dir)
    expect(inc.health.report!.issues[0]).toMatchObject({ code: 'DELETED', docId: eventDocId(device, 3) })
    const full = await inc.verify({ full: true })
    expect(full.issues[0]).toMatchObject({ code: 'DELETED', docId: eventDocId(device, 3) })
    expect(inc.health.state).toBe('read-only')
    await inc.close()
  })

  it('verify - a database rolled back to an older copy is reported as truncation, by a full and a normal start', async () => {
    const vault = await makeVault({ notes: 3 })
    const { dir, device } = vault
    await vault.close()
    const older = await tempDir()
    await cp(join(dir, 'events.db'), older, { recursive: true })
    const v0 = await Vault.open({ dir })
    await v0.unlock(PASS)
    await v0.append('audit.note', { text: 'after the copy' })
    await v0.close()
    await rm(join(dir, 'events.db'), { recursive: true })
    await cp(older, join(dir, 'events.db'), { recursive: true })
    const v = await Vault.open({ dir })
    expect(v.health.state).toBe('read-only')
    expect(v.health.report!.issues.map((i) => i.code)).toContain('TRUNCATED')
    await v.close()
    const full = await reopen(dir, true)
    expect(full.health.report!.issues).toEqual([expect.objectContaining({ code: 'TRUNCATED', author: device })])
    await full.close()
  })

  it('verify - reordered events are named: swapped between slots (REWRITTEN) or copied to a free slot (MISPLACED)', async () => {
    const { dir, device } = await setup()
    await withRawDb(dir, async (db) => {
      const a = await docOf(db, device, 4),
        b = await docOf(db, device, 5)
      await forceWrite(db, { ...a, raw: b.raw, id: b.id })
      await forceWrite(db, { ...b, raw: a.raw, id: a.id })
    })
    let v = await reopen(dir, true)
    expect(v.health.report!.issues[0]).toMatchObject({ code: 'REWRITTEN', docId: eventDocId(device, 4) })
    await v.close()

    const second = await setup()
    await withRawDb(second.dir, async (db) => {
      const a = await docOf(db, second.device, 4)
      await db.put({ _id: eventDocId(second.device, 8), raw: a.raw, id: a.id, type: a.type, ts: a.ts } as never)
    })
    v = await reopen(second.dir, true)
    expect(v.health.report!.issues[0]).toMatchObject({ code: 'MISPLACED', docId: eventDocId(second.device, 8) })
    await v.close()
  })

  it('verify - events stored out of feed order still verify (they wait for their predecessor)', async () => {
    const { dir, vaultId } = await setup(1)
    const b1 = bobEvent(vaultId, 1, vaultId, 'one')
    const b2 = bobEvent(vaultId, 2, b1.id, 'two')
    const b3 = bobEvent(vaultId, 3, b2.id, 'three')
    await withRawDb(dir, async (db) => {
      const store = new LogStore(db)
      await store.put(b3)
      await store.put(b1)
      await store.put(b2)
    })
    const v = await reopen(dir, true)
    expect(v.health.report).toMatchObject({ ok: true, total: 5 })
    expect(v.health.report!.feeds[BOB]).toEqual({ length: 3, head: b3.id })
    await v.close()
  })

  it('verify - non-canonical, oversized and malleated bytes are each named', async () => {
    const L = (1n << 252n) + 27742317777372353535851937790883648493n
    const malleate = (raw: string) => {
      const ev = JSON.parse(raw)
      const sig = Buffer.from(ev.sig, 'hex')
      const s = BigInt('0x' + Buffer.from(sig.subarray(32)).reverse().toString('hex')) + L
      Buffer.from(s.toString(16).padStart(64, '0'), 'hex').reverse().copy(sig, 32)
      return canonicalize({ ...ev, sig: sig.toString('hex') })
    }
    const cases: [string, (raw: string) => string][] = [
      ['NON_CANONICAL', (raw) => JSON.stringify(JSON.parse(raw), null, 1)],
      ['OVERSIZED', (raw) => raw.replace('"one"', JSON.stringify('x'.repeat(70_000)))],
      ['BAD_SIGNATURE', malleate]
    ]
    for (const [code, mangle] of cases) {
      const { dir, vaultId } = await setup(1)
      const b1 = bobEvent(vaultId, 1, vaultId, 'one')
      await withRawDb(dir, async (db) => {
        await db.put({ ...docFor(b1), raw: mangle(b1.raw) } as never)
      })
      const v = await reopen(dir, true)
      expect(v.health.report!.issues[0], code).toMatchObject({ code, docId: eventDocId(BOB, 1) })
      await v.close()
    }
  })

  it("verify - a gap in another member's feed is named", async () => {
    const { dir, vaultId } = await setup(1)
    const b1 = bobEvent(vaultId, 1, vaultId, 'one')
    const b2 = bobEvent(vaultId, 2, b1.id, 'two')
    const b3 = bobEvent(vaultId, 3, b2.id, 'three')
    await withRawDb(dir, async (db) => {
      await new LogStore(db).putMany([b1, b3])
    })
    const v = await reopen(dir, true)
    expect(v.health.report!.issues[0]).toMatchObject({ code: 'GAP', docId: eventDocId(BOB, 3) })
    await v.close()
  })

  it('verify - an event for another vault id, or replayed from another vault, is WRONG_VAULT', async () => {
    const { dir, vaultId } = await setup(1)
    const other = await makeVault({ notes: 1, members: [BOB_MEMBER] })
    const replayed = (await other.store.get(BOB, 1)) ?? null
    expect(replayed).toBeNull()
    // bob signed honestly in the other vault; someone replays it here
    const inOther = bobEvent(other.vaultId, 1, other.vaultId, 'for the other vault')
    await other.close()
    await withRawDb(dir, async (db) => {
      await db.put(docFor(inOther) as never)
    })
    let v = await reopen(dir, true)
    expect(v.health.report!.issues[0]).toMatchObject({ code: 'WRONG_VAULT', docId: eventDocId(BOB, 1) })
    await v.close()

    // a whole event from another vault's founder replayed into this one
    const { dir: dir2 } = await setup(1)
    const foreign = await makeVault({ notes: 2 })
    await foreign.flush()
    const doc = (await foreign.store.get(foreign.device, 2))!
    await foreign.close()
    await withRawDb(dir2, async (db) => {
      await db.put({ _id: doc._id, raw: doc.raw, id: doc.id, type: doc.type, ts: doc.ts } as never)
    })
    v = await reopen(dir2, true)
    expect(v.health.report!.issues[0]).toMatchObject({ code: 'WRONG_VAULT' })
    expect(vaultId).not.toBe(foreign.vaultId)
    await v.close()
  })

  it('verify - an event from a small-order key is WEAK_KEY, from a stranger UNKNOWN_AUTHOR', async () => {
    const { dir, vaultId } = await setup(1)
    const weak = 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa'
    const raw = canonicalize({
      author: weak,
      payload: { text: 'x' },
      prev: vaultId,
      seen: [],
      seq: 1,
      sig: 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a' + '00'.repeat(32),
      ts: '2026-05-01T00:00:00.000Z',
      type: 'audit.note',
      v: 1,
      vault: vaultId
    })
    const stranger = nacl.sign.keyPair()
    const s1 = signEvent(
      {
        v: 1,
        vault: vaultId,
        author: toHex(stranger.publicKey),
        seq: 1,
        prev: vaultId,
        ts: '2026-05-01T00:00:00.000Z',
        type: 'audit.note',
        payload: { text: 'hi' },
        seen: []
      },
      stranger.secretKey
    )
    await withRawDb(dir, async (db) => {
      await db.put({
        _id: eventDocId(weak, 1),
        raw,
        id: 'x',
        type: 'audit.note',
        ts: '2026-05-01T00:00:00.000Z'
      } as never)
      await db.put(docFor(s1) as never)
    })
    const v = await reopen(dir, true)
    const codes = Object.fromEntries(v.health.report!.issues.map((i) => [i.author, i.code]))
    expect(codes[weak]).toBe('WEAK_KEY')
    expect(codes[toHex(stranger.publicKey)]).toBe('UNKNOWN_AUTHOR')
    await v.close()
  })

  it("verify - another member's fork keeps both events as evidence and flags the key, never makes this device READ-ONLY, on full and normal starts alike", async () => {
    const { dir, vaultId } = await setup(1)
    const b1 = bobEvent(vaultId, 1, vaultId, 'one')
    const b2 = bobEvent(vaultId, 2, b1.id, 'two')
    const b2x = bobEvent(vaultId, 2, b1.id, 'two, other version')
    const b3 = bobEvent(vaultId, 3, b2.id, 'three')
    await withRawDb(dir, async (db) => {
      const store = new LogStore(db)
      await store.putMany([b1, b2, b3])
      await store.putForkEvidence(b2x)
      await store.putForkEvidence(b2x) // evidence arriving twice is kept once
    })
    const v = await reopen(dir, true)
    const r = v.health.report!
    expect(r.ok).toBe(true)
    expect(r.forks).toEqual([{ author: BOB, seq: 2, ids: [b2.id, b2x.id].sort() }])
    // The feed is not cut at the fork (governance decides what its events count for), so the verified point stays
    // consistent.
    expect(r.feeds[BOB]).toEqual({ length: 3, head: b3.id })
    expect(v.health.state).toBe('ok')
    expect((await v.store.get(BOB, 2))!.id).toBe(b2.id)
    expect(await v.store.count()).toBe(2 + 3 + 1)
    await v.unlock(PASS)
    await v.close()
    for (const full of [false, true, false, false]) {
      const again = await reopen(dir, full)
      expect(again.health, `after a ${full ? 'full' : 'normal'} start`).toMatchObject({ state: 'ok', reason: null })
      expect(again.health.report!.forks).toHaveLength(1)
      await again.unlock(PASS)
      await again.close()
    }
  })

  it("verify - a fork of this device's own key (restored backup) puts the vault in READ-ONLY", async () => {
    const vault = await makeVault({ notes: 2 })
    const { dir } = vault
    await vault.close()
    const backup = await tempDir()
    await cp(dir, backup, { recursive: true })
    const a = await Vault.open({ dir: backup })
    await a.unlock(PASS)
    const forked = await a.append('audit.note', { text: 'written on the restored copy' })
    await a.close()
    const v = await Vault.open({ dir })
    await v.unlock(PASS)
    await v.append('audit.note', { text: 'written on the original' })
    await v.store.putForkEvidence(forked)
    const r = await v.verify({ full: true })
    expect(r.forks).toHaveLength(1)
    expect(v.health.state).toBe('read-only')
    expect(v.health.reason).toMatch(/signed two different events at seq 4/)
    expect(await appendCode(v)).toBe('READ_ONLY')
    await v.close()
  })

  it('verify - a doc planted in the event range keeps the vault READ-ONLY across restarts until a full check passes', async () => {
    const { dir } = await setup(2)
    await withRawDb(dir, async (db) => {
      await db.put({ _id: 'ev!planted', raw: '{}' } as never)
    })
    let v = await reopen(dir, true)
    expect(v.health.report!.issues[0]).toMatchObject({ code: 'STRAY_DOC', docId: 'ev!planted' })
    await v.close()
    v = await reopen(dir) // a normal start does not forget the failure
    expect(v.health.state).toBe('read-only')
    await v.close()
    await withRawDb(dir, async (db) => {
      const d = await db.get('ev!planted')
      await db.remove(d._id, d._rev!)
    })
    v = await reopen(dir)
    await v.unlock(PASS)
    await v.verify({ full: true })
    expect(v.health.state).toBe('ok')
    expect(await appendCode(v)).toBe('NO_ERROR')
    await v.close()
  })

  it('verify - a tampered verified point is not trusted: the start falls back to a full check', async () => {
    const { dir } = await setup(3)
    const p = JSON.parse(await readFile(join(dir, POINT_FILE), 'utf8'))
    await writeFile(join(dir, POINT_FILE), JSON.stringify({ ...p, updateSeq: p.updateSeq + 1000 }))
    const v = await reopen(dir)
    expect(v.health.report).toMatchObject({ ok: true, mode: 'full', checked: 4 })
    await v.close()
  })

  it('verify - what the gate admitted is read back, not checked twice, when the next point is signed; bytes changed on disk since are checked and caught', async () => {
    const vault = await makeVault({ notes: 1, members: [BOB_MEMBER] })
    const { dir, vaultId } = vault
    const bobs: DecodedEvent[] = []
    for (let seq = 1, prev = vaultId; seq <= 35; seq++, prev = bobs.at(-1)!.id)
      bobs.push(bobEvent(vaultId, seq, prev, `note ${seq}`))
    const take = (ds: DecodedEvent[], v: Vault) =>
      v.ingest(ds.map((d) => ({ docId: eventDocId(BOB, d.event.seq), raw: d.raw })))
    expect((await take(bobs.slice(0, 30), vault)).every((x) => x.decision === 'ADMIT')).toBe(true)
    const asked: unknown[] = []
    const spy = vi.spyOn(inlineChecker, 'check').mockImplementation(async (raws, vault) => {
      asked.push(...raws)
      return checkRaws(raws, vault)
    })
    try {
      await vault.close() // signs a point over bob's 30 events without checking them again
      expect(asked.length).toBe(1) // alice's own note, appended here, not through the gate
      expect(asked.filter((r) => bobs.some((b) => b.raw === r))).toEqual([])
      asked.length = 0
      const again = await reopen(dir)
      expect(again.health.state).toBe('ok')
      expect(again.heads()[BOB]).toEqual({ length: 30, head: bobs[29]!.id })
      await again.unlock(PASS)
      expect((await take(bobs.slice(30), again)).every((x) => x.decision === 'ADMIT')).toBe(true)
      asked.length = 0 // the gate's own checks of #31..#35
      // Behind the vault's back, #33's stored bytes change (a winning revision 1: no revision bump to notice).
      const forged = JSON.parse(bobs[32]!.raw) as { payload: { text: string } }
      forged.payload.text = 'forged'
      const raw = canonicalize(forged as never)
      await forceWrite(again.store.db, { ...docFor(bobs[32]!), raw, id: sha256Hex(raw) })
      await again.close()
      expect(asked).toEqual([raw]) // the changed bytes, and only they, were checked: the point was not signed
    } finally {
      spy.mockRestore()
    }
    const after = await reopen(dir)
    expect(after.health.state).toBe('read-only')
    // The normal start reads every body written since the point: #33's honest one and the second one beside it.
    expect(after.health.report!.issues[0]).toMatchObject({ code: 'REWRITTEN', docId: eventDocId(BOB, 33) })
    await after.close()
  })

  it('verify - the gate does not check a signature again for bytes the vault holds in that slot: they are duplicates; a changed byte is checked and refused', async () => {
    const vault = await makeVault({ notes: 1, members: [BOB_MEMBER] })
    const bobs: DecodedEvent[] = []
    for (let seq = 1, prev = vault.vaultId; seq <= 20; seq++, prev = bobs.at(-1)!.id)
      bobs.push(bobEvent(vault.vaultId, seq, prev, `note ${seq}`))
    const take = (raws: string[]) => vault.ingest(raws.map((raw, i) => ({ docId: eventDocId(BOB, i + 1), raw })))
    expect((await take(bobs.map((d) => d.raw))).every((x) => x.decision === 'ADMIT')).toBe(true)
    const asked: unknown[] = []
    const spy = vi.spyOn(inlineChecker, 'check').mockImplementation(async (raws, id) => {
      asked.push(...raws)
      return checkRaws(raws, id)
    })
    try {
      // the feed read back (a round after a push): twenty duplicates, no signature checked
      expect((await take(bobs.map((d) => d.raw))).map((x) => x.decision)).toEqual(Array(20).fill('DUPLICATE'))
      expect(asked).toEqual([])
      // one of them with a byte changed: that one is checked, and its signature does not hold
      const changed = bobs.map((d) => d.raw)
      changed[6] = changed[6]!.replace('note 7', 'note 8')
      const verdicts = await take(changed)
      expect(asked).toEqual([changed[6]])
      expect(verdicts.find((x) => x.docId === eventDocId(BOB, 7))).toMatchObject({ decision: 'QUARANTINE' })
      expect(verdicts.filter((x) => x.decision === 'DUPLICATE')).toHaveLength(19)
    } finally {
      spy.mockRestore()
      await vault.close()
    }
  })

  it('verify - the worker pool decides exactly as the inline checker', async () => {
    const vault = await makeVault({ notes: 30 })
    const raws: unknown[] = []
    for await (const page of vault.store.scan()) raws.push(...page.map((d) => d.raw))
    raws.push('{', 'x'.repeat(100), (raws[3] as string).replace('note', 'nope'), 42, null)
    const bodies: string[] = []
    for await (const page of storedBodyTexts(vault.store.db)) bodies.push(...page)
    bodies.push('{', '{"_id":"ev!x"}', JSON.stringify({ _id: eventDocId(vault.device, 99), raw: raws[3] }))
    const ids = Array.from({ length: 77 }, (_, i) => sha256Hex(`event ${i}`)).join('')
    const pool = new WorkerChecker(2)
    try {
      expect(await pool.check(raws, vault.vaultId)).toEqual(await inlineChecker.check(raws, vault.vaultId))
      // The pool cuts the page between its workers, and so a run at the cut: compared event by event.
      const eventByEvent = ({ items, forks }: BodiesCheck) => ({
        forks,
        events: items.flatMap((it): unknown[] =>
          it.run
            ? Array.from({ length: it.count }, (_, k) => [it.author, it.seq + k, it.ids.slice(k * 64, k * 64 + 64)])
            : [it]
        )
      })
      const inline = await inlineChecker.checkBodies(bodies, vault.vaultId)
      expect(inline.items.some((it) => it.run && it.count > 10)).toBe(true)
      expect(eventByEvent(await pool.checkBodies(bodies, vault.vaultId))).toEqual(eventByEvent(inline))
      expect(toHex(await pool.root(ids))).toBe(toHex(rootOfIds(ids)))
      // Large roots are dealt out as perfect subtrees of 4096 leaves and the rest: around the edges of that.
      const many = Array.from({ length: 3 * 4096 + 5 }, (_, i) => sha256Hex(`event ${i}`)).join('')
      for (const n of [0, 1, 8191, 8192, 8193, 3 * 4096, 3 * 4096 + 5]) {
        const some = many.slice(0, n * 64)
        const leaves = Array.from({ length: n }, (_, i) => eventLeaf(some.slice(i * 64, i * 64 + 64)))
        expect(toHex(await pool.root(some)), `${n} leaves`).toBe(toHex(rootOf(leaves)))
      }
    } finally {
      await pool.close()
      await vault.close()
    }
  })
  it('verify - a batch of checks, curve checks run last, judges each event as decodeEvent does alone and in place', async () => {
    const vault = await makeVault({ notes: 12 })
    try {
      const good: string[] = []
      for await (const page of vault.store.scan()) good.push(...page.map((d) => d.raw))
      const weak = JSON.parse(good[4]!)
      weak.author = '01' + '00'.repeat(31)
      const flip = (raw: string) => raw.replace(/"sig":"(.)/, (_, c: string) => `"sig":"${c === '0' ? '1' : '0'}`)
      const bad: unknown[] = [
        flip(good[3]!),
        good[5]!.replace(vault.vaultId, 'ab'.repeat(32)),
        canonicalize(weak),
        '{',
        ' ' + good[6],
        42,
        null
      ]
      fc.assert(
        fc.property(fc.shuffledSubarray([...good, ...bad], { minLength: 1 }), (raws) => {
          const alone = raws.map((raw): unknown => {
            if (typeof raw !== 'string') return 'MALFORMED'
            try {
              return decodeEvent(raw, vault.vaultId).id
            } catch (err) {
              return (err as VaultError).code
            }
          })
          const together = checkRaws(raws, vault.vaultId).map((c) => (c.ok ? c.id : c.code))
          expect(together).toEqual(alone)
        }),
        { numRuns: 50 }
      )
      expect(checkRaws(bad, vault.vaultId).map((c) => !c.ok && c.code)).toEqual([
        'BAD_SIGNATURE',
        'WRONG_VAULT',
        'WEAK_KEY',
        'MALFORMED',
        'NON_CANONICAL',
        'MALFORMED',
        'MALFORMED'
      ])
    } finally {
      await vault.close()
    }
  })
  it('verify - the pool answers many jobs out at once in order, each share handed to whichever worker is free', async () => {
    const vault = await makeVault({ notes: 40 })
    const bodies: string[] = []
    for await (const page of storedBodyTexts(vault.store.db)) bodies.push(...page)
    const pool = new WorkerChecker(2)
    try {
      // Pages of every size around the share (250 events) and a slow root beside them on one worker.
      const pages = Array.from({ length: 24 }, (_, k) => {
        const out: string[] = []
        for (let i = 0; i < [1, 7, 249, 250, 251, 600][k % 6]!; i++) out.push(bodies[(i * 7 + k) % bodies.length]!)
        return out
      })
      const ids = Array.from({ length: 3 * 4096 }, (_, i) => sha256Hex(`event ${i}`)).join('')
      const [root, ...answers] = await Promise.all([
        pool.root(ids),
        ...pages.map((p) => pool.checkBodies(p, vault.vaultId))
      ])
      expect(toHex(root as Uint8Array)).toBe(toHex(rootOfIds(ids)))
      const whole = (c: BodiesCheck) =>
        c.items.flatMap((it) => (it.run ? it.ids.match(/.{64}/g)! : [it.doc._id + ':' + (it.check.ok ? 'ok' : 'no')]))
      for (const [k, page] of pages.entries())
        expect(whole(answers[k] as BodiesCheck)).toEqual(whole(await inlineChecker.checkBodies(page, vault.vaultId)))
    } finally {
      await pool.close()
      await vault.close()
    }
  })
  it('verify - a job that throws in a worker fails as it does inline, and the pool goes on answering', async () => {
    const pool = new WorkerChecker(2)
    try {
      const notHex = 'zz'.repeat(32)
      const inline = (await inlineChecker.root(notHex).catch((e: unknown) => e)) as VaultError
      const pooled = (await pool.root(notHex).catch((e: unknown) => e)) as VaultError
      expect(inline).toBeInstanceOf(VaultError)
      expect(pooled).toBeInstanceOf(VaultError)
      expect({ code: pooled.code, message: pooled.message }).toEqual({ code: inline.code, message: inline.message })
      expect(pool.broken).toBe(false)
      const ids = sha256Hex('one event')
      expect(toHex(await pool.root(ids))).toBe(toHex(rootOfIds(ids)))
    } finally {
      await pool.close()
    }
  })
  it('verify - healthy stretches taken whole decide exactly as event by event, whatever order, damage and forgeries the store holds', async () => {
    const { dir: template, device, vaultId } = await setup(1)
    const chain = (sign: (seq: number, prev: string) => DecodedEvent, n: number) => {
      const out: DecodedEvent[] = []
      for (let seq = 1; seq <= n; seq++) out.push(sign(seq, seq === 1 ? vaultId : out[seq - 2]!.id))
      return out
    }
    // Bob's feed holds what runs must leave out and travel whole: a checkpoint of its first 7 events (right), one of
    // its first 11 with a wrong root, and a governance-typed event; the rest are notes.
    const checkpointOf = (ids: string[], root?: string) => {
      const feeds = [{ author: BOB, length: ids.length, root: root ?? toHex(rootOf(ids.map(eventLeaf))) }]
      return { feeds, root: toHex(rootOf(feeds.map(recordLeaf))) }
    }
    const bobs: DecodedEvent[] = []
    for (let seq = 1; seq <= 14; seq++) {
      const prev = seq === 1 ? vaultId : bobs[seq - 2]!.id
      const ids = bobs.map((e) => e.id)
      const over =
        seq === 8
          ? { type: CHECKPOINT_TYPE, payload: checkpointOf(ids) }
          : seq === 12
            ? { type: CHECKPOINT_TYPE, payload: checkpointOf(ids, '00'.repeat(32)) }
            : seq === 10
              ? { type: 'gov.propose', payload: { text: 'b10' } }
              : {}
      bobs.push(bobEvent(vaultId, seq, prev, `b${seq}`, over))
    }
    const other = bobEvent(vaultId, 5, bobs[3]!.id, 'a second b5')
    const otherNext = bobEvent(vaultId, 6, other.id, 'b6 after the second b5')
    const eve = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(0xe0))
    const stranger = chain(
      (seq, prev) =>
        signEvent(
          {
            v: 1,
            vault: vaultId,
            author: toHex(eve.publicKey),
            seq,
            prev,
            ts: '2026-05-01T00:00:00.000Z',
            type: 'audit.note',
            payload: { text: `e${seq}` },
            seen: []
          },
          eve.secretKey
        ),
      3
    )
    const singles: EventChecker = { ...inlineChecker, checkBodies: async (b, v) => checkBodies(b, v, false) }
    // Pages cut where `cuts` says (as page ends and the pool's split cut them): runs end at every cut.
    const cutAt = (cuts: number[]): EventChecker => ({
      ...inlineChecker,
      checkBodies: async (bodies, v) => {
        const whole: BodiesCheck = { items: [], forks: [] }
        for (let at = 0, k = 0; at < bodies.length; k++) {
          const part = checkBodies(bodies.slice(at, (at += cuts[k % cuts.length]!)), v)
          whole.items.push(...part.items)
          whole.forks.push(...part.forks)
        }
        return whole
      }
    })
    const pool = new WorkerChecker(2)
    const damage = fc.oneof(
      fc.record({ kind: fc.constant('misplace' as const), from: fc.nat(13), to: fc.integer({ min: 1, max: 20 }) }),
      fc.record({ kind: fc.constant('rewrite' as const), seq: fc.integer({ min: 1, max: 14 }) }),
      fc.record({ kind: fc.constant('delete' as const), seq: fc.integer({ min: 1, max: 14 }) }),
      fc.record({ kind: fc.constant('second' as const) }),
      fc.record({ kind: fc.constant('fork' as const) }),
      fc.record({ kind: fc.constant('branch' as const) }),
      fc.record({ kind: fc.constant('stranger' as const) }),
      fc.record({ kind: fc.constant('stray' as const) })
    )
    const scenario = fc.record({
      order: fc.shuffledSubarray([...bobs.keys()], { minLength: 14 }),
      drop: fc.subarray([...bobs.keys()], { maxLength: 2 }),
      batch: fc.integer({ min: 1, max: 14 }),
      damage: fc.array(damage, { maxLength: 3 }),
      cuts: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 })
    })
    const strip = (r: Awaited<ReturnType<typeof verifyFull>>) => ({ ...r, durationMs: 0, verifiedAt: '' })
    try {
      await fc.assert(
        fc.asyncProperty(scenario, async ({ order, drop, batch, damage, cuts }) => {
          const dir = await tempDir()
          await cp(template, dir, { recursive: true })
          await withRawDb(dir, async (db) => {
            const store = new LogStore(db)
            const kept = order.filter((i) => !drop.includes(i)).map((i) => bobs[i]!)
            for (let i = 0; i < kept.length; i += batch) await store.putMany(kept.slice(i, i + batch))
            for (const d of damage) {
              const at = async (seq: number) =>
                (await db.get(eventDocId(BOB, seq)).catch(() => null)) as EventDoc | null
              if (d.kind === 'misplace') {
                const src = bobs[d.from]!
                if (!(await at(d.to))) await db.put({ ...docFor(src), _id: eventDocId(BOB, d.to) } as never)
              } else if (d.kind === 'rewrite') {
                const doc = await at(d.seq)
                const src = bobs[d.seq % 14]!
                if (doc) await forceWrite(db, { ...doc, raw: src.raw, id: src.id })
              } else if (d.kind === 'delete') {
                const doc = await at(d.seq)
                if (doc) await db.remove(doc._id, doc._rev!)
              } else if (d.kind === 'second') {
                const doc = await at(5)
                if (doc) await forceWrite(db, { ...docFor(other) })
              } else if (d.kind === 'fork') await store.putForkEvidence(other)
              else if (d.kind === 'branch') {
                // A second b5 and a b6 naming it, in the slots, as winning first revisions.
                for (const e of [other, otherNext])
                  if (await at(e.event.seq)) await forceWrite(db, docFor(e))
                  else await store.putMany([e])
              } else if (d.kind === 'stranger')
                await store.putMany(stranger).catch(() => undefined) // once
              else await db.put({ _id: `ev!planted-${Math.random()}`, raw: 'x' } as never)
            }
            const run = (checker: EventChecker) =>
              verifyFull({ store, vaultId, isKnownAuthor: (a) => a === device || a === BOB, checker }).then(strip)
            const want = await run(singles)
            expect(await run(inlineChecker)).toEqual(want)
            expect(await run(cutAt(cuts))).toEqual(want)
            expect(await run(pool)).toEqual(want)
          })
          await rm(dir, { recursive: true, force: true })
        }),
        { numRuns: 40 }
      )
    } finally {
      await pool.close()
    }
  })
})
