/**
 * Offline transfer: a bundle is a signed file of events another device lacks
 * (a USB stick between an air-gapped laptop and the rest). Format v1:
 * `{format, v, vault, signer, created, events: [canonical signed event, …], sig}`
 * where `sig` covers `tresor/v1/bundle/<vault>\n` + the canonical JSON of
 * everything else. Importing verifies everything and applies all or nothing.
 * Beside the signed body, `blobs` may carry the bytes of the documents its
 * events name (`[{digest, data: base64}]`): unsigned, as each names itself by
 * its SHA-256 and passes the blob gate on import (core/documents/blob-exchange.ts).
 */
import { canonicalize, parseBounded, type Json } from './canonical.js'
import { concatBytes, fromHex, isHex, toHex, utf8 } from './bytes.js'
import { signDetached, verifyStrict } from './ed25519.js'
import { decodeEvent, type DecodedEvent } from './envelope.js'
import { LOCKED, MALFORMED, VERIFY_FAILED, WRONG_VAULT } from './errors.js'
import { DOMAIN_TAG, FORK_PREFIX } from './formats.js'
import { own } from './dict.js'
import { eventDocId, parseEventDocId, type LogStore } from './store.js'
import type { Verdict } from './ingest.js'
import { keyOwner, type GovState } from './governance/state.js'
import { CHECKPOINT_TYPE } from './proofs/checkpoint.js'
import { reviewAction } from './review.js'
import { learnFromBundle } from './peers.js'
import { BlobStore } from './documents/blobs.js'
import { blobExchangeOf } from './documents/blob-exchange.js'
import { syncFolders } from './files.js'
import { DOC_PLAN_TYPE } from './documents/register.js'

export const BUNDLE_FORMAT = 'tresor-bundle'
export const BUNDLE_VERSION = 1
/** Largest bundle accepted, before parsing. */
export const MAX_BUNDLE_BYTES = 512 * 1024 * 1024

export interface Bundle {
  format: typeof BUNDLE_FORMAT
  v: typeof BUNDLE_VERSION
  vault: string
  signer: string
  created: string
  events: string[]
  sig: string
  /** The documents' bytes its events name (not signed: each is checked against its digest on import). */
  blobs?: { digest: string; data: string }[]
}

function bundleBytes(b: Omit<Bundle, 'sig'>): Uint8Array {
  const { format, v, vault, signer, created, events } = b
  return concatBytes(
    utf8(DOMAIN_TAG.bundle(vault)),
    utf8(canonicalize({ format, v, vault, signer, created, events } as unknown as Json, 4))
  )
}

export function signBundle(
  vault: string,
  signer: string,
  secretKey: Uint8Array,
  events: string[],
  now: Date = new Date()
): Bundle {
  return signBundleWith(vault, signer, (m) => signDetached(secretKey, m), events, now)
}

/** Sign a bundle with a signer that holds the key (the vault's `signDetached`), not the key itself. */
function signBundleWith(
  vault: string,
  signer: string,
  sign: (message: Uint8Array) => Uint8Array,
  events: string[],
  now: Date = new Date()
): Bundle {
  const body = { format: BUNDLE_FORMAT, v: BUNDLE_VERSION, vault, signer, created: now.toISOString(), events } as const
  return { ...body, sig: toHex(sign(bundleBytes(body))) }
}

/** What making a bundle reads of the vault: the verified feeds, the fork evidence it holds, and its signer. */
export interface BundleSource {
  readonly vaultId: string
  readonly device: string
  readonly unlocked: boolean
  readonly store: LogStore
  /** Where its blob store lives (documents' bytes travel with the events that name them). */
  readonly dir?: string
  /** Feed lengths as verified (an event past them is not vouched for, so not bundled). */
  heads(): Record<string, { length: number; head: string }>
  /** Whether the fork evidence document `id` is held as evidence. */
  isEvidence(id: string): boolean
  signDetached(message: Uint8Array): Uint8Array
}

