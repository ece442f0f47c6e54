/**
 * Witnessed checkpoints: the C2SP formats against the specs' own examples (pinned in test/fixtures/), the witness
 * protocol's every status, members' devices cosigning each other's checkpoints, split views, and tlog-proof files
 * checked against a witness policy with no vault.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import nacl from 'tweetnacl'
import { cleanupDirs, carry, PASS, tempDir } from './helpers.js'
import { forge, threeMembers, stolenKey } from './support/members.js'
import { eventDocId } from '../core/store.js'
import {
  cosign,
  cosignatureTime,
  cosignerKeyId,
  feedOrigin,
  formatCheckpoint,
  formatTlogProof,
  noteKeyOf,
  parseCheckpoint,
  parseTlogProof
} from '../core/proofs/tlog.js'
import { parseWitnessPolicy, quorumHolds } from '../core/proofs/witness-policy.js'
import { formatAddCheckpoint, parseAddCheckpoint, Witness } from '../core/witness.js'
import { noteKeyId, signNote, splitNote } from '../core/signed-note.js'
import { consistencyProof, leafHash, rootOf } from '../core/proofs/merkle.js'
import { makeCheckpoint } from '../core/proofs/prover.js'
import { proveTlog, verifyTlogProof } from '../core/proofs/tlog-proof.js'
import { COSIGNATURE_TYPE, SPLIT_VIEW_TYPE, VaultWitness, witnessReport } from '../core/vault-witness.js'
import { Vault } from '../core/vault.js'
import { decodeEvent } from '../core/envelope.js'
import { CHECKPOINT_TYPE, checkCheckpointNotes, checkCheckpointPayload } from '../core/proofs/checkpoint.js'
import { buildCheckpointV2Fixture } from './fixtures/checkpoint-v2.js'

const x = JSON.parse(readFileSync(new URL('./fixtures/c2sp-tlog-examples.json', import.meta.url), 'utf8'))
const enc = new TextEncoder()
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

describe('tlog formats (the specs’ examples)', () => {
  it('tlog - the checkpoint example reads and writes back byte for byte; a leading zero, bad base64 or an empty extension line is refused', () => {
    const { text } = splitNote(x.checkpoint)
    const body = parseCheckpoint(text)
    expect([body.origin, body.size, Buffer.from(body.root).toString('base64')]).toEqual([
      x.checkpointBody.origin,
      x.checkpointBody.size,
      x.checkpointBody.rootBase64
    ])
    expect(formatCheckpoint(body)).toBe(text)
    for (const bad of [
      text.replace('20852163', '020852163'),
      text.replace('=\n', '\n'),
      text + '\n',
      text.replace('example.com/behind-the-sofa', 'example.com/behind the sofa'),
      'origin\n1\n'
    ])
      expect(() => parseCheckpoint(bad)).toThrow()
  })

  it("tlog - cosignature/v1: the example's key ID and time read; ours sign exactly the spec's message with key ID type 0x04", () => {
    const line = splitNote(x.cosigned).signatures.find((s) => s.name === x.cosignature.name)!
    expect(line.id.toString(16).padStart(8, '0')).toBe(x.cosignature.keyIdHex)
    expect(cosignatureTime(`— ${line.name} ${line.base64}`)).toBe(x.cosignature.time)
    const pair = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(7))
    const mine = cosign(splitNote(x.checkpoint).text, noteKeyOf('w.example/1', pair.secretKey), x.cosignature.time)
    const raw = Buffer.from(mine.trim().split(' ')[2]!, 'base64')
    expect(raw.length).toBe(76)
    expect(raw.readUInt32BE(0)).toBe(cosignerKeyId('w.example/1', pair.publicKey))
    expect(raw.readUInt32BE(0)).not.toBe(noteKeyId('w.example/1', pair.publicKey))
    expect(Number(raw.readBigUInt64BE(4))).toBe(x.cosignature.time)
    expect(nacl.sign.detached.verify(enc.encode(x.cosignature.signedMessage), raw.subarray(12), pair.publicKey)).toBe(
      true
    )
  })

  it("tlog - the witness request example and the proof example's lines read and write back byte for byte", () => {
    const req = parseAddCheckpoint(x.addCheckpointRequest)
    expect([req.old, req.proof.length, splitNote(req.note).signatures.length]).toEqual([20852014, 4, 2])
    expect(formatAddCheckpoint(req.old, req.proof, req.note)).toBe(x.addCheckpointRequest)
    const text = `${x.proofHead}\n${x.checkpoint}`
    const proof = parseTlogProof(text)
    expect([proof.index, proof.path.length, proof.extra?.length]).toEqual([x.proofIndex, 5, 39])
    expect(formatTlogProof(proof)).toBe(text)
    expect(() => parseTlogProof(text.replace('index 73894', 'index 073894'))).toThrow(/index/)
    expect(() => parseTlogProof(text.replace('c2sp.org/tlog-proof@v1', 'c2sp.org/tlog-proof@v2'))).toThrow()
  })

  it("tlog - Sigsum's policy example: as written it defines Y2 twice and is refused (a witness must not count twice); with Y3 it means two X and one Y", () => {
    const keys = Array.from({ length: 8 }, (_, i) =>
      hex(nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(i + 1)).publicKey)
    )
    let n = 0
    const withKeys = (t: string) => t.replace(/<key>/g, () => keys[n++ % keys.length]!)
    expect(() => parseWitnessPolicy(withKeys(x.sigsumPolicyExample))).toThrow(/Y2 is defined twice/)
    n = 0
    const fixed = parseWitnessPolicy(
      withKeys(
        x.sigsumPolicyExample
          .replace('witness Y2 <key>\nwitness Y2', 'witness Y2 <key>\nwitness Y3')
          .replace('Y1 Y2 Y2', 'Y1 Y2 Y3')
      )
    )
    expect(quorumHolds(fixed, new Set(['X1', 'X3', 'Y2']))).toBe(true)
    expect(quorumHolds(fixed, new Set(['X1', 'Y1', 'Y2', 'Y3']))).toBe(false)
    expect(quorumHolds(fixed, new Set(['X1', 'X2', 'X3']))).toBe(false)
    n = 0
    expect(() => parseWitnessPolicy(withKeys('witness A <key>\nwitness B <key>\nquorum C\n'))).toThrow(
      /C is not defined/
    )
    expect(() => parseWitnessPolicy(`witness A ${keys[0]}\nwitness B ${keys[0]}\nquorum A\n`)).toThrow(
      /already another/
    )
    expect(parseWitnessPolicy('quorum none\n').quorum).toBe('none')
  })
})

describe('checkpoint format 2 (pinned)', () => {
  it("formats - a format-2 checkpoint (C2SP notes), a cosignature v1 event and a tlog-proof: rebuilt byte for byte; the pinned bytes read, the notes verify, bob's cosignature counts, the proof meets its policy", () => {
    const pinned = JSON.parse(readFileSync(new URL('./fixtures/checkpoint-v2.json', import.meta.url), 'utf8'))
    expect(JSON.stringify(buildCheckpointV2Fixture(), null, 2) + '\n').toBe(
      readFileSync(new URL('./fixtures/checkpoint-v2.json', import.meta.url), 'utf8')
    )
    const events = (pinned.events as { id: string; raw: string }[]).map((e) => decodeEvent(e.raw, pinned.vault))
    expect(events.map((e) => e.id)).toEqual(pinned.events.map((e: { id: string }) => e.id))
    const cp = events.find((e) => e.event.type === CHECKPOINT_TYPE)!
    const payload = checkCheckpointPayload(cp.event.payload)
    expect(() => checkCheckpointNotes(payload, pinned.vault, cp.event.author)).not.toThrow()
    expect(() => checkCheckpointNotes(payload, pinned.vault, events.at(-1)!.event.author)).toThrow()
    const result = verifyTlogProof(pinned.proof, pinned.policy)
    expect(result).toMatchObject({ ok: true, size: 4, event: { seq: 3, type: 'audit.note' } })
    expect(result.witnesses?.signed).toHaveLength(1)
  })
})

/** A log of `n` random leaves, its key, and its signed checkpoint at any size. */
function testLog(origin: string) {
  const key = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(42))
  const leaves = Array.from({ length: 40 }, (_, i) => leafHash(enc.encode(`entry ${i}`)))
  const note = (size: number, root = rootOf(leaves, 0, size)) =>
    signNote(formatCheckpoint({ origin, size, root }), [{ name: origin, secretKey: key.secretKey }])
  const verifier = { name: origin, id: noteKeyId(origin, key.publicKey), publicKey: key.publicKey }
  return { key, leaves, note, verifier }
}

