/**
 * Documents (issue 17): the migration of a ZIP of an old repository. The archive travels through the API as base64
 * (as a bundle's text does); planning reads it safely and writes nothing; migrating keeps every accepted file in the
 * blob store by digest, signs the plan into `doc.plan` events and proposes ONE `doc.migrate`. The register and
 * MIG_INDEX are computed from the committed migrations alone.
 */
import type { Vault } from '../vault.js'
import { BAD_ARGUMENT, NOT_ALLOWED, NOT_FOUND, OVERSIZED } from '../errors.js'
import { lazyPackage } from '../lazy.js'
import { docRulesOf, transitionProblem, type DocRules } from '../documents/rules.js'
import { findProposal, propose, type GovernanceSigner } from '../governance/calls.js'
import type { ProposalState } from '../governance/state.js'
import { BlobStore } from '../documents/blobs.js'
import { blobExchangeOf, type BlobQuarantineEntry } from '../documents/blob-exchange.js'
import { planMigration, type MigrationPlan } from '../documents/migrate.js'
import { DEFAULT_ZIP_LIMITS, type ZipLimits } from '../documents/zip-reader.js'
import { settingValueOf } from '../settings.js'
import { syncFolders } from '../files.js'
import {
  committedMigrations,
  DOC_PLAN_TYPE,
  documentsIndex,
  planDigest,
  planFiles,
  planPayloads,
  toMigrated,
  type DocumentsView,
  type MigratedFile
} from '../documents/register.js'
import { BUNDLE_ARGS, obj, optString, reads, signs, type Domain } from './meta.js'

const jsdiff = lazyPackage<typeof import('diff')>('diff')

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
  /** MIG_INDEX (every migrated file) and the documents register, from the committed migrations and changes. */
  'documents.index': (args: Record<never, never>) => Promise<DocumentsView>
  /** A version's bytes from the blob store, checked against its digest (text when it is UTF-8). */
  'documents.get': (args: {
    digest: string
  }) => Promise<{ digest: string; size: number; text: string | null; base64: string }>
  /** A line diff between two versions (text documents of at most 1 MiB). */
  'documents.diff': (args: {
    from: string
    to: string
  }) => Promise<{ lines: DiffLine[]; added: number; removed: number }>
  /** Blobs the gate refused on arrival (bytes that do not hash to their name, blobs no plan names), newest first. */
  'documents.quarantine': (args: Record<never, never>) => Promise<{ entries: BlobQuarantineEntry[] }>
  /** The documents rules in force (the defaults until a `doc.rules` commit). */
  'documents.rules': (args: Record<never, never>) => Promise<{ rules: DocRules; governed: boolean }>
  /** Propose a lifecycle change of a document, from the lifecycle the register holds. */
  'documents.proposeLifecycle': (args: { doc: string; to: string; reason: string }) => Promise<ProposalState>
  /**
   * Keep a new version's bytes by digest and propose it. A READ-ONLY document takes one only when `readOnly` is true
   * (the proposal says so).
   */
  'documents.proposeVersion': (args: {
    doc: string
    version: string
    content: string
    path?: string
    mediaType?: string
    title?: string
    lifecycle?: string
    readOnly?: boolean
    reason: string
  }) => Promise<ProposalState>
}

export interface DiffLine {
  op: ' ' | '+' | '-'
  text: string
}