/** A signed bundle of the vault's events past `since` (feed lengths another device has), in feed order. */
export async function exportBundle(v: BundleSource, since: Record<string, number> = {}): Promise<Bundle> {
  if (!v.unlocked) throw LOCKED('unlock the device key to sign the bundle')
  const heads = v.heads()
  const raws: string[] = []
  for await (const page of v.store.scan()) {
    for (const doc of page) {
      const slot = parseEventDocId(doc._id)
      const verified = slot ? (own(heads, slot.author)?.length ?? 0) : 0
      if (slot && slot.seq > (own(since, slot.author) ?? 0) && slot.seq <= verified) raws.push(doc.raw)
    }
  }
  // Fork evidence travels too, so every device learns of a fork and holds both branches.
  for await (const page of v.store.scan({ prefix: FORK_PREFIX }))
    for (const doc of page) if (!doc._deleted && v.isEvidence(doc.id)) raws.push(doc.raw)
  const bundle = signBundleWith(v.vaultId, v.device, (m) => v.signDetached(m), raws)
  const blobs = v.dir ? await blobsNamedBy(new BlobStore(v.dir), raws) : []
  return blobs.length > 0 ? { ...bundle, blobs } : bundle
}

/** The blobs a plan part or a proposed version among `raws` names, as far as they are held here. */
async function blobsNamedBy(store: BlobStore, raws: string[]): Promise<{ digest: string; data: string }[]> {
  const digests = new Set<string>()
  for (const raw of raws) {
    if (!raw.includes('"type":"doc.plan"') && !raw.includes('"kind":"doc.version"')) continue
    const e = (JSON.parse(raw) as { type: string; payload: Record<string, unknown> }) ?? {}
    if (e.type === DOC_PLAN_TYPE && Array.isArray(e.payload.files))
      for (const f of e.payload.files as { digest?: unknown }[]) if (isHex(f?.digest, 32)) digests.add(f.digest)
    const action = e.payload.action as { kind?: unknown; args?: { digest?: unknown } } | undefined
    if (e.type === 'gov.propose' && action?.kind === 'doc.version' && isHex(action.args?.digest, 32))
      digests.add(action.args.digest)
  }
  const out: { digest: string; data: string }[] = []
  for (const digest of digests)
    if (await store.has(digest)) out.push({ digest, data: (await store.get(digest)).toString('base64') })
  return out
}

/** What importing a bundle uses of the vault: its gate, its folder (what the signer holds) and its state (names). */
export interface BundleSink {
  readonly vaultId: string
  readonly device: string
  readonly dir: string
  readonly state: GovState
  readonly store: Pick<LogStore, 'get'>
  ingest(
    incoming: { docId: string; raw: unknown }[],
    options: { allOrNothing?: boolean; signer?: string }
  ): Promise<Verdict[]>
}

/** What a bundle brought, for people: who signed it and the governance steps that arrived, by name. */
export interface ImportSummary {
  admitted: number
  duplicates: number
  /** The member whose device signed the bundle (null: a device no member holds). */
  from: string | null
  /** One line per governance event that arrived: "bob approved: switch finance_enabled on". */
  arrived: string[]
  /** Other events that arrived (notes, checkpoints, telemetry anchors). */
  other: number
  /** Other devices' checkpoints among them (what this device may witness). */
  checkpoints: number
  /** Why the checkpoints it brought could not be witnessed here, if they could not (the import itself stands). */
  witnessError?: string
  /** Documents' bytes it brought: kept, or quarantined (they do not hash to their name, or no plan names them). */
  blobs?: { admitted: number; quarantined: number }
}

const VERBS: Record<string, string> = {
  'gov.propose': 'proposed',
  'gov.approve': 'approved',
  'gov.reject': 'rejected',
  'gov.withdraw': 'withdrew',
  'gov.commit': 'committed'
}