describe('witness protocol (c2sp.org/tlog-witness)', () => {
  afterAll(cleanupDirs)

  it('witness - every status the spec names: 404 unknown log, 403 no trusted signature, 400 bad request, 409 with the size, 422 bad proof, 200 with a cosignature; the state survives a restart', async () => {
    const dir = await tempDir()
    const log = testLog('example.org/log')
    const me = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(9))
    const open = () =>
      Witness.open(dir, noteKeyOf('witness.test/w', me.secretKey), (o) =>
        o === 'example.org/log' ? [log.verifier] : null
      )
    const w = await open()
    const other = testLog('example.org/other')
    expect((await w.addCheckpoint(formatAddCheckpoint(0, [], other.note(5)))).status).toBe(404)
    const stranger = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(1))
    const forged = signNote(formatCheckpoint({ origin: 'example.org/log', size: 5, root: rootOf(log.leaves, 0, 5) }), [
      { name: 'example.org/log', secretKey: stranger.secretKey }
    ])
    expect((await w.addCheckpoint(formatAddCheckpoint(0, [], forged))).status).toBe(403)
    expect((await w.addCheckpoint('old 0\nnot a checkpoint')).status).toBe(400)
    expect((await w.addCheckpoint(formatAddCheckpoint(9, [], log.note(5)))).status).toBe(400)
    const first = await w.addCheckpoint(formatAddCheckpoint(0, [], log.note(10)))
    expect(first.status).toBe(200)
    const sig = splitNote(`${splitNote(log.note(10)).text}\n${first.body}`).signatures[0]!
    expect(sig.name).toBe('witness.test/w')
    // the cosigner's own record of what it signed, kept atomically before it answered
    const again = await open()
    expect(again.latest('example.org/log')).toMatchObject({ size: 10 })
    const stale = await again.addCheckpoint(formatAddCheckpoint(0, [], log.note(20)))
    expect([stale.status, stale.contentType, stale.body]).toEqual([409, 'text/x.tlog.size', '10\n'])
    const wrongProof = consistencyProof(log.leaves, 9, 20)
    expect((await again.addCheckpoint(formatAddCheckpoint(10, wrongProof, log.note(20)))).status).toBe(422)
    const ok = await again.addCheckpoint(formatAddCheckpoint(10, consistencyProof(log.leaves, 10, 20), log.note(20)))
    expect(ok.status).toBe(200)
    expect(again.latest('example.org/log')!.size).toBe(20)
  })

  it('witness - never cosigns two inconsistent checkpoints: a same-size other root is 409 with the evidence, and of two racing requests from one size only the first is cosigned (no rollback)', async () => {
    const dir = await tempDir()
    const log = testLog('example.org/log')
    const me = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(9))
    const w = await Witness.open(dir, noteKeyOf('witness.test/w', me.secretKey), () => [log.verifier])
    expect((await w.addCheckpoint(formatAddCheckpoint(0, [], log.note(8)))).status).toBe(200)
    const split = await w.addCheckpoint(
      formatAddCheckpoint(8, [], log.note(8, leafHash(enc.encode('another history'))))
    )
    expect(split.status).toBe(409)
    expect(split.evidence?.reason).toMatch(/two checkpoints of size 8/)
    const [a, b] = await Promise.all([
      w.addCheckpoint(formatAddCheckpoint(8, consistencyProof(log.leaves, 8, 30), log.note(30))),
      w.addCheckpoint(formatAddCheckpoint(8, consistencyProof(log.leaves, 8, 12), log.note(12)))
    ])
    expect([a.status, b.status]).toEqual([200, 409])
    expect(b.body).toBe('30\n')
    expect(w.latest('example.org/log')!.size).toBe(30)
  })
})

