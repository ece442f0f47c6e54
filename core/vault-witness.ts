/**
 * Members' devices are witnesses of each other's feeds. When this device
 * takes in another device's newer checkpoint (format 2, core/proofs/
 * checkpoint.ts), it checks the checkpoint states the feed exactly as this
 * device holds it, then asks its own witness (core/witness.ts) to cosign it
 * with a consistency proof from the last checkpoint it cosigned for that
 * origin, and records the cosigned note as a `proof.cosignature` event of its
 * own feed, which syncs like every event. A checkpoint that conflicts with
 * one it cosigned (a split view: the log showed this witness two histories)
 * is refused and recorded as a `proof.split_view` event carrying both notes,
 * so every device that syncs sees the evidence (`witnessReport`) and can
 * check it itself: both notes carry the log's own signature.
 *
 * The device's cosigner name is its own feed origin (the cosignature key ID,
 * type 0x04, differs from its log key ID, type 0x01).
 */
import { fromHex, toHex } from './bytes.js'
import type { Json } from './canonical.js'
import { everKeys } from './governance/state.js'
import {
  CHECKPOINT_TYPE,
  checkCheckpointNotes,
  checkCheckpointPayload,
  type CheckpointPayload
} from './proofs/checkpoint.js'
import { consistencyProof, leafHash, rootOf, type Hash } from './proofs/merkle.js'
import { feedOrigin, parseCheckpoint, parseFeedOrigin, type NoteKey } from './proofs/tlog.js'
import { noteKeyId, openNote, signatureLineOf, splitNote, type NoteVerifier } from './signed-note.js'
import { INTERNAL, MALFORMED, NOT_FOUND } from './errors.js'
import type { Vault } from './vault.js'
import { formatAddCheckpoint, parseAddCheckpoint, Witness, type SplitView, type WitnessResponse } from './witness.js'

export const COSIGNATURE_TYPE = 'proof.cosignature'
export const SPLIT_VIEW_TYPE = 'proof.split_view'

export type WitnessVault = Pick<
  Vault,
  | 'vaultId'
  | 'device'
  | 'dir'
  | 'store'
  | 'heads'
  | 'flush'
  | 'state'
  | 'health'
  | 'unlocked'
  | 'member'
  | 'append'
  | 'signDetached'
  | 'onChange'
>

/** The log key trusted for a Tresor feed origin of `vault`: the device key it names, if a member ever held it. */
export function feedLogKey(vault: string, origin: string, keys: Set<string>): NoteVerifier | null {
  const f = parseFeedOrigin(origin)
  if (!f || f.vault !== vault || !keys.has(f.author)) return null
  const publicKey = fromHex(f.author, 32)!
  return { name: origin, id: noteKeyId(origin, publicKey), publicKey }
}

/** This device as a cosigner: its key, named by its feed origin. */
export function deviceCosigner(vault: Pick<Vault, 'vaultId' | 'device' | 'signDetached'>): NoteKey {
  return {
    name: feedOrigin(vault.vaultId, vault.device),
    publicKey: fromHex(vault.device, 32)!,
    sign: (m) => vault.signDetached(m)
  }
}

/** The event ids of `author`'s feed, 1..size, as leaves. */
export async function feedLeavesOf(vault: Pick<WitnessVault, 'store'>, author: string, size: number): Promise<Hash[]> {
  const leaves: Hash[] = []
  for await (const page of vault.store.range(author, 1, size))
    for (const d of page) leaves.push(leafHash(fromHex(d.id, 32)!))
  if (leaves.length !== size) throw NOT_FOUND(`feed ${author.slice(0, 8)}… holds ${leaves.length} of ${size} events`)
  return leaves
}

/**
 * The cosignatures among raw events, by the checkpoint body they cosign (added to `into`). A cosignature event whose
 * note is out of shape (a member's key can sign anything) adds nothing and stops nothing.
 */
export function cosignaturesIn(raws: Iterable<string>, into: Map<string, string[]>): void {
  for (const raw of raws) {
    if (!raw.includes(`"type":"${COSIGNATURE_TYPE}"`)) continue
    const e = JSON.parse(raw) as { type: string; payload: { note?: unknown } }
    if (e.type !== COSIGNATURE_TYPE || typeof e.payload.note !== 'string') continue
    try {
      const n = splitNote(e.payload.note)
      into.set(n.text, [...(into.get(n.text) ?? []), ...n.signatures.map(signatureLineOf)])
    } catch {
      // a cosignature note out of shape adds nothing
    }
  }
}

export interface WitnessPass {
  cosigned: number
  splitViews: number
}

/**
 * One witness per open vault, whoever asks (the host's pass, a one-shot command's, the HTTP endpoint): one state,
 * and passes and outside calls one at a time, so two of them never cosign or record the same checkpoint twice.
 */