const MAX_DIFF_BYTES = 1024 * 1024
const UTF8 = new TextDecoder('utf-8', { fatal: true })
const utf8 = (b: Uint8Array): string | null => {
  try {
    return UTF8.decode(b)
  } catch {
    return null // not UTF-8: no text
  }
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

function requiredReason(a: Record<string, unknown>): string {
  const reason = optString(a.reason, 'reason', 1000)
  if (!reason) throw BAD_ARGUMENT('a reason (1-1000 characters) is required')
  return reason
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
    'documents.index': reads,
    'documents.get': reads,
    'documents.diff': reads,
    'documents.rules': reads,
    'documents.quarantine': reads,
    'documents.proposeLifecycle': signs,
    'documents.proposeVersion': { ...signs, maxArgBytes: BUNDLE_ARGS }
  },
  build: ({ vault }) => ({
    'documents.plan': async (args) => planMigration(zipArgs(args), limitsOf(vault), undefined, docRulesOf(vault.state)),
    'documents.migrate': async (args) => {
      const reason = requiredReason(obj(args))
      const blobs = new BlobStore(vault.dir)
      const folders = new Set<string>()
      // up to 8 files written at once (their fsyncs overlap); reading waits while 8 are in flight
      const writing = new Set<Promise<unknown>>()
      const failed: unknown[] = []
      const plan = await planMigration(
        zipArgs(args),
        limitsOf(vault),
        async (digest, bytes) => {
          const w: Promise<unknown> = blobs
            .put(bytes, digest, folders)
            .catch((err: unknown) => failed.push(err))
            .finally(() => writing.delete(w))
          writing.add(w)
          if (writing.size >= 8) await Promise.race(writing)
        },
        docRulesOf(vault.state)
      )
      await Promise.all(writing)
      if (failed.length > 0) throw failed[0] as Error
      await syncFolders(folders) // every file is durably kept before the plan that names it is signed
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
    },
    'documents.get': async (args) => {
      const digest = String(obj(args).digest ?? '')
      const bytes = await new BlobStore(vault.dir).get(digest)
      return { digest, size: bytes.length, text: utf8(bytes), base64: bytes.toString('base64') }
    },
    'documents.diff': async (args) => {
      const a = obj(args)
      const blobs = new BlobStore(vault.dir)
      const [from, to] = await Promise.all([blobs.get(String(a.from ?? '')), blobs.get(String(a.to ?? ''))])
      if (from.length > MAX_DIFF_BYTES || to.length > MAX_DIFF_BYTES)
        throw BAD_ARGUMENT(`a diff is of text documents of at most ${MAX_DIFF_BYTES} bytes`)
      const [x, y] = [utf8(from), utf8(to)]
      if (x === null || y === null) throw BAD_ARGUMENT('one of the versions is not text (UTF-8): no line diff')
      const lines: DiffLine[] = []
      let added = 0
      let removed = 0
      for (const part of jsdiff().diffLines(x, y)) {
        const op = part.added ? '+' : part.removed ? '-' : ' '
        const texts = part.value.replace(/\n$/, '').split('\n')
        if (op === '+') added += texts.length
        if (op === '-') removed += texts.length
        for (const text of texts) lines.push({ op, text })
      }
      return { lines, added, removed }
    },
    'documents.quarantine': async () => ({ entries: await blobExchangeOf(vault).quarantined() }),
    'documents.rules': async () => ({ rules: docRulesOf(vault.state), governed: vault.state.docRules !== undefined }),
    'documents.proposeLifecycle': async (args) => {
      const a = obj(args)
      const reason = requiredReason(a)
      await vault.flush()
      const d = (await documentsIndex(vault.store, vault.state)).documents.find((x) => x.id === a.doc)
      if (!d) throw NOT_FOUND(`no document ${String(a.doc).slice(0, 100)} in the register`)
      const to = String(a.to ?? '').toUpperCase()
      const problem = transitionProblem(docRulesOf(vault.state), d.lifecycle, to)
      if (problem) throw BAD_ARGUMENT(problem)
      return propose(vault, { kind: 'doc.lifecycle', args: { doc: d.id, from: d.lifecycle, to } }, reason)
    },
    'documents.proposeVersion': async (args) => {
      const a = obj(args)
      const reason = requiredReason(a)
      const doc = optString(a.doc, 'doc', 1100)
      const version = optString(a.version, 'version', 200)
      if (!doc || !version) throw BAD_ARGUMENT('a new version names its document (doc) and its version')
      if (typeof a.content !== 'string') throw BAD_ARGUMENT("content is the version's bytes in base64")
      const bytes = Buffer.from(a.content, 'base64')
      if (bytes.toString('base64') !== a.content) throw BAD_ARGUMENT('content is not canonical base64')
      const max = settingValueOf(vault.state.settings, 'documentMaxBytes')
      if (bytes.length > max) throw OVERSIZED(`the version is ${bytes.length} bytes; documentMaxBytes is ${max}`)
      await vault.flush()
      const d = (await documentsIndex(vault.store, vault.state)).documents.find((x) => x.id === doc)
      const readOnly = a.readOnly === true
      if (d?.mode === 'READ-ONLY' && !readOnly)
        throw NOT_ALLOWED(
          `${doc} is READ-ONLY: a new version needs a proposal that says so (readOnly: true; tresor docs version --read-only)`
        )
      const current = d?.versions.find((v) => v.digest === d.current)
      const path = optString(a.path, 'path', 1024) ?? current?.path ?? `${doc}.md`
      const digest = await new BlobStore(vault.dir).put(bytes)
      return propose(
        vault,
        {
          kind: 'doc.version',
          args: {
            doc,
            version,
            digest,
            size: bytes.length,
            mediaType: optString(a.mediaType, 'mediaType', 100) ?? current?.mediaType ?? 'text/markdown',
            path,
            title: optString(a.title, 'title', 1000) ?? d?.title ?? null,
            lifecycle: optString(a.lifecycle, 'lifecycle', 32)?.toUpperCase() ?? null,
            readOnly
          }
        },
        reason
      )
    }
  })
}