/** Import a bundle through the gate, all or nothing; learn what its signer holds; say what arrived. */
export async function importBundle(v: BundleSink, text: string): Promise<ImportSummary> {
  const { bundle, events } = openBundle(text, v.vaultId)
  const verdicts = await v.ingest(
    events.map((d) => ({ docId: eventDocId(d.event.author, d.event.seq), raw: d.raw })),
    { allOrNothing: true, signer: bundle.signer }
  )
  await learnFromBundle(v.dir, bundle.signer, events)
  const name = (key: string) => keyOwner(v.state, key)?.member.name ?? `device ${key.slice(0, 8)}…`
  const admitted = new Set(verdicts.filter((x) => x.decision === 'ADMIT').map((x) => x.eventId))
  const arrived: string[] = []
  let other = 0
  let checkpoints = 0
  for (const d of events) {
    if (!admitted.has(d.id)) continue
    if (d.event.type === CHECKPOINT_TYPE && d.event.author !== v.device) checkpoints++
    const verb = own(VERBS, d.event.type)
    const ref = d.event.type === 'gov.propose' ? d.id : String(d.event.payload.proposal ?? '')
    const p = own(v.state.proposals, ref)
    if (verb)
      arrived.push(
        `${name(d.event.author)} ${verb}: ${p ? reviewAction(v.state, p.action).title : `proposal ${ref.slice(0, 12)}…`}`
      )
    else other++
  }
  const blobs = { admitted: 0, quarantined: 0 }
  const exchange = blobExchangeOf(v)
  const folders = new Set<string>()
  for (const b of bundle.blobs ?? []) {
    const source = `bundle signed by ${bundle.signer}`
    const verdict = await exchange.accept(b.digest, Buffer.from(b.data, 'base64'), source, folders)
    if (verdict === 'ADMIT') blobs.admitted++
    else if (verdict !== 'DUPLICATE' && verdict !== 'KNOWN') blobs.quarantined++
  }
  await syncFolders(folders)
  return {
    admitted: admitted.size,
    duplicates: verdicts.filter((x) => x.decision === 'DUPLICATE').length,
    from: keyOwner(v.state, bundle.signer)?.member.name ?? null,
    arrived,
    other,
    checkpoints,
    ...(bundle.blobs ? { blobs } : {})
  }
}

/**
 * Parse a bundle file and check everything that needs no vault state: size,
 * shape, vault, the bundle signature, and each event's bytes and signature.
 * Throws MALFORMED, WRONG_VAULT or VERIFY_FAILED naming the first problem.
 */
export function openBundle(text: string, expectedVault: string | null): { bundle: Bundle; events: DecodedEvent[] } {
  const b = parseBounded(text, MAX_BUNDLE_BYTES, 4) as unknown as Bundle
  if (typeof b !== 'object' || b === null || b.format !== BUNDLE_FORMAT || b.v !== BUNDLE_VERSION)
    throw MALFORMED('not a Tresor v1 bundle')
  if (
    !isHex(b.vault, 32) ||
    !isHex(b.signer, 32) ||
    !isHex(b.sig, 64) ||
    typeof b.created !== 'string' ||
    !Array.isArray(b.events) ||
    !b.events.every((e) => typeof e === 'string')
  ) {
    throw MALFORMED('bundle lacks vault, signer, created, events or sig')
  }
  if (
    b.blobs !== undefined &&
    (!Array.isArray(b.blobs) || !b.blobs.every((x) => isHex(x?.digest, 32) && typeof x.data === 'string'))
  )
    throw MALFORMED('bundle blobs are [{digest, data}]')
  if (expectedVault !== null && b.vault !== expectedVault)
    throw WRONG_VAULT(`bundle is for vault ${b.vault.slice(0, 12)}…, not this one`)
  if (!verifyStrict(fromHex(b.signer, 32)!, bundleBytes(b), fromHex(b.sig, 64)!)) {
    throw VERIFY_FAILED('bundle signature does not verify: the file was altered or forged')
  }
  const events = b.events.map((raw, i) => {
    try {
      return decodeEvent(raw, b.vault)
    } catch (err) {
      throw VERIFY_FAILED(`bundle event ${i + 1} does not verify: ${(err as Error).message}`)
    }
  })
  return { bundle: b, events }
}