interface Shared {
  witness: Promise<Witness> | null
  external: readonly NoteVerifier[]
  lock: Promise<unknown>
  /** Per feed: how far this device has looked for checkpoints. */
  scanned: Map<string, number>
}
const SHARED = new WeakMap<object, Shared>()

function sharedOf(vault: WitnessVault): Shared {
  let s = SHARED.get(vault)
  if (!s) SHARED.set(vault, (s = { witness: null, external: [], lock: Promise.resolve(), scanned: new Map() }))
  return s
}

function exclusive<T>(s: Shared, fn: () => Promise<T>): Promise<T> {
  const run = s.lock.then(fn)
  s.lock = run.catch(() => undefined) // the caller gets the error; the next one still runs
  return run
}

export class VaultWitness {
  private readonly shared: Shared
  private running: Promise<WitnessPass> | null = null
  private again = false
  private stopped = false
  private unwatch = () => {}
  /** The last pass's failure, if it failed (a pass never takes its host down). */
  lastError: string | null = null

  constructor(
    private readonly vault: WitnessVault,
    private readonly onError: (err: Error) => void = () => undefined,
    /** Logs outside the vault this device witnesses over HTTP (`tresor serve --witness-log VKEY`). */
    externalLogs?: readonly NoteVerifier[]
  ) {
    this.shared = sharedOf(vault)
    if (externalLogs) this.shared.external = externalLogs
  }

  /** A witness that runs a pass whenever events are taken in or the key is unlocked (a long-running host's). */
  static start(
    vault: WitnessVault,
    onError?: (err: Error) => void,
    externalLogs: readonly NoteVerifier[] = []
  ): VaultWitness {
    const w = new VaultWitness(vault, onError, externalLogs)
    w.unwatch = vault.onChange((c) => {
      if (c.kind === 'ingest' && c.admitted > 0) w.request()
      else if (c.kind === 'key' && c.unlocked) w.request()
    })
    w.request()
    return w
  }

  /** The witness of this vault folder (its state in witness.json), opened on first use. */
  async open(): Promise<Witness> {
    const v = this.vault
    const s = this.shared
    s.witness ??= Witness.open(v.dir, deviceCosigner(v), (origin) => {
      const k = feedLogKey(v.vaultId, origin, everKeys(v.state))
      if (k) return [k]
      const external = s.external.filter((l) => l.name === origin)
      return external.length > 0 ? external : null
    })
    s.witness.catch(() => {
      s.witness = null // a damaged state file is reported by this call; the next opens it again
    })
    return s.witness
  }

  /** Run a pass soon (one at a time; a request during a pass runs one more after it). */
  request(): void {
    if (this.stopped) return
    if (this.running) {
      this.again = true
      return
    }
    this.running = this.pass()
      .then((r) => {
        this.lastError = null
        return r
      })
      .catch((err: Error) => {
        this.lastError = err.message
        this.onError(err)
        return { cosigned: 0, splitViews: 0 }
      })
      .finally(() => {
        this.running = null
        if (this.again) {
          this.again = false
          this.request()
        }
      })
  }

  /** Wait for the pass in flight, if any. */
  async settled(): Promise<void> {
    while (this.running) await this.running
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.unwatch()
    await this.settled()
  }

  /** Look at every other feed's checkpoints taken in since the last pass, and witness the newest of each. */
  pass(): Promise<WitnessPass> {
    return exclusive(this.shared, () => this.passNow())
  }

  private async passNow(): Promise<WitnessPass> {
    const v = this.vault
    const out: WitnessPass = { cosigned: 0, splitViews: 0 }
    if (!v.unlocked || v.health.state !== 'ok' || !v.member) return out
    await v.flush()
    const witness = await this.open()
    for (const [author, head] of Object.entries(v.heads())) {
      if (author === v.device) continue
      const origin = feedOrigin(v.vaultId, author)
      const known = this.shared.scanned.get(author) ?? witness.latest(origin)?.size ?? null
      if (known !== null && known >= head.length) continue
      // Only the newest checkpoint counts: read back from the head, a page at a time, down to what was looked at
      // before (a feed never witnessed is read back as far as its newest checkpoint, not from its start).
      let newest: { id: string; payload: unknown } | null = null
      for (let hi = head.length; hi > (known ?? 0) && !newest; hi -= 256) {
        const lo = Math.max((known ?? 0) + 1, hi - 255)
        for await (const page of v.store.range(author, lo, hi))
          for (const doc of page)
            if (doc.type === CHECKPOINT_TYPE)
              newest = { id: doc.id, payload: (JSON.parse(doc.raw) as { payload: unknown }).payload }
      }
      this.shared.scanned.set(author, head.length)
      if (!newest) continue
      const r = await this.witnessOne(witness, author, newest.id, newest.payload)
      if (r === 'cosigned') out.cosigned++
      else if (r === 'split') out.splitViews++
    }
    return out
  }

