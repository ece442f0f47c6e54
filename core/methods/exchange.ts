/** What leaves and enters the vault as files: inclusion proofs and bundles. */
import { parseBounded } from '../canonical.js'
import { BAD_ARGUMENT, NOT_FOUND } from '../errors.js'
import { own } from '../dict.js'
import { knownHeads } from '../peers.js'
import { makeCheckpoint, proveConsistency, proveInclusion, type CheckpointVault } from '../proofs/prover.js'
import type { ConsistencyProofFile, InclusionProofFile } from '../proofs/proof-file.js'
import type { CheckpointPayload } from '../proofs/checkpoint.js'
import { policyTemplate, proveTlog } from '../proofs/tlog-proof.js'
import { cosignerVerifierKey, feedOrigin } from '../proofs/tlog.js'
import { fromHex } from '../bytes.js'
import {
  VaultWitness,
  witnessReport,
  type SplitViewRow,
  type WitnessPass,
  type WitnessVault
} from '../vault-witness.js'
import { BUNDLE_ARGS, obj, optString, reads, signs, type Domain } from './meta.js'
import { exportBundle, importBundle, type BundleSink, type BundleSource, type ImportSummary } from '../bundle.js'

/** Bundles travel through the API as text; a bigger one goes by file (tresor bundle). */
export const MAX_BUNDLE_TEXT = 48 * 1024 * 1024

export interface ExchangeMethods {
  /** Sign a checkpoint: every feed's length and Merkle root, and a root over them. */
  'proof.checkpoint': (args: Record<never, never>) => Promise<{ id: string; payload: CheckpointPayload }>
  'proof.event': (args: { id: string }) => Promise<InclusionProofFile>
  /** The event's tlog-proof (c2sp.org/tlog-proof@v1): its device's checkpoint note with every cosignature held. */
  'proof.tlog': (args: { id: string }) => Promise<{ text: string }>
  /** Witness now: cosign the newest checkpoint of every other device taken in and not cosigned yet. */
  'witness.cosign': (args: Record<never, never>) => Promise<WitnessPass>
  /** What the witnesses say: the governed policy (and a template), split-view evidence judged here, the last error. */
  'witness.status': (args: Record<never, never>) => Promise<WitnessStatus>
  /** That checkpoint `to` extends checkpoint `from` (feeds only grew). */
  'proof.consistency': (args: { from: string; to: string }) => Promise<ConsistencyProofFile>
  /**
   * A signed bundle of what another device lacks: past `since` (feed lengths it reported), or past what the
   * devices of member `for` are known to hold (core/peers.ts: nothing known, everything), or everything.
   */
  'bundle.export': (args: {
    since?: Record<string, number>
    for?: string
  }) => Promise<{ text: string; events: number; for: { member: string; known: boolean } | null }>
  /** Import a bundle through the gate, all or nothing, and say what arrived, by name. */
  'bundle.import': (args: { text: string }) => Promise<ImportSummary>
}

export interface WitnessStatus {
  /** This device as a witness: its cosigner name, key and verifier key (vkey, type 0x04) for other policies. */
  me: { name: string; key: string; vkey: string }
  policy: string | null
  /** Every member device as log and witness, a majority of the others as quorum: a policy to start from. */
  template: string
  splitViews: SplitViewRow[]
}

/** Proofs and bundles: the prover's view of the vault, and what bundle export and import use of it. */
export type ExchangeVault = CheckpointVault & BundleSource & BundleSink & WitnessVault

export const exchangeDomain: Domain<ExchangeMethods, ExchangeVault> = {
  meta: {
    'proof.checkpoint': signs,
    'proof.event': reads,
    'proof.consistency': reads,
    'proof.tlog': reads,
    'witness.status': reads,
    'witness.cosign': signs,
    // The bundle is signed by this device's key.
    'bundle.export': { ...signs, writes: false },
    'bundle.import': { signs: false, writes: true, maxArgBytes: BUNDLE_ARGS }
  },
  build: ({ vault }) => ({
    'proof.checkpoint': async () => makeCheckpoint(vault),
    'proof.consistency': async (args) => {
      const a = obj(args)
      const from = optString(a.from, 'from', 64),
        to = optString(a.to, 'to', 64)
      if (!from || !to) throw BAD_ARGUMENT('from and to name two checkpoints (their ids)')
      return proveConsistency(vault, from, to)
    },
    'proof.tlog': async (args) => {
      const id = optString(obj(args).id, 'id', 64)
      if (!id) throw BAD_ARGUMENT('id is required')
      return { text: await proveTlog(vault, id) }
    },
    'witness.cosign': async () => new VaultWitness(vault).pass(),
    'witness.status': async () => {
      const keys = Object.values(vault.state.members).flatMap((m) => m.keys.map((key) => ({ member: m.name, key })))
      const name = feedOrigin(vault.vaultId, vault.device)
      return {
        me: { name, key: vault.device, vkey: cosignerVerifierKey(name, fromHex(vault.device, 32)!) },
        policy: vault.state.witnessPolicy ?? null,
        template: policyTemplate(vault.vaultId, keys, Math.max(1, Math.ceil((keys.length - 1) / 2))),
        splitViews: await witnessReport(vault)
      }
    },
    'proof.event': async (args) => {
      const id = optString(obj(args).id, 'id', 64)
      if (!id) throw BAD_ARGUMENT('id is required')
      return proveInclusion(vault, id)
    },
    'bundle.export': async (args) => {
      const since = obj(args).since ?? {}
      if (
        typeof since !== 'object' ||
        since === null ||
        Array.isArray(since) ||
        !Object.values(since).every((n) => Number.isSafeInteger(n) && (n as number) >= 0)
      ) {
        throw BAD_ARGUMENT('since maps author keys to feed lengths')
      }
      const name = optString(obj(args).for, 'for', 64)
      if (name !== undefined && obj(args).since !== undefined) throw BAD_ARGUMENT('give since or for, not both')
      let target: { member: string; known: boolean } | null = null
      let from = since as Record<string, number>
      if (name !== undefined) {
        const member = own(vault.state.members, name)
        if (!member || !member.active) throw NOT_FOUND(`no member ${name.slice(0, 64)}`)
        const known = await knownHeads(vault.dir, member.keys)
        from = known.heads
        target = { member: member.name, known: known.known }
      }
      const bundle = await exportBundle(vault, from)
      return { text: JSON.stringify(bundle), events: bundle.events.length, for: target }
    },
    'bundle.import': async (args) => {
      const text = obj(args).text
      if (typeof text !== 'string' || text.length === 0 || text.length > MAX_BUNDLE_TEXT)
        throw BAD_ARGUMENT(`text is a bundle file's content (at most ${MAX_BUNDLE_TEXT} bytes)`)
      parseBounded(text, MAX_BUNDLE_TEXT, 16) // refuse non-JSON and deep nesting before the vault reads it
      const summary = await importBundle(vault, text)
      // Witness the checkpoints it brought (a host that keeps a witness running would do it too: they take turns).
      if (summary.checkpoints > 0 && !vault.unlocked)
        summary.witnessError = 'the device key is locked: tresor witness cosign cosigns the checkpoints that arrived'
      else if (summary.checkpoints > 0)
        await new VaultWitness(vault).pass().catch((err: Error) => {
          summary.witnessError = err.message
        })
      return summary
    }
  })
}
