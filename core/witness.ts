/**
 * A witness (c2sp.org/tlog-witness): it keeps, per log origin, the latest
 * checkpoint it cosigned, and cosigns a new one only when a consistency proof
 * shows it extends that one. `addCheckpoint` is the protocol's one call, with
 * its status codes:
 *   400  the request is out of shape, or its old size is above the checkpoint's
 *   403  no signature verifies against a key trusted for the origin
 *   404  the origin is not a log this witness follows
 *   409  the old size is not the size last cosigned (the body says that size,
 *        text/x.tlog.size), or the size is the same and the root is not
 *   422  the consistency proof does not verify
 *   200  cosignature lines (cosignature/v1, timestamped)
 * Checking against the stored state and persisting the new one happen under
 * one lock, and the state is on disk (written atomically) before a
 * cosignature leaves, so a witness never cosigns two inconsistent checkpoints
 * of one origin, even across a crash. A same-size checkpoint with another
 * root is kept as evidence of a split view: two notes the log signed that
 * cannot both be true.
 */
import { join } from 'node:path'
import { readJsonFileIfExists, writeFileAtomic } from './files.js'
import { dict } from './dict.js'
import { MALFORMED, STORAGE_DAMAGED } from './errors.js'
import { openNote, signatureLineOf, splitNote, type NoteVerifier } from './signed-note.js'
import { verifyConsistency } from './proofs/merkle.js'
import { cosign, parseCheckpoint, type CheckpointBody, type NoteKey } from './proofs/tlog.js'

export const WITNESS_FILE = 'witness.json'
/** A request is a checkpoint and at most 63 hashes: anything larger is not one. */
export const MAX_WITNESS_REQUEST = 64 * 1024

export interface WitnessResponse {
  status: 200 | 400 | 403 | 404 | 409 | 422 | 503
  contentType: string
  body: string
  /** The cosigned checkpoint note (its signatures and this witness's line), on 200. */
  cosigned?: string
  /** On a split view: what this witness cosigned before, and the conflicting note the log also signed. */
  evidence?: SplitView
}

export interface SplitView {
  origin: string
  /** The note this witness cosigned (with the log's signature). */
  held: string
  /** The conflicting note, with the log's signature. */
  shown: string
  reason: string
}

interface Held {
  size: number
  root: string
  /** The note as cosigned: the log's signature and this witness's. */
  note: string
  /** Where the cosignature was recorded (a vault's own event), once it was. */
  logged?: string
}

const TEXT = 'text/plain; charset=utf-8'
const reply = (status: WitnessResponse['status'], body: string, contentType = TEXT): WitnessResponse => ({
  status,
  contentType,
  body: body.endsWith('\n') ? body : `${body}\n`
})

/** Parse an add-checkpoint body: `old N`, proof lines, a blank line, the checkpoint note. */
export function parseAddCheckpoint(text: string): { old: number; proof: Uint8Array[]; note: string } {
  const cut = text.indexOf('\n\n')
  if (cut < 0) throw MALFORMED('an add-checkpoint request has a blank line before the checkpoint')
  const lines = text.slice(0, cut).split('\n')
  const old = /^old (0|[1-9][0-9]{0,15})$/.exec(lines.shift() ?? '')
  if (!old) throw MALFORMED('an add-checkpoint request starts with "old <size>"')
  if (lines.length > 63) throw MALFORMED('a consistency proof has at most 63 lines')
  const proof = lines.map((l) => {
    const h = Buffer.from(l, 'base64')
    if (h.length !== 32 || h.toString('base64') !== l) throw MALFORMED('consistency proof lines are base64 hashes')
    return new Uint8Array(h)
  })
  return { old: Number(old[1]), proof, note: text.slice(cut + 2) }
}

/** The body a client sends. */
export function formatAddCheckpoint(old: number, proof: Uint8Array[], note: string): string {
  return [`old ${old}`, ...proof.map((h) => Buffer.from(h).toString('base64'))].join('\n') + `\n\n${note}`
}

export class Witness {
  private readonly held = new Map<string, Held>()
  private lock: Promise<unknown> = Promise.resolve()

  private constructor(
    private readonly path: string,
    private readonly cosigner: NoteKey,
    /** The keys trusted for a log origin, or null when this witness does not follow it. */
    private readonly logKeys: (origin: string) => NoteVerifier[] | null,
    private readonly now: () => number
  ) {}