  private async witnessOne(
    witness: Witness,
    author: string,
    id: string,
    raw: unknown
  ): Promise<'cosigned' | 'split' | 'skipped'> {
    const v = this.vault
    let payload: CheckpointPayload
    try {
      payload = checkCheckpointPayload(raw)
      checkCheckpointNotes(payload, v.vaultId, author)
    } catch {
      return 'skipped' // a checkpoint that does not hold together is the full check's to report (CHECKPOINT_MISMATCH)
    }
    if (payload.checkpoint === undefined) return 'skipped' // format 1: nothing to cosign
    const origin = feedOrigin(v.vaultId, author)
    const body = parseCheckpoint(splitNote(payload.checkpoint).text)
    const held = witness.latest(origin)
    if (held && held.size > body.size) return 'skipped' // older than what this device already cosigned
    if (held?.logged === id || held?.logged === `split:${id}`) return 'skipped' // recorded already
    const leaves = await feedLeavesOf(v, author, body.size)
    // The checkpoint must state the feed exactly as this device holds it (verified, event by event).
    if (toHex(rootOf(leaves)) !== toHex(body.root)) return 'skipped'
    const old = held?.size ?? 0
    const proof = old > 0 && old < body.size ? consistencyProof(leaves, old, body.size) : []
    const res = await witness.addCheckpoint(formatAddCheckpoint(old, proof, payload.checkpoint))
    if (res.status === 200) {
      await v.append(COSIGNATURE_TYPE, { v: 1, checkpoint: id, note: res.cosigned! })
      await witness.markLogged(origin, id)
      return 'cosigned'
    }
    const evidence: SplitView | undefined =
      res.evidence ??
      (res.status === 422 && held
        ? {
            origin,
            held: held.note,
            shown: payload.checkpoint,
            reason: `size ${body.size} as the feed holds it does not extend the size ${held.size} this device cosigned`
          }
        : undefined)
    if (!evidence) throw INTERNAL(`the witness refused ${origin.slice(0, 40)}…: ${res.status} ${res.body.trim()}`)
    await this.recordSplitView(evidence, id)
    return 'split'
  }

  /**
   * The tlog-witness call from outside (`POST /add-checkpoint`). A checkpoint of one of this vault's feeds must also
   * state the feed as this device holds it, as far as it holds it; what it cosigns of them is recorded like a pass's.
   */
  addCheckpoint(request: string): Promise<WitnessResponse> {
    return exclusive(this.shared, () => this.addNow(request))
  }

  private async addNow(request: string): Promise<WitnessResponse> {
    const v = this.vault
    if (!v.unlocked)
      return { status: 503, contentType: 'text/plain; charset=utf-8', body: 'the witness key is locked\n' }
    const witness = await this.open()
    let checkpoint: string | null = null
    try {
      const req = parseAddCheckpoint(request)
      const body = parseCheckpoint(splitNote(req.note).text)
      const feed = parseFeedOrigin(body.origin)
      const held = feed?.vault === v.vaultId ? (v.heads()[feed.author]?.length ?? 0) : 0
      if (feed && feed.vault === v.vaultId && held >= body.size) {
        await v.flush()
        const leaves = await feedLeavesOf(v, feed.author, body.size)
        if (toHex(rootOf(leaves)) !== toHex(body.root))
          return {
            status: 422,
            contentType: 'text/plain; charset=utf-8',
            body: `size ${body.size} does not match the feed as this witness holds it\n`
          }
      }
      if (feed?.vault === v.vaultId) checkpoint = body.origin
    } catch {
      // out of shape: the witness answers 400 with the reason
    }
    const res = await witness.addCheckpoint(request)
    if (checkpoint !== null && v.health.state === 'ok' && v.member) {
      if (res.status === 200) await v.append(COSIGNATURE_TYPE, { v: 1, note: res.cosigned! })
      else if (res.evidence) await this.recordSplitView(res.evidence, null)
    }
    return res
  }

  /** Sign the evidence into this device's feed, once per conflicting checkpoint (inside a pass or a call). */
  private async recordSplitView(e: SplitView, checkpoint: string | null): Promise<void> {
    const witness = await this.open()
    if (witness.latest(e.origin)?.logged === `split:${checkpoint}`) return
    const payload: { [k: string]: Json } = { v: 1, origin: e.origin, held: e.held, shown: e.shown, reason: e.reason }
    if (checkpoint) payload.checkpoint = checkpoint
    await this.vault.append(SPLIT_VIEW_TYPE, payload)
    await witness.markLogged(e.origin, `split:${checkpoint}`)
  }
}