async function withPolicy(vaults: Vault[], logs: Vault[], witnesses: Vault[], quorum: string): Promise<string> {
  const v = vaults[0]!
  return [
    ...logs.map((l) => `log ${l.device}`),
    ...witnesses.map((w, i) => `witness ${feedOrigin(v.vaultId, w.device)} ${w.device}  # device ${i}`),
    quorum
  ].join('\n')
}

describe('members witness each other', () => {
  afterAll(cleanupDirs)

  it('witness - devices cosign the checkpoints they take in; the tlog-proof verifies with a policy on no vault, fails with too few, an altered or a stranger’s cosignature, and the log never witnesses itself', async () => {
    const { alice, bob, bob2, carol } = await threeMembers()
    const target = await alice.append('audit.note', { text: 'prove me' })
    for (let i = 0; i < 3; i++) await alice.append('audit.note', { text: `after ${i}` })
    const cp = await makeCheckpoint(alice)
    expect(cp.payload.checkpoint).toMatch(/^tresor\.vault\//)
    expect(parseCheckpoint(splitNote(cp.payload.checkpoint!).text).size).toBe(alice.heads()[alice.device]!.length - 1)
    for (const v of [bob, carol]) {
      await carry(alice, v)
      expect(await new VaultWitness(v).pass()).toEqual({ cosigned: 1, splitViews: 0 })
      expect(await new VaultWitness(v).pass()).toEqual({ cosigned: 0, splitViews: 0 }) // once per checkpoint
      await carry(v, alice)
    }
    expect((await alice.verify({ full: true })).ok).toBe(true)
    // a member's key signs a "cosignature" whose note is not a note: it counts for nothing and stops no proof
    const junk = forge(alice, await stolenKey(bob2), COSIGNATURE_TYPE, { v: 1, note: 'not a note' })
    expect((await alice.ingest([{ docId: eventDocId(bob2.device, junk.event.seq), raw: junk.raw }]))[0]!.decision).toBe(
      'ADMIT'
    )
    const proof = await proveTlog(alice, target.id)
    const names = (vs: Vault[]) => vs.map((v) => feedOrigin(alice.vaultId, v.device))
    const policy = await withPolicy(
      [alice],
      [alice],
      [bob, bob2, carol],
      `group g 2 ${names([bob, bob2, carol]).join(' ')}\nquorum g`
    )
    const result = verifyTlogProof(proof, policy)
    expect(result).toMatchObject({ ok: true, event: { id: target.id, type: 'audit.note' } })
    expect(result.witnesses?.signed).toEqual(names([bob, carol]).sort())
    // too few for the policy: the reason says how many signed and how many it needs
    const strict = await withPolicy(
      [alice],
      [alice],
      [bob, bob2, carol],
      `group g all ${names([bob, bob2, carol]).join(' ')}\nquorum g`
    )
    expect(verifyTlogProof(proof, strict).reason).toMatch(/quorum does not hold: 2 .* at least 3 needed/)
    // an altered cosignature fails outright
    const carolLine = proof.split('\n').find((l) => l.startsWith(`— ${names([carol])[0]}`))!
    const altered = proof.replace(
      carolLine,
      carolLine.slice(0, -6) + (carolLine.at(-6) === 'A' ? 'B' : 'A') + carolLine.slice(-5)
    )
    expect(verifyTlogProof(altered, policy).reason).toMatch(/cosignature of .* does not verify/)
    // a stranger's cosignature (under a policy witness's name, or its own) is never counted
    const body = splitNote(proof.slice(proof.indexOf('\n\n') + 2)).text
    const stranger = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(3))
    const bobOnly = proof.replace(carolLine + '\n', '')
    const padded =
      bobOnly +
      cosign(body, noteKeyOf(names([carol])[0]!, stranger.secretKey), 1) +
      cosign(body, noteKeyOf('stranger.example', stranger.secretKey), 1)
    const r = verifyTlogProof(padded, policy)
    expect([r.ok, r.witnesses?.signed.length, r.witnesses?.ignored]).toEqual([false, 1, 2])
    // the log's own cosignature, under its own witness name, does not count either
    const aliceKey = await stolenKey(alice)
    const selfWitness = bobOnly + cosign(body, noteKeyOf(names([alice])[0]!, aliceKey.keyPair.secretKey), 1)
    const withSelf = await withPolicy(
      [alice],
      [alice],
      [alice, bob, carol],
      `group g 2 ${names([alice, bob, carol]).join(' ')}\nquorum g`
    )
    expect(verifyTlogProof(selfWitness, withSelf)).toMatchObject({ ok: false, witnesses: { signed: names([bob]) } })
    // the event itself altered, and a policy that does not list the log
    expect(
      verifyTlogProof(
        proof.replace(/^extra (\S)/m, (_, c) => `extra ${c === 'A' ? 'B' : 'A'}`),
        policy
      ).ok
    ).toBe(false)
    expect(verifyTlogProof(proof, policy.replace(`log ${alice.device}`, `log ${bob.device}`)).reason).toMatch(
      /not a log of the policy/
    )
    for (const v of [alice, bob, bob2, carol]) await v.close()
  })

  it('witness - split view: a device shown a checkpoint inconsistent with one it cosigned refuses to cosign, signs the evidence, and every device that syncs sees it confirmed', async () => {
    const t = await threeMembers()
    const { alice, bob2, carol } = t
    let bob = t.bob
    for (let i = 0; i < 4; i++) await alice.append('audit.note', { text: `n ${i}` })
    // Alice's key, held by an attacker, shows Bob's witness another history at the size her next checkpoint will have.
    const key = await stolenKey(alice)
    const origin = feedOrigin(alice.vaultId, alice.device)
    const size = alice.heads()[alice.device]!.length
    const lie = signNote(formatCheckpoint({ origin, size, root: leafHash(enc.encode('not what happened')) }), [
      { name: origin, secretKey: key.keyPair.secretKey }
    ])
    const bobWitness = new VaultWitness(bob)
    expect((await (await bobWitness.open()).addCheckpoint(formatAddCheckpoint(0, [], lie))).status).toBe(200)
    await makeCheckpoint(alice) // the true one, of the same size
    await carry(alice, bob)
    expect(await bobWitness.pass()).toEqual({ cosigned: 0, splitViews: 1 })
    expect(await new VaultWitness(bob).pass()).toEqual({ cosigned: 0, splitViews: 0 }) // signed once
    // …and once across a restart too (the witness state says it is recorded)
    await bob.close()
    bob = await Vault.open({ dir: bob.dir })
    await bob.unlock(PASS)
    expect(await new VaultWitness(bob).pass()).toEqual({ cosigned: 0, splitViews: 0 })
    const bobsLog = async (type: string) => {
      const rows = []
      for (let seq = 1; seq <= bob.heads()[bob.device]!.length; seq++) {
        const d = await bob.store.get(bob.device, seq)
        if (d?.type === type) rows.push(d)
      }
      return rows
    }
    expect(await bobsLog(COSIGNATURE_TYPE)).toHaveLength(0)
    expect(await bobsLog(SPLIT_VIEW_TYPE)).toHaveLength(1)
    // Carol was shown only the truth: she cosigns it, and sees Bob's evidence against Alice's key, confirmed.
    await carry(bob, carol)
    expect(await new VaultWitness(carol).pass()).toEqual({ cosigned: 1, splitViews: 0 })
    const seen = await witnessReport(carol)
    expect(seen).toHaveLength(1)
    expect(seen[0]).toMatchObject({
      member: 'alice',
      log: alice.device,
      reportedBy: bob.device,
      confirmed: true,
      sizes: [size, size]
    })
    expect(seen[0]!.why).toMatch(/two roots for size/)
    await carry(carol, alice)
    expect((await witnessReport(alice))[0]).toMatchObject({ confirmed: true })
    for (const v of [alice, bob, bob2, carol]) await v.close()
  })
})
