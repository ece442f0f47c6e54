/**
 * Documents (issue 17): the migration of a ZIP of an old repository. The archive travels through the API as base64
 * (as a bundle's text does); planning reads it safely and writes nothing; migrating keeps every accepted file in the
 * blob store by digest, signs the plan into `doc.plan` events and proposes ONE `doc.migrate`. The register and
 * MIG_INDEX are computed from the committed migrations alone.
 */
import type { Vault } from '../vault.js'
import { BAD_ARGUMENT } from '../errors.js'
import { findProposal, propose, type GovernanceSigner } from '../governance/calls.js'
import type { ProposalState } from '../governance/state.js'
import { BlobStore } from '../documents/blobs.js'
import { planMigration, type MigrationPlan } from '../documents/migrate.js'
import { DEFAULT_ZIP_LIMITS, type ZipLimits } from '../documents/zip-reader.js'
import { settingValueOf } from '../settings.js'
import {
  committedMigrations,
  DOC_PLAN_TYPE,
  documentsIndex,
  planDigest,
  planFiles,
  planPayloads,
  toMigrated,
  type DocumentRow,
  type IndexRow,
  type MigratedFile
} from '../documents/register.js'
import { BUNDLE_ARGS, obj, optString, reads, signs, type Domain } from './meta.js'

/** The largest archive the API takes (base64 in a JSON body; a bundle's bound). */
export const MAX_ZIP_BYTES = 32 * 1024 * 1024

export interface DocumentMethods {
  /** What each file of the archive would become, and what is refused; writes nothing. */
  'documents.plan': (args: { name: string; zip: string }) => Promise<MigrationPlan>
  /**
   * Keep the archive's files by digest and propose their migration (one proposal). The same archive again: its batch
   * is already committed (`duplicate`, every file a DUPLICATE receipt) or already proposed (that proposal).
   */
  'documents.migrate': (args: { name: string; zip: string; reason: string }) => Promise<{
    plan: MigrationPlan
    proposal: ProposalState | null
    duplicate: boolean
  }>
  /** The files a migration proposal (open or closed) would bring in, from its plan events: what a reviewer reads. */
  'documents.proposalPlan': (args: { proposal: string }) => Promise<{ files: MigratedFile[] }>
  /** MIG_INDEX (every migrated file) and the documents register, from the committed migrations. */
  'documents.index': (
    args: Record<never, never>
  ) => Promise<{ index: IndexRow[]; documents: DocumentRow[]; waiting: string[] }>
}

type DocumentVault = Pick<Vault, 'dir' | 'store' | 'append' | 'flush'> & GovernanceSigner

function zipArgs(args: unknown): { name: string; bytes: Buffer } {
  const a = obj(args)
  const name = optString(a.name, 'name', 255) ?? 'archive.zip'
  if (typeof a.zip !== 'string' || a.zip.length === 0 || a.zip.length > (MAX_ZIP_BYTES * 4) / 3 + 4)
    throw BAD_ARGUMENT(`zip is the archive's bytes in base64 (at most ${MAX_ZIP_BYTES} bytes)`)
  const bytes = Buffer.from(a.zip, 'base64')
  if (bytes.toString('base64') !== a.zip) throw BAD_ARGUMENT('zip is not canonical base64')
  return { name, bytes }
}

/** The archive limits, with the governed bound on one document's size. */
const limitsOf = (vault: Pick<DocumentVault, 'state'>): ZipLimits => ({
  ...DEFAULT_ZIP_LIMITS,
  maxEntryBytes: settingValueOf(vault.state.settings, 'documentMaxBytes')
})

export const documentsDomain: Domain<DocumentMethods, DocumentVault> = {
  meta: {
    'documents.plan': { ...reads, maxArgBytes: BUNDLE_ARGS },
    'documents.migrate': { ...signs, maxArgBytes: BUNDLE_ARGS },
    'documents.proposalPlan': reads,
    'documents.index': reads
  },
  build: ({ vault }) => ({
    'documents.plan': async (args) => planMigration(zipArgs(args), limitsOf(vault)),
    'documents.migrate': async (args) => {
      const reason = optString(obj(args).reason, 'reason', 1000)
      if (!reason) throw BAD_ARGUMENT('a reason (1-1000 characters) is required')
      const blobs = new BlobStore(vault.dir)
      const plan = await planMigration(zipArgs(args), limitsOf(vault), async (digest, bytes) => {
        await blobs.put(bytes, digest)
      })
      if (plan.files.length === 0) throw BAD_ARGUMENT('the archive holds no file that can be migrated')
      if (committedMigrations(vault.state).some((m) => m.args.batch === plan.batch))
        return { plan, proposal: null, duplicate: true }
      const open = Object.values(vault.state.proposals).find(
        (p) => p.action.kind === 'doc.migrate' && p.status === 'open' && p.action.args.batch === plan.batch
      )
      if (open) return { plan, proposal: open, duplicate: false }
      const parts = []
      for (const payload of planPayloads(plan)) {
        const d = await vault.append(DOC_PLAN_TYPE, payload)
        parts.push({ author: d.event.author, seq: d.event.seq, id: d.id })
      }
      const files = plan.files.map(toMigrated)
      const proposal = await propose(
        vault,
        {
          kind: 'doc.migrate',
          args: {
            batch: plan.batch,
            zip: plan.zip,
            plan: { digest: planDigest(files), files: files.length, parts },
            counts: plan.counts
          }
        },
        reason
      )
      return { plan, proposal, duplicate: false }
    },
    'documents.proposalPlan': async (args) => {
      const p = findProposal(vault.state, String(obj(args).proposal ?? ''))
      if (p.action.kind !== 'doc.migrate') throw BAD_ARGUMENT(`proposal ${p.id.slice(0, 12)}… is not a migration`)
      await vault.flush()
      return { files: await planFiles(vault.store, p.action.args) }
    },
    'documents.index': async () => {
      await vault.flush()
      return documentsIndex(vault.store, vault.state)
    }
  })
}