export interface SplitViewRow {
  origin: string
  /** The device key whose log it is, and its member. */
  log: string
  member: string | null
  reportedBy: string
  ts: string
  reason: string
  sizes: [number, number]
  /** Both notes carry the log's valid signature and cannot both be true. */
  confirmed: boolean
  why: string
}

/** Is `e` real evidence: two notes signed by the log's key that disagree? (`rootAt` gives this device's own view.) */
export function judgeSplitView(
  vault: string,
  keys: Set<string>,
  e: { origin?: unknown; held?: unknown; shown?: unknown },
  rootAt: (author: string, size: number) => string | null
): { confirmed: boolean; why: string; sizes: [number, number] } {
  try {
    const key = typeof e.origin === 'string' ? feedLogKey(vault, e.origin, keys) : null
    if (!key) return { confirmed: false, why: 'the origin is not a feed of this vault', sizes: [0, 0] }
    const [a, b] = [e.held, e.shown].map((n) => {
      const opened = openNote(String(n), [key])
      const body = parseCheckpoint(opened.text)
      if (body.origin !== key.name) throw MALFORMED('a note is of another origin')
      return body
    }) as [ReturnType<typeof parseCheckpoint>, ReturnType<typeof parseCheckpoint>]
    const sizes: [number, number] = [a.size, b.size]
    if (a.size === b.size && toHex(a.root) !== toHex(b.root))
      return { confirmed: true, why: `the log signed two roots for size ${a.size}`, sizes }
    const author = parseFeedOrigin(key.name)!.author
    for (const c of [a, b]) {
      const mine = rootAt(author, c.size)
      if (mine !== null && mine !== toHex(c.root))
        return {
          confirmed: true,
          why: `the log signed a root for size ${c.size} that its own events do not give`,
          sizes
        }
    }
    return { confirmed: false, why: 'both notes agree with the feed as this device holds it', sizes }
  } catch (err) {
    return { confirmed: false, why: `the evidence does not verify: ${(err as Error).message}`, sizes: [0, 0] }
  }
}

const EVIDENCE = new WeakMap<
  object,
  { scanned: Map<string, number>; evidence: { author: string; ts: string; payload: Record<string, unknown> }[] }
>()

/** Every device's split-view evidence in this vault, each judged here. */
export async function witnessReport(
  vault: Pick<WitnessVault, 'flush' | 'state' | 'heads' | 'store' | 'vaultId'>
): Promise<SplitViewRow[]> {
  await vault.flush()
  const keys = everKeys(vault.state)
  const rows: SplitViewRow[] = []
  // Read once: each call reads only what arrived since the last (a view refreshes this often).
  let seen = EVIDENCE.get(vault)
  if (!seen) EVIDENCE.set(vault, (seen = { scanned: new Map(), evidence: [] }))
  const evidence = seen.evidence
  for (const [author, head] of Object.entries(vault.heads())) {
    const from = (seen.scanned.get(author) ?? 0) + 1
    seen.scanned.set(author, head.length)
    for await (const page of vault.store.range(author, from, head.length))
      for (const doc of page) {
        if (doc.type !== SPLIT_VIEW_TYPE) continue
        const e = JSON.parse(doc.raw) as { payload: Record<string, unknown>; ts: string }
        evidence.push({ author, ts: e.ts, payload: e.payload })
      }
  }
  // This device's own view of each feed that evidence names: the roots its verified events give.
  const leavesOf = new Map<string, Hash[]>()
  for (const e of evidence) {
    const log = parseFeedOrigin(String(e.payload.origin))?.author
    const length = log ? (vault.heads()[log]?.length ?? 0) : 0
    if (log && !leavesOf.has(log)) leavesOf.set(log, await feedLeavesOf(vault, log, length))
  }
  const rootAt = (author: string, size: number) => {
    const l = leavesOf.get(author) ?? []
    return l.length >= size ? toHex(rootOf(l, 0, size)) : null
  }
  for (const e of evidence) {
    const judged = judgeSplitView(vault.vaultId, keys, e.payload, rootAt)
    const log = parseFeedOrigin(String(e.payload.origin))?.author ?? ''
    const member = Object.values(vault.state.members).find((m) => [...m.keys, ...m.revokedKeys].includes(log))
    rows.push({
      origin: String(e.payload.origin).slice(0, 200),
      log,
      member: member?.name ?? null,
      reportedBy: e.author,
      ts: e.ts,
      reason: String(e.payload.reason ?? '').slice(0, 300),
      ...judged
    })
  }
  return rows
}
