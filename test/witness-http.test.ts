/**
 * The tlog-witness protocol both ways, against a real daemon: `tresor serve --witness` answers every status the spec
 * names, and a device's pusher sends its checkpoints to the witnesses its governed policy lists, records what they
 * cosigned, and the tlog-proof made from that meets the policy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import nacl from 'tweetnacl'
import { carry, cleanupDirs, PASS } from './helpers.js'
import { threeMembers, type ThreeMembers } from './support/members.js'
import { startDaemon, type Daemon } from './support/daemon.js'
import { makeCheckpoint } from '../core/proofs/prover.js'
import { proveTlog, verifyTlogProof } from '../core/proofs/tlog-proof.js'
import { consistencyProof, leafHash } from '../core/proofs/merkle.js'
import { cosignerKeyId, feedOrigin, formatCheckpoint, verifyCosignature } from '../core/proofs/tlog.js'
import { formatAddCheckpoint } from '../core/witness.js'
import { parseSignatureLine, signNote, splitNote } from '../core/signed-note.js'
import { feedLeavesOf } from '../core/vault-witness.js'
import { approve, commit, propose } from '../core/governance/calls.js'
import { pushCheckpoint, WitnessPusher } from '../sync/witness-push.js'
import { fromHex } from '../core/bytes.js'

const post = (d: Daemon, body: string, method = 'POST') =>
  fetch(`${d.url}/add-checkpoint`, { method, body: method === 'POST' ? body : undefined })

describe('tlog-witness over HTTP', () => {
  let t: ThreeMembers
  let daemon: Daemon
  let aliceDevice: string
  beforeAll(async () => {
    t = await threeMembers()
    aliceDevice = t.alice.device
    await t.alice.close()
    daemon = await startDaemon(t.alice.dir, ['--witness'], { TRESOR_PASSPHRASE: PASS })
  }, 60_000)
  afterAll(async () => {
    await daemon?.stop()
    for (const v of [t.bob, t.bob2, t.carol]) await v.close()
    await cleanupDirs()
  })

  it("witness - the daemon's POST /add-checkpoint answers 405, 400, 404, 403, 200 (a cosignature under its key), 409 with the size as text/x.tlog.size, and 422 for a bad proof", async () => {
    const { bob, vaultId } = { bob: t.bob, vaultId: t.bob.vaultId }
    expect((await post(daemon, '', 'GET')).status).toBe(405)
    expect((await post(daemon, 'hello')).status).toBe(400)
    const other = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(5))
    const stranger = signNote(
      formatCheckpoint({ origin: 'example.org/log', size: 1, root: leafHash(new Uint8Array(1)) }),
      [{ name: 'example.org/log', secretKey: other.secretKey }]
    )
    expect((await post(daemon, formatAddCheckpoint(0, [], stranger))).status).toBe(404)
    const origin = feedOrigin(vaultId, bob.device)
    const forged = signNote(formatCheckpoint({ origin, size: 1, root: leafHash(new Uint8Array(1)) }), [
      { name: origin, secretKey: other.secretKey }
    ])
    expect((await post(daemon, formatAddCheckpoint(0, [], forged))).status).toBe(403)
    for (let i = 0; i < 3; i++) await bob.append('audit.note', { text: `bob ${i}` })
    const cp = await makeCheckpoint(bob)
    const ok = await post(daemon, formatAddCheckpoint(0, [], cp.payload.checkpoint!))
    expect(ok.status).toBe(200)
    const line = parseSignatureLine((await ok.text()).trim())
    const witness = { name: feedOrigin(vaultId, aliceDevice), publicKey: fromHex(aliceDevice, 32)! }
    expect(line.id).toBe(cosignerKeyId(witness.name, witness.publicKey))
    expect(verifyCosignature(splitNote(cp.payload.checkpoint!).text, line, witness)).not.toBeNull()
    const size = bob.heads()[bob.device]!.length - 1
    const again = await post(daemon, formatAddCheckpoint(0, [], cp.payload.checkpoint!))
    expect([again.status, again.headers.get('content-type'), await again.text()]).toEqual([
      409,
      'text/x.tlog.size',
      `${size}\n`
    ])
    await bob.append('audit.note', { text: 'one more' })
    const cp2 = await makeCheckpoint(bob)
    const leaves = await feedLeavesOf(bob, bob.device, size + 2)
    const bad = await post(
      daemon,
      formatAddCheckpoint(size, consistencyProof(leaves, size - 1, size + 2), cp2.payload.checkpoint!)
    )
    expect(bad.status).toBe(422)
    // the client: from an unknown size it learns the witness's from the 409 and sends the proof from there
    const pushed = await pushCheckpoint({
      url: daemon.url,
      witness: { name: witness.name, key: aliceDevice },
      note: cp2.payload.checkpoint!,
      leaves
    })
    expect(pushed).toMatchObject({ status: 200, size: size + 2, reason: null })
    expect(pushed.cosignatures).toHaveLength(1)
  })

  it('witness - a device pushes its checkpoints to the witnesses its governed policy names; the proof built from what they cosigned meets the policy on no vault', async () => {
    const { bob, carol } = t
    const aliceName = feedOrigin(bob.vaultId, aliceDevice)
    const policy = `log ${bob.device}\nwitness ${aliceName} ${aliceDevice} ${daemon.url}\nquorum ${aliceName}\n`
    const p = await propose(bob, { kind: 'witness.policy', args: { policy } }, 'the daemon witnesses our feeds')
    await carry(bob, carol)
    await approve(carol, p.id)
    await carry(carol, bob)
    await commit(bob, p.id)
    expect(bob.state.witnessPolicy).toBe(policy)
    const reports: string[] = []
    const pusher = new WitnessPusher(bob, (r) => reports.push(`${r.status} ${r.reason}`))
    const target = await bob.append('audit.note', { text: 'witnessed' })
    await makeCheckpoint(bob)
    await pusher.settled()
    await pusher.stop()
    expect(reports).toEqual(['200 null'])
    const result = verifyTlogProof(await proveTlog(bob, target.id), policy)
    expect(result).toMatchObject({ ok: true, witnesses: { signed: [aliceName] } })
  })
})
