/**
 * A device of the adversarial governance model, in memory: the same gate
 * (planIngest), fold (GovFold) and writer rules (citationsFor, timeOf, the
 * trial fold) a Vault uses, without LevelDB, so a property test can run
 * hundreds of histories. What the gate keeps waiting is retried on every
 * delivery, like a sync round's staging.
 */
import { signEvent, type DecodedEvent } from '../../core/envelope.js'
import { planIngest, type Verdict } from '../../core/ingest.js'
import { GovFold, type GovEvent } from '../../core/governance/fold.js'
import { eventDocId } from '../../core/store.js'
import { sha256Hex } from '../../core/bytes.js'
import type { Json } from '../../core/canonical.js'
import type { SimMember } from './gov-sim.js'

export class ModelDevice {
  readonly slots = new Map<string, DecodedEvent>()
  readonly evidence = new Map<string, DecodedEvent>()
  readonly heads = new Map<string, { length: number; head: string }>()
  fold: GovFold
  private waiting = new Map<string, { docId: string; raw: string }>()
  /** Ids of the events in the feeds (what a v1 seen head may name). */
  private readonly slotIds = new Set<string>()
  readonly quarantined = new Map<string, Verdict>()

  constructor(
    readonly vaultId: string,
    genesis: DecodedEvent,
    readonly me: SimMember | null,
    private readonly clock: () => number
  ) {
    this.slots.set(eventDocId(genesis.event.author, 1), genesis)
    this.slotIds.add(genesis.id)
    this.heads.set(genesis.event.author, { length: 1, head: genesis.id })
    this.fold = GovFold.build(vaultId, [{ id: genesis.id, event: genesis.event }], [])
  }

  /** Every event this device holds (slots and evidence), as raw docs to carry elsewhere. */
  held(): { docId: string; raw: string }[] {
    return [...this.slots.values(), ...this.evidence.values()].map((d) => ({
      docId: eventDocId(d.event.author, d.event.seq),
      raw: d.raw
    }))
  }

  /** Take documents from outside through the gate; returns the verdicts of this delivery. */
  receive(docs: { docId: string; raw: string }[]): Verdict[] {
    const all = [...docs, ...this.waiting.values()]
    const held = all.map((x) => this.slots.get(x.docId)?.id ?? null)
    // the feed event at the seq before each one, as a vault looks it up (core/vault.ts heldBefore)
    const before = all.map((x) => {
      const m = /^ev!([0-9a-f]{64})!(\d{12})$/.exec(x.docId)
      const seq = m ? Number(m[2]) : 0
      return m && seq > 1 ? (this.slots.get(eventDocId(m[1]!, seq - 1))?.id ?? null) : null
    })
    const plan = planIngest({
      vaultId: this.vaultId,
      heads: this.heads,
      fold: this.fold,
      evidence: new Map(
        [...this.evidence].map(([id, d]) => [id, { author: d.event.author, seq: d.event.seq, prev: d.event.prev }])
      ),
      heldCited: this.slotIds,
      now: this.clock(),
      incoming: all,
      held,
      before
    })
    for (const d of plan.forks) this.evidence.set(d.id, d)
    for (const d of plan.admit) {
      this.slots.set(eventDocId(d.event.author, d.event.seq), d)
      this.slotIds.add(d.id)
    }
    for (const [a, h] of plan.heads) this.heads.set(a, h)
    if (plan.extended) plan.fold.commit()
    else this.fold = plan.fold
    this.waiting = new Map()
    for (const v of plan.verdicts) {
      if (v.decision === 'WAIT') {
        const doc = all.find((x) => x.docId === v.docId && sha256Hex(x.raw) === v.eventId)
        if (doc) this.waiting.set(v.eventId, doc)
      } else if (v.decision === 'QUARANTINE' && v.code !== 'FORK') this.quarantined.set(`${v.docId}:${v.eventId}`, v)
    }
    return plan.verdicts
  }

  /**
   * Sign the next governance event as an honest vault would: cite the tips,
   * date it no earlier than what it cites, fold it as a trial and keep it only
   * if it counts. Returns null (nothing signed) when the fold refuses it.
   */
  write(type: string, payload: Record<string, Json>): DecodedEvent | null {
    const me = this.me!
    const mine = this.heads.get(me.key) ?? { length: 0, head: '' }
    const prev = mine.length === 0 ? this.vaultId : mine.head
    const deps = this.fold.citationsFor(me.key)
    let ts = new Date(this.clock()).toISOString()
    const refs = [payload.proposal, ...(Array.isArray(payload.approvals) ? payload.approvals : [])].filter(
      (x): x is string => typeof x === 'string'
    )
    const cited = this.fold.timeOf([prev, ...deps.map((d) => d.id), ...refs])
    if (cited > ts) ts = cited
    const d = signEvent(
      { v: 2, vault: this.vaultId, author: me.key, seq: mine.length + 1, prev, ts, type, payload, deps },
      me.kp.secretKey
    )
    const g: GovEvent = { id: d.id, event: d.event }
    this.fold.begin()
    let fold = this.fold
    if (!fold.extend([g], true)) {
      this.fold.rollback()
      fold = GovFold.build(this.vaultId, this.fold.events(), [g], this.fold.context())
    }
    if (fold.outcome(d.id)?.kind !== 'ok') {
      if (fold === this.fold) this.fold.rollback()
      return null
    }
    if (fold === this.fold) this.fold.commit()
    else this.fold = fold
    this.slots.set(eventDocId(me.key, d.event.seq), d)
    this.slotIds.add(d.id)
    this.heads.set(me.key, { length: d.event.seq, head: d.id })
    return d
  }
}