  /** The witness whose state lives in `dir` (a vault folder). */
  static async open(
    dir: string,
    cosigner: NoteKey,
    logKeys: (origin: string) => NoteVerifier[] | null,
    now: () => number = Date.now
  ): Promise<Witness> {
    const w = new Witness(join(dir, WITNESS_FILE), cosigner, logKeys, now)
    const saved = (await readJsonFileIfExists(w.path, 64 * 1024 * 1024, 4)) as {
      v?: number
      logs?: Record<string, Held>
    } | null
    if (saved !== null) {
      if (saved.v !== 1 || typeof saved.logs !== 'object' || saved.logs === null)
        throw STORAGE_DAMAGED(
          `${WITNESS_FILE} is not a witness state this version reads: move it aside to start the witness over (each cosignature of a vault feed is also in this device's proof.cosignature events)`
        )
      for (const [origin, h] of Object.entries(saved.logs)) {
        if (!Number.isSafeInteger(h?.size) || typeof h.root !== 'string' || typeof h.note !== 'string')
          throw STORAGE_DAMAGED(`${WITNESS_FILE}: the state of ${origin.slice(0, 60)} is damaged`)
        w.held.set(origin, h)
      }
    }
    return w
  }

  /** The latest checkpoint cosigned for `origin`. */
  latest(origin: string): Readonly<Held> | null {
    return this.held.get(origin) ?? null
  }

  /** Say the latest cosignature was recorded as `id` (so a restart does not record it twice). */
  async markLogged(origin: string, id: string): Promise<void> {
    const run = this.lock.then(async () => {
      const h = this.held.get(origin)
      if (!h) return
      h.logged = id
      await this.save()
    })
    this.lock = run.catch(() => undefined) // the caller gets the error; the next call still runs
    return run
  }

  /** The protocol's one call; never throws for a bad request (a status says what is wrong). */
  addCheckpoint(request: string): Promise<WitnessResponse> {
    const run = this.lock.then(() => this.add(request))
    this.lock = run.catch(() => undefined) // the caller gets the error; the next request still runs
    return run
  }

  private async add(request: string): Promise<WitnessResponse> {
    if (Buffer.byteLength(request) > MAX_WITNESS_REQUEST) return reply(400, 'the request is too large')
    let req: ReturnType<typeof parseAddCheckpoint>
    let body: CheckpointBody
    let text: string
    try {
      req = parseAddCheckpoint(request)
      text = splitNote(req.note).text
      body = parseCheckpoint(text)
    } catch (err) {
      return reply(400, (err as Error).message)
    }
    const keys = this.logKeys(body.origin)
    if (!keys) return reply(404, `this witness does not follow ${body.origin.slice(0, 200)}`)
    try {
      openNote(req.note, keys)
    } catch {
      return reply(403, 'no signature on the checkpoint verifies against a key trusted for its origin')
    }
    if (req.old > body.size) return reply(400, 'the old size is above the checkpoint size')
    const held = this.held.get(body.origin)
    const heldSize = held?.size ?? 0
    if (req.old !== heldSize) return reply(409, String(heldSize), 'text/x.tlog.size')
    const root = Buffer.from(body.root).toString('base64')
    if (held && req.old === body.size) {
      if (held.root !== root) {
        const r = reply(409, String(heldSize), 'text/x.tlog.size')
        r.evidence = {
          origin: body.origin,
          held: held.note,
          shown: req.note,
          reason: `two checkpoints of size ${body.size} with different roots`
        }
        return r
      }
    } else if (held) {
      const ok = verifyConsistency(
        held.size,
        body.size,
        req.proof,
        new Uint8Array(Buffer.from(held.root, 'base64')),
        body.root
      )
      if (!ok) return reply(422, `the proof does not show size ${body.size} extends size ${held.size}`)
    } else if (req.proof.length > 0) {
      return reply(400, 'the proof is empty when the old size is 0')
    }
    const line = cosign(text, this.cosigner, Math.floor(this.now() / 1000))
    const cosigned = `${text}\n${splitNote(req.note)
      .signatures.filter((s) => keys.some((k) => k.name === s.name && k.id === s.id))
      .map(signatureLineOf)
      .join('')}${line}`
    this.held.set(body.origin, { size: body.size, root, note: cosigned })
    await this.save()
    return { ...reply(200, line), cosigned }
  }

  private async save(): Promise<void> {
    const logs = dict<Held>()
    for (const [origin, h] of this.held) logs[origin] = h
    await writeFileAtomic(this.path, JSON.stringify({ v: 1, logs }))
  }
}
