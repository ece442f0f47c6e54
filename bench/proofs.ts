/** Proof layer figures on the benchmark vault: checkpoint time, inclusion proof generation and verification rates. */
import { Vault } from '../core/vault.js'
import { indexLog, makeCheckpoint, proveInclusion } from '../core/proofs/prover.js'
import { verifyProofFile } from '../core/proofs/proof-file.js'
import { inclusionProof, rootOf, verifyInclusion } from '../core/proofs/merkle.js'
import nacl from 'tweetnacl'
import { signDetached, verifyStrict } from '../core/ed25519.js'
import { openNote, noteKeyId, noteSignatureLine, splitNote } from '../core/signed-note.js'
import { cosign, feedOrigin, noteKeyOf, parseCheckpoint, verifyCosignature } from '../core/proofs/tlog.js'
import { parseWitnessPolicy, quorumHolds } from '../core/proofs/witness-policy.js'
import { proveTlog, verifyTlogProof } from '../core/proofs/tlog-proof.js'
import { mergeNote } from '../core/proofs/tlog.js'

export interface Row {
  measure: string
  tresor: string
  peer: string
  verdict: string
}

export async function benchProofs(dir: string, passphrase: string, log: (m: string) => void): Promise<Row[]> {
  const vault = await Vault.open({ dir })
  await vault.unlock(passphrase)
  try {
    log('proofs: checkpoint over the whole vault')
    let t = performance.now()
    await makeCheckpoint(vault)
    const checkpointMs = performance.now() - t
    const index = await indexLog(vault)
    const [author, leaves] = [...index.leaves.entries()].sort((a, b) => b[1].length - a[1].length)[0]!
    const n = leaves.length
    rootOf(leaves) // warm the subtree cache once, as a long-running prover would
    log('proofs: inclusion proof generation and verification')
    const picks = Array.from({ length: 2000 }, (_, i) => Math.floor((i * 7919) % n))
    t = performance.now()
    const proofs = picks.map((m) => inclusionProof(leaves, m))
    const genRate = picks.length / ((performance.now() - t) / 1000)
    const root = rootOf(leaves)
    t = performance.now()
    const ok = picks.every((m, i) => verifyInclusion(leaves[m]!, m, n, proofs[i]!, root))
    const verRate = picks.length / ((performance.now() - t) / 1000)
    if (!ok) throw new Error('an inclusion proof did not verify')
    log('proofs: whole proof files (signatures, governance, path)')
    const ids = [...index.slots.entries()]
      .filter(([, s]) => s.author === author)
      .slice(0, 20)
      .map(([id]) => id)
    t = performance.now()
    const files = []
    for (const id of ids) files.push(JSON.stringify(await proveInclusion(vault, id)))
    const fileGenMs = (performance.now() - t) / ids.length
    t = performance.now()
    for (const f of files) if (!verifyProofFile(f).ok) throw new Error('a proof file did not verify')
    const fileVerRate = files.length / ((performance.now() - t) / 1000)
    const fmt = (x: number) => Math.round(x).toLocaleString('en-US')
    const own = [...index.slots.entries()].find(([, s]) => s.author === vault.device)![0]
    const witnessed = await benchWitnessed(vault, own, log)
    return [
      {
        measure: `checkpoint over ${fmt(n)} events (scan + roots + sign)`,
        tresor: `${(checkpointMs / 1000).toFixed(2)} s`,
        peer: '',
        verdict: ''
      },
      {
        measure: `inclusion proofs in a ${fmt(n)}-leaf feed: make / verify path`,
        tresor: `${fmt(genRate)}/s / ${fmt(verRate)}/s`,
        peer: '',
        verdict: ''
      },
      {
        measure: 'proof files: make (incl. log scan) / verify standalone',
        tresor: `${fmt(fileGenMs)} ms each / ${fmt(fileVerRate)}/s`,
        peer: '',
        verdict: ''
      },
      ...witnessed
    ]
  } finally {
    await vault.close()
  }
}

