import { afterAll, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { Vault } from '../core/vault.js'
import { makeCheckpoint, proveConsistency, proveInclusion } from '../core/proofs/prover.js'
import { verifyProofFile } from '../core/proofs/proof-file.js'
import { CHECKPOINT_TYPE } from '../core/proofs/checkpoint.js'
import { signEvent } from '../core/envelope.js'
import { openKeyFile, readKeyFile } from '../core/keys.js'
import { eventDocId } from '../core/store.js'
import { cleanupDirs, makeVault, PASS, withRawDb } from './helpers.js'

const flipHex = (h: string) => (h[0] === '0' ? '1' : '0') + h.slice(1)

describe('proofs', () => {
  afterAll(cleanupDirs)

  it('proof - an inclusion proof checks on its own, with nothing but the file', async () => {
    const vault = await makeVault({ notes: 20 })
    const target = await vault.append('audit.note', { text: 'prove me' })
    for (let i = 0; i < 5; i++) await vault.append('audit.note', { text: `after ${i}` })
    const cp = await makeCheckpoint(vault)
    expect(cp.payload.feeds[0]!.length).toBe(27)
    const proof = await proveInclusion(vault, target.id)
    await vault.close()
    const result = verifyProofFile(JSON.stringify(proof))
    expect(result).toMatchObject({ ok: true, kind: 'inclusion', event: { id: target.id, seq: 22 } })
  })

  it('proof - a tampered proof file is rejected with the reason', async () => {
    const vault = await makeVault({ notes: 9 })
    const target = await vault.append('audit.note', { text: 'prove me' })
    await makeCheckpoint(vault)
    const proof = await proveInclusion(vault, target.id)
    await vault.close()
    const cases: [string, unknown][] = [
      ['path bit flip', { ...proof, path: [flipHex(proof.path[0]!), ...proof.path.slice(1)] }],
      ['truncated path', { ...proof, path: proof.path.slice(0, -1) }],
      ['extra hash', { ...proof, path: [...proof.path, proof.path[0]] }],
      ['extra bytes', { ...proof, path: [proof.path[0] + '00', ...proof.path.slice(1)] }],
      ['other event', { ...proof, event: proof.event.replace('prove me', 'prove you') }],
      [
        'checkpoint edited',
        { ...proof, checkpoint: proof.checkpoint.replace(/"length":(\d+)/, (_, n) => `"length":${Number(n) + 1}`) }
      ],
      ['genesis swapped', { ...proof, vault: 'ab'.repeat(32) }],
      ['no genesis', { ...proof, genesis: '{}' }]
    ]
    for (const [name, file] of cases) {
      const r = verifyProofFile(JSON.stringify(file))
      expect(r.ok, name).toBe(false)
      expect(r.reason, name).toBeTruthy()
    }
    expect(verifyProofFile('not json').ok).toBe(false)
  })

  it('proof - a checkpoint signed by a stranger is not trusted', async () => {
    const vault = await makeVault({ notes: 3 })
    const target = await vault.append('audit.note', { text: 't' })
    await makeCheckpoint(vault)
    const proof = await proveInclusion(vault, target.id)
    await vault.close()
    const other = await makeVault({ notes: 0 })
    const key = await openKeyFile(await readKeyFile(join(other.dir, 'device.key')), PASS)
    const cp = JSON.parse(proof.checkpoint)
    const forged = signEvent(
      { ...cp, author: key.publicKey, seq: 2, prev: proof.vault, deps: [] },
      key.keyPair.secretKey
    )
    await other.close()
    expect(verifyProofFile(JSON.stringify({ ...proof, checkpoint: forged.raw })).reason).toMatch(
      /not a key of this vault/
    )
  })

  it('proof - consistency between two checkpoints verifies; against a rewritten history it does not', async () => {
    const vault = await makeVault({ notes: 6 })
    const first = await makeCheckpoint(vault)
    for (let i = 0; i < 11; i++) await vault.append('audit.note', { text: `more ${i}` })
    const second = await makeCheckpoint(vault)
    const proof = await proveConsistency(vault, first.id, second.id)
    expect(verifyProofFile(JSON.stringify(proof))).toMatchObject({ ok: true, kind: 'consistency' })
    expect(
      verifyProofFile(JSON.stringify({ ...proof, checkpoints: [proof.checkpoints[1], proof.checkpoints[0]] })).ok
    ).toBe(false)
    expect(
      verifyProofFile(
        JSON.stringify({ ...proof, feeds: [{ ...proof.feeds[0]!, path: proof.feeds[0]!.path.slice(1) }] })
      ).ok
    ).toBe(false)
    await vault.close()
  })

  it('proof - the full self-check compares the latest checkpoint with the log', async () => {
    const vault = await makeVault({ notes: 4 })
    await makeCheckpoint(vault)
    expect((await vault.verify({ full: true })).ok).toBe(true)
    // a checkpoint whose roots do not match the log, signed by the device itself (e.g. a bug, or a rolled-back log)
    const key = await openKeyFile(await readKeyFile(join(vault.dir, 'device.key')), PASS)
    const head = vault.heads()[vault.device]!
    const payload = { feeds: [{ author: vault.device, length: head.length, root: 'ab'.repeat(32) }] }
    const { recordLeaf } = await import('../core/proofs/checkpoint.js')
    const { rootOf } = await import('../core/proofs/merkle.js')
    const root = Buffer.from(rootOf(payload.feeds.map(recordLeaf))).toString('hex')
    const bad = signEvent(
      {
        v: 1,
        vault: vault.vaultId,
        author: vault.device,
        seq: head.length + 1,
        prev: head.head,
        ts: new Date().toISOString(),
        type: CHECKPOINT_TYPE,
        payload: { ...payload, root },
        seen: []
      },
      key.keyPair.secretKey
    )
    const dir = vault.dir
    await vault.close()
    await withRawDb(dir, async (db) => {
      await db.put({
        _id: eventDocId(bad.event.author, bad.event.seq),
        raw: bad.raw,
        id: bad.id,
        type: CHECKPOINT_TYPE,
        ts: bad.event.ts
      } as never)
    })
    const v = await Vault.open({ dir, full: true })
    expect(v.health.state).toBe('read-only')
    expect(v.health.report!.issues[0]).toMatchObject({ code: 'CHECKPOINT_MISMATCH' })
    await v.close()
  })

  it('proof - a checkpoint is signed on the policy interval when the vault closes', async () => {
    const vault = await makeVault()
    await Promise.all(Array.from({ length: 999 }, (_, i) => vault.append('audit.note', { text: `n${i}` })))
    const dir = vault.dir
    await vault.close()
    const v = await Vault.open({ dir })
    const entries = await (
      await import('../core/api.js')
    )
      .createHandlers(v)
      ['log.list']({ type: CHECKPOINT_TYPE, payloads: true })
    expect(entries.total).toBe(1)
    expect((entries.entries[0]!.payload as { feeds: { length: number }[] }).feeds[0]!.length).toBe(1000)
    expect((await v.verify({ full: true })).ok).toBe(true)
    await v.close()
  })
})
