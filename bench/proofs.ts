/** Proof layer figures on the benchmark vault: checkpoint time, inclusion proof generation and verification rates. */
import { Vault } from '../core/vault.js'
import { indexLog, makeCheckpoint, proveInclusion } from '../core/proofs/prover.js'
import { verifyProofFile } from '../core/proofs/proof-file.js'
import { inclusionProof, rootOf, verifyInclusion } from '../core/proofs/merkle.js'

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
      }
    ]
  } finally {
    await vault.close()
  }
}
