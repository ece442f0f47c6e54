/**
 * The client side of c2sp.org/tlog-witness: this device sends each checkpoint
 * of its own feed, with a consistency proof from the size the witness last
 * cosigned, to every witness the vault's governed policy lists with a URL,
 * and records the cosignatures it gets back as a `proof.cosignature` event
 * (so proofs made on any device carry them). The statuses, as the spec says:
 *   200  cosignature lines: only lines that verify under the policy's key count
 *   409  the witness holds another size (text/x.tlog.size): sent again once
 *        from that size; a size above ours means the witness saw more of this
 *        feed than this device holds, which is reported, never "fixed"
 *   404  the witness does not follow this log; 403 it does not trust the key;
 *   422  it could not check the proof: each reported with the witness's reason
 */
import {
  COSIGNATURE_TYPE,
  consistencyProof,
  cosignerKeyId,
  CHECKPOINT_TYPE,
  formatAddCheckpoint,
  fromHex,
  mergeNote,
  parseCheckpoint,
  parseSignatureLine,
  parseWitnessPolicy,
  splitNote,
  verifyCosignature,
  feedLeavesOf,
  type Hash,
  type Vault
} from '../core/index.js'

export interface PushResult {
  witness: string
  status: number
  /** The witness's cosignature lines that verified. */
  cosignatures: string[]
  /** The size the witness now holds for this log. */
  size: number | null
  reason: string | null
}

/** Send one checkpoint note to one witness; `knownSize` is what it last said it holds (0 when unknown). */
export async function pushCheckpoint(opts: {
  url: string
  witness: { name: string; key: string }
  note: string
  leaves: Hash[]
  knownSize?: number
  timeoutMs?: number
}): Promise<PushResult> {
  const body = splitNote(opts.note).text
  const cp = parseCheckpoint(body)
  const cosigner = { name: opts.witness.name, publicKey: fromHex(opts.witness.key, 32)! }
  const result = (status: number, reason: string | null, size: number | null = null, cosignatures: string[] = []) => ({
    witness: opts.witness.name,
    status,
    cosignatures,
    size,
    reason
  })
  let old = opts.knownSize ?? 0
  for (let attempt = 0; attempt < 2; attempt++) {
    const proof = old > 0 && old < cp.size ? consistencyProof(opts.leaves, old, cp.size) : []
    const res = await fetch(new URL('add-checkpoint', opts.url.endsWith('/') ? opts.url : `${opts.url}/`), {
      method: 'POST',
      body: formatAddCheckpoint(old, proof, opts.note),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000)
    })
    const text = (await res.text()).slice(0, 64 * 1024)
    if (res.status === 200) {
      const lines = text.split('\n').filter(Boolean)
      const good: string[] = []
      for (const line of lines) {
        try {
          const sig = parseSignatureLine(line)
          if (
            sig.id === cosignerKeyId(cosigner.name, cosigner.publicKey) &&
            verifyCosignature(body, sig, cosigner) !== null
          )
            good.push(`${line}\n`)
        } catch {
          // a line out of shape is not a cosignature: ignored, as the spec says of unknown keys
        }
      }
      if (good.length === 0) return result(200, 'the answer holds no cosignature from the witness key', cp.size)
      return result(200, null, cp.size, good)
    }
    if (res.status === 409 && /^text\/x\.tlog\.size/.test(res.headers.get('content-type') ?? '')) {
      const held = /^(0|[1-9][0-9]{0,15})\n$/.exec(text) ? Number(text.trim()) : NaN
      if (!Number.isSafeInteger(held)) return result(409, 'the witness answered 409 without a size')
      if (held > cp.size)
        return result(
          409,
          `the witness holds size ${held} of this feed, more than this device's checkpoint (${cp.size}): it was shown another history`,
          held
        )
      if (attempt === 0 && held !== old) {
        old = held
        continue
      }
      return result(409, `the witness refused it at size ${held}: a conflicting checkpoint of the same size`, held)
    }
    return result(res.status, text.trim().slice(0, 300) || res.statusText)
  }
  return result(409, 'the witness kept answering with another size')
}

/**
 * A long-running host's pusher: after each checkpoint this device signs, send it to the policy's witnesses that have a
 * URL and record what they cosigned. Failures are reported through `onReport`; the next checkpoint tries again.
 */
export class WitnessPusher {
  private readonly known = new Map<string, number>()
  private running: Promise<void> = Promise.resolve()
  private readonly unwatch: () => void

  constructor(
    private readonly vault: Vault,
    private readonly onReport: (r: PushResult) => void = () => undefined
  ) {
    this.unwatch = vault.onChange((c) => {
      if (c.kind === 'append' && c.type === CHECKPOINT_TYPE && c.author === vault.device)
        this.running = this.running
          .then(async () => {
            await this.push(c.seq, c.id)
          })
          .catch(() => undefined) // each witness's answer is reported; a failed push waits for the next checkpoint
    })
  }

  async settled(): Promise<void> {
    await this.running
  }

  async stop(): Promise<void> {
    this.unwatch()
    await this.running
  }

  /** Push the checkpoint event at `seq` of this device's feed to every witness of the policy with a URL. */
  async push(seq: number, id: string): Promise<PushResult[]> {
    const v = this.vault
    const text = v.state.witnessPolicy
    if (!text) return []
    const policy = parseWitnessPolicy(text)
    const doc = await v.store.get(v.device, seq)
    const note = (JSON.parse(String(doc?.raw)) as { payload: { checkpoint?: string } }).payload.checkpoint
    if (!note) return []
    const size = parseCheckpoint(splitNote(note).text).size
    const leaves = await feedLeavesOf(v, v.device, size)
    const results: PushResult[] = []
    for (const w of policy.witnesses.values()) {
      if (!w.url || w.key === v.device) continue
      const r = await pushCheckpoint({
        url: w.url,
        witness: w,
        note,
        leaves,
        knownSize: this.known.get(w.name)
      }).catch((err: Error) => ({
        witness: w.name,
        status: 0,
        cosignatures: [],
        size: null,
        reason: `unreachable: ${err.message}`
      }))
      if (r.size !== null) this.known.set(w.name, r.size)
      results.push(r)
      this.onReport(r)
      if (r.cosignatures.length > 0 && v.health.state === 'ok')
        await v.append(COSIGNATURE_TYPE, { v: 1, checkpoint: id, note: mergeNote(note, r.cosignatures) })
    }
    return results
  }
}