/**
 * Witnessed checkpoints: a feed checkpoint signed as a C2SP note, cosigned by three witnesses (cosignature/v1) and
 * checked against a 2-of-3 policy, as one cycle; the floor beside it is the same four Ed25519 signatures and
 * verifications done bare. Then a tlog-proof with three cosignatures: its size and standalone verify time.
 */
async function benchWitnessed(vault: Vault, eventId: string, log: (m: string) => void): Promise<Row[]> {
  log('proofs: witnessed checkpoints (sign, cosign ×3, verify with a policy) and tlog-proof files')
  const cp = await makeCheckpoint(vault)
  const note = cp.payload.checkpoint!
  const body = splitNote(note).text
  const origin = feedOrigin(vault.vaultId, vault.device)
  const logKey = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(1))
  const witnesses = [2, 3, 4].map((b, i) => ({
    name: `witness${i + 1}.example`,
    pair: nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(b))
  }))
  const policy = parseWitnessPolicy(
    [
      ...witnesses.map((w) => `witness ${w.name} ${Buffer.from(w.pair.publicKey).toString('hex')}`),
      `group g 2 ${witnesses.map((w) => w.name).join(' ')}`,
      'quorum g'
    ].join('\n')
  )
  const logVerifier = { name: origin, id: noteKeyId(origin, logKey.publicKey), publicKey: logKey.publicKey }
  const cycles = 500
  let t = performance.now()
  for (let i = 0; i < cycles; i++) {
    const signed = `${body}\n${noteSignatureLine(body, origin, logKey.publicKey, (m) => signDetached(logKey.secretKey, m))}`
    const full = mergeNote(
      signed,
      witnesses.map((w) => cosign(body, noteKeyOf(w.name, w.pair.secretKey), 1_796_094_000 + i))
    )
    const opened = splitNote(full)
    openNote(full, [logVerifier])
    const ok = new Set<string>()
    for (const s of opened.signatures) {
      const w = witnesses.find((x) => x.name === s.name)
      if (w && verifyCosignature(body, s, { name: w.name, publicKey: w.pair.publicKey }) !== null) ok.add(w.name)
    }
    if (!quorumHolds(policy, ok)) throw new Error('the quorum did not hold')
  }
  const cycleRate = cycles / ((performance.now() - t) / 1000)
  const msg = new TextEncoder().encode(body)
  t = performance.now()
  for (let i = 0; i < cycles; i++) {
    for (const k of [logKey, ...witnesses.map((w) => w.pair)]) {
      const sig = signDetached(k.secretKey, msg)
      if (!verifyStrict(k.publicKey, msg, sig)) throw new Error('bare verify failed')
    }
  }
  const floorRate = cycles / ((performance.now() - t) / 1000)
  // a tlog-proof of an event of this device's feed, with the three cosignatures added to its checkpoint
  const proof = await proveTlog(vault, eventId)
  const cut = proof.indexOf('\n\n') + 2
  const withCosigs =
    proof.slice(0, cut) +
    mergeNote(
      proof.slice(cut),
      witnesses.map((w) => cosign(body, noteKeyOf(w.name, w.pair.secretKey), 1_796_094_000))
    )
  const policyText = `log ${vault.device}\n${policy.text}\n`
  const runs = 200
  t = performance.now()
  for (let i = 0; i < runs; i++)
    if (!verifyTlogProof(withCosigs, policyText).ok) throw new Error('the tlog-proof did not verify')
  const verifyMs = (performance.now() - t) / runs
  const size = parseCheckpoint(body).size
  const fmt = (x: number) => Math.round(x).toLocaleString('en-US')
  return [
    {
      measure: 'witnessed checkpoint: sign + 3 cosignatures + verify with a 2-of-3 policy',
      tresor: `${fmt(cycleRate)}/s`,
      peer: `${fmt(floorRate)}/s (the same 4 Ed25519 signs and verifies, bare)`,
      verdict: ''
    },
    {
      measure: `tlog-proof with 3 cosignatures (log of ${fmt(size)}): size / verify`,
      tresor: `${fmt(Buffer.byteLength(withCosigs))} bytes / ${verifyMs.toFixed(2)} ms`,
      peer: '',
      verdict: ''
    }
  ]
}
