/**
 * The governed migration of a ZIP (issue 17): ONE proposal `doc.migrate`
 * names the batch, the archive's digest and the plan by digest; the plan
 * itself (every file's path, digest, size, class and the document it
 * becomes) travels in `doc.plan` events of the proposer's feed, at most 100
 * files each, so a plan of thousands of files fits the event size limit and
 * still reaches every device with the events. Nothing enters the documents
 * register until the proposal is approved and committed; the register and
 * MIG_INDEX are a view computed from the committed migrations and their plan
 * events alone, the same on every device that holds them.
 */
import { canonicalize, type Json } from '../canonical.js'
import { isHex, sha256Hex } from '../bytes.js'
import { BAD_ARGUMENT, NOT_FOUND, VERIFY_FAILED } from '../errors.js'
import { dict, own, type Dict } from '../dict.js'
import type { GovState } from '../governance/state.js'
import type { LogStore } from '../store.js'
import type { MigrationClass, MigrationPlan, PlannedFile } from './migrate.js'
import { docRulesOf, privateBecause } from './rules.js'

export const DOC_PLAN_TYPE = 'doc.plan'
export const PLAN_PART_FILES = 100
const BATCH_RE = /^MIG-[0-9a-f]{16}$/
const CLASSES: readonly MigrationClass[] = ['MIG_A', 'MIG_B', 'MIG_C']

/** What a plan event and the register keep of a planned file. */
export interface MigratedFile {
  path: string
  digest: string
  size: number
  mediaType: string
  class: MigrationClass
  doc: string
  version: string | null
  lifecycle: string | null
  domain: string | null
  title: string | null
  /** Present only when the header has them (plans signed before they were kept read the same). */
  mode?: string
  classification?: string
}

export interface PlanRef {
  author: string
  seq: number
  id: string
}

export const toMigrated = (f: PlannedFile): MigratedFile => ({
  path: f.path,
  digest: f.digest,
  size: f.size,
  mediaType: f.mediaType,
  class: f.class,
  doc: f.doc,
  version: f.version,
  lifecycle: f.lifecycle,
  domain: f.domain,
  title: f.title,
  ...(f.mode ? { mode: f.mode } : {}),
  ...(f.classification ? { classification: f.classification } : {})
})

/** The digest of a plan's files (canonical JSON), what the proposal signs for. */
export const planDigest = (files: MigratedFile[]): string => sha256Hex(canonicalize(files as unknown as Json, 8))

const str = (v: unknown, max: number, what: string, nullable = false): string | null => {
  if (nullable && v === null) return null
  if (typeof v !== 'string' || v.length === 0 || v.length > max)
    throw BAD_ARGUMENT(`${what}: text of 1-${max} characters`)
  return v
}

function checkFile(f: unknown): MigratedFile {
  const x = (typeof f === 'object' && f !== null ? f : {}) as Record<string, unknown>
  if (!isHex(x.digest, 32)) throw BAD_ARGUMENT('a planned file names its SHA-256 (64 hex characters)')
  if (!Number.isSafeInteger(x.size) || (x.size as number) < 0) throw BAD_ARGUMENT('a planned file names its size')
  if (!CLASSES.includes(x.class as MigrationClass)) throw BAD_ARGUMENT('a planned file is MIG_A, MIG_B or MIG_C')
  return {
    path: str(x.path, 1024, 'path')!,
    digest: x.digest as string,
    size: x.size as number,
    mediaType: str(x.mediaType, 100, 'media type')!,
    class: x.class as MigrationClass,
    doc: str(x.doc, 1100, 'document id')!,
    version: str(x.version, 1000, 'version', true),
    lifecycle: str(x.lifecycle, 1000, 'lifecycle', true),
    domain: str(x.domain, 1000, 'domain', true),
    title: str(x.title, 1000, 'title', true),
    ...(x.mode === undefined ? {} : { mode: str(x.mode, 1000, 'mode')! }),
    ...(x.classification === undefined ? {} : { classification: str(x.classification, 1000, 'classification')! })
  }
}

/** A `doc.plan` event's payload, checked. */
export function checkPlanPart(p: unknown): { batch: string; part: number; files: MigratedFile[] } {
  const x = (typeof p === 'object' && p !== null ? p : {}) as Record<string, unknown>
  if (typeof x.batch !== 'string' || !BATCH_RE.test(x.batch)) throw BAD_ARGUMENT('a plan part names its batch')
  if (!Number.isSafeInteger(x.part) || (x.part as number) < 0) throw BAD_ARGUMENT('a plan part is numbered')
  if (!Array.isArray(x.files) || x.files.length === 0 || x.files.length > PLAN_PART_FILES)
    throw BAD_ARGUMENT(`a plan part lists 1-${PLAN_PART_FILES} files`)
  return { batch: x.batch, part: x.part as number, files: x.files.map(checkFile) }
}

/** The shape of a `doc.migrate` action's args (governance's shape layer). */
export function checkMigrationShape(args: Record<string, unknown>): { [key: string]: Json } {
  if (typeof args.batch !== 'string' || !BATCH_RE.test(args.batch)) throw BAD_ARGUMENT('batch: MIG- and 16 hex')
  const zip = (args.zip ?? {}) as Record<string, unknown>
  const plan = (args.plan ?? {}) as Record<string, unknown>
  if (!isHex(zip.digest, 32) || !Number.isSafeInteger(zip.size)) throw BAD_ARGUMENT('zip: {name, digest, size}')
  if (!isHex(plan.digest, 32) || !Number.isSafeInteger(plan.files) || (plan.files as number) < 1)
    throw BAD_ARGUMENT('plan: {digest, files, parts}')
  const parts = Array.isArray(plan.parts) ? plan.parts : []
  if (parts.length !== Math.ceil((plan.files as number) / PLAN_PART_FILES) || parts.length > 1000)
    throw BAD_ARGUMENT(`plan.parts cites one plan event per ${PLAN_PART_FILES} files`)
  const refs = parts.map((r) => {
    const x = (r ?? {}) as Record<string, unknown>
    if (!isHex(x.author, 32) || !Number.isSafeInteger(x.seq) || !isHex(x.id, 32))
      throw BAD_ARGUMENT('a plan part is cited by {author, seq, id}')
    return { author: x.author as string, seq: x.seq as number, id: x.id as string }
  })
  const counts = (args.counts ?? {}) as Record<string, unknown>
  for (const k of ['MIG_A', 'MIG_B', 'MIG_C', 'refused'])
    if (!Number.isSafeInteger(counts[k])) throw BAD_ARGUMENT('counts: MIG_A, MIG_B, MIG_C, refused')
  return {
    batch: args.batch,
    zip: { name: str(zip.name, 255, 'zip name')!, digest: zip.digest as string, size: zip.size as number },
    plan: { digest: plan.digest as string, files: plan.files as number, parts: refs },
    counts: { MIG_A: counts.MIG_A, MIG_B: counts.MIG_B, MIG_C: counts.MIG_C, refused: counts.refused } as Json
  }
}

/** Committed migrations, oldest first (by when proposed, then id: the same order on every device). */
export function committedMigrations(
  state: Pick<GovState, 'proposals'>
): { id: string; args: Record<string, unknown> }[] {
  return Object.values(state.proposals)
    .filter((p) => p.action.kind === 'doc.migrate' && p.status === 'committed')
    .sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : 1))
    .map((p) => ({ id: p.id, args: p.action.args as Record<string, unknown> }))
}

/** The register layer: a batch is migrated once (`state.migrated`: the batches applied, in the vault's order). */
export function checkMigrationFits(state: Pick<GovState, 'migrated'>, args: Record<string, unknown>): void {
  if ((state.migrated ?? []).includes(String(args.batch)))
    throw BAD_ARGUMENT(`batch ${String(args.batch)} was migrated already`)
}

/** The plan files a migration cites, read from its plan events and checked against the digest it signed for. */
export async function planFiles(store: Pick<LogStore, 'get'>, args: Record<string, unknown>): Promise<MigratedFile[]> {
  const plan = args.plan as { digest: string; parts: PlanRef[] }
  const files: MigratedFile[] = []
  for (const [i, ref] of plan.parts.entries()) {
    const doc = await store.get(ref.author, ref.seq)
    if (!doc || doc.id !== ref.id) throw NOT_FOUND(`plan part ${i} of ${String(args.batch)} is not here yet`)
    const part = checkPlanPart((JSON.parse(doc.raw) as { payload: unknown }).payload)
    if (part.batch !== args.batch || part.part !== i) throw VERIFY_FAILED(`plan part ${i} is of another batch or place`)
    files.push(...part.files)
  }
  if (planDigest(files) !== plan.digest)
    throw VERIFY_FAILED(`the plan of ${String(args.batch)} does not match its digest`)
  return files
}

export interface IndexRow extends MigratedFile {
  batch: string
  /** The migration proposal that brought it. */
  proposal: string
  /** This row is the document's current version. */
  current: boolean
}

export interface DocumentVersion {
  version: string | null
  digest: string
  size: number
  mediaType: string
  path: string
  class: MigrationClass
  /** The batch that brought it, or null for a version proposed on its own (`doc.version`). */
  batch: string | null
  /** The proposal that brought it (a migration or a `doc.version`). */
  proposal: string
  /** The signed event that names its digest (its plan part, or the `doc.version` proposal): what proves it. */
  event: string
}

export interface DocumentRow {
  id: string
  title: string | null
  domain: string | null
  lifecycle: string | null
  class: MigrationClass
  /** READ-ONLY when its current version's header says so. */
  mode: string | null
  classification: string | null
  /** Why the rules keep it off the Git mirror, or null. */
  private: string | null
  /** The digest of its current version. */
  current: string
  versions: DocumentVersion[]
  /** The lifecycle changes applied to it, in order. */
  history: { proposal: string; from: string | null; to: string }[]
}

export interface DocumentsView {
  index: IndexRow[]
  documents: DocumentRow[]
  /** Migrations whose plan is not here yet (named, not guessed). */
  waiting: string[]
  /** Committed changes the register could not apply, and why (the same on every device that holds the plans). */
  notApplied: { proposal: string; kind: string; doc: string; reason: string }[]
}

const newer = (a: string | null, b: string | null) =>
  (a ?? '').localeCompare(b ?? '', 'en', { numeric: true, sensitivity: 'base' }) >= 0

/** The committed migrations in the vault's order (`state.migrated`), with their proposals. */
function migrationsInOrder(state: Pick<GovState, 'proposals' | 'migrated'>) {
  const byBatch = new Map(committedMigrations(state).map((m) => [String(m.args.batch), m]))
  return (state.migrated ?? []).flatMap((b) => (byBatch.has(b) ? [byBatch.get(b)!] : []))
}

/**
 * MIG_INDEX and the documents register, from the committed migrations and the committed document changes, replayed in
 * the vault's order: a lifecycle change applies when the document is where it says it starts; a new version of a
 * READ-ONLY document applies only when its proposal says so.
 */
export async function documentsIndex(
  store: Pick<LogStore, 'get'>,
  state: Pick<GovState, 'proposals' | 'migrated' | 'docActs' | 'docRules'>
): Promise<DocumentsView> {
  const index: IndexRow[] = []
  const waiting: string[] = []
  const notApplied: DocumentsView['notApplied'] = []
  const docs = dict<DocumentRow>()
  const currentVersion: Dict<string | null> = dict()
  // the index row of each document's current version (none once a version proposed on its own took over)
  const currentRow: Dict<IndexRow> = dict()
  const migrations = migrationsInOrder(state)
  const acts = state.docActs ?? []
  let next = 0
  const applyActs = (upTo: number) => {
    for (; next < acts.length && acts[next]![1] <= upTo; next++) {
      const p = own(state.proposals, acts[next]![0])
      if (!p) continue
      const a = p.action.args as Record<string, unknown>
      const problem = applyChange(docs, currentVersion, p.id, p.action.kind, a)
      if (!problem && p.action.kind === 'doc.version') delete currentRow[String(a.doc)]
      if (problem) notApplied.push({ proposal: p.id, kind: p.action.kind, doc: String(a.doc), reason: problem })
    }
  }
  for (const [i, m] of migrations.entries()) {
    applyActs(i)
    let files: MigratedFile[]
    try {
      files = await planFiles(store, m.args)
    } catch (err) {
      waiting.push(`${String(m.args.batch)}: ${(err as Error).message}`)
      continue
    }
    const batch = String(m.args.batch)
    const parts = (m.args.plan as { parts: PlanRef[] }).parts
    for (const [n, f] of files.entries()) {
      const row: IndexRow = { ...f, batch, proposal: m.id, current: false }
      index.push(row)
      const d = (docs[f.doc] ??= {
        id: f.doc,
        title: f.title,
        domain: f.domain,
        lifecycle: f.lifecycle,
        class: f.class,
        mode: f.mode ?? null,
        classification: f.classification ?? null,
        private: null,
        current: f.digest,
        versions: [],
        history: []
      })
      if (!d.versions.some((v) => v.digest === f.digest))
        d.versions.push({
          version: f.version,
          digest: f.digest,
          size: f.size,
          mediaType: f.mediaType,
          path: f.path,
          class: f.class,
          batch,
          proposal: m.id,
          event: parts[Math.floor(n / PLAN_PART_FILES)]!.id
        })
      const cur = own(currentVersion, f.doc)
      if (f.class === 'MIG_A' && (cur === undefined || newer(f.version, cur))) {
        currentVersion[f.doc] = f.version
        currentRow[f.doc] = row
        Object.assign(d, {
          title: f.title,
          domain: f.domain,
          lifecycle: f.lifecycle,
          class: 'MIG_A' as const,
          mode: f.mode ?? null,
          classification: f.classification ?? null,
          current: f.digest
        })
      }
    }
  }
  applyActs(Infinity)
  const rules = docRulesOf(state)
  for (const d of Object.values(docs)) {
    const cur = d.versions.find((v) => v.digest === d.current)!
    d.private = privateBecause({ path: cur.path, domain: d.domain, classification: d.classification }, rules)
  }
  for (const r of Object.values(currentRow)) r.current = true
  return { index, documents: Object.values(docs).sort((a, b) => (a.id < b.id ? -1 : 1)), waiting, notApplied }
}

/** Apply one committed `doc.lifecycle` or `doc.version` to the register; the reason when it does not apply. */
function applyChange(
  docs: Dict<DocumentRow>,
  currentVersion: Dict<string | null>,
  proposal: string,
  kind: string,
  a: Record<string, unknown>
): string | null {
  const d = own(docs, String(a.doc))
  if (kind === 'doc.lifecycle') {
    if (!d) return `no document ${String(a.doc)} in the register`
    if (d.lifecycle !== a.from)
      return `the document is ${d.lifecycle ?? 'without a lifecycle'}, not ${String(a.from ?? 'without a lifecycle')}`
    d.history.push({ proposal, from: d.lifecycle, to: String(a.to) })
    d.lifecycle = String(a.to)
    return null
  }
  if (d?.mode === 'READ-ONLY' && a.readOnly !== true)
    return 'the document is READ-ONLY: a new version needs a proposal that says so (readOnly: true)'
  if (d?.versions.some((v) => v.digest === a.digest)) return `${String(a.doc)} holds these bytes already`
  const version: DocumentVersion = {
    version: String(a.version),
    digest: String(a.digest),
    size: Number(a.size),
    mediaType: String(a.mediaType),
    path: String(a.path),
    class: 'MIG_A',
    batch: null,
    proposal,
    event: proposal
  }
  const lifecycle = (a.lifecycle as string | null) ?? d?.lifecycle ?? null
  if (d) {
    d.versions.push(version)
    if (lifecycle !== d.lifecycle) d.history.push({ proposal, from: d.lifecycle, to: lifecycle ?? '' })
    Object.assign(d, { current: version.digest, lifecycle, title: (a.title as string | null) ?? d.title })
  } else {
    docs[String(a.doc)] = {
      id: String(a.doc),
      title: (a.title as string | null) ?? null,
      domain: null,
      lifecycle,
      class: 'MIG_A',
      mode: null,
      classification: null,
      private: null,
      current: version.digest,
      versions: [version],
      history: []
    }
  }
  currentVersion[String(a.doc)] = version.version
  return null
}

/**
 * Every blob the vault's documents need, with whether it may go to the Git mirror: the files of every migration
 * plan not rejected or withdrawn (reviewers read them before approving) and every proposed new version. Private when
 * the rules make its document, or the file itself, private.
 */
export async function wantedBlobs(
  store: Pick<LogStore, 'get'>,
  state: Pick<GovState, 'proposals' | 'migrated' | 'docActs' | 'docRules'>
): Promise<{ wanted: Map<string, { size: number; private: boolean }>; complete: boolean }> {
  const rules = docRulesOf(state)
  let complete = true
  const view = await documentsIndex(store, state)
  const privateDoc = new Map(view.documents.map((d) => [d.id, d.private !== null]))
  const out = new Map<string, { size: number; private: boolean }>()
  const add = (digest: string, size: number, priv: boolean) => {
    // named twice (one member's plan may lie about another's file): the largest size bounds what a transport reads,
    // and private anywhere is private everywhere
    const had = out.get(digest)
    out.set(digest, { size: Math.max(size, had?.size ?? 0), private: priv || (had?.private ?? false) })
  }
  // the committed migrations' files the register has just read; a plan it is waiting for is wanted once it is here
  for (const f of view.index) add(f.digest, f.size, privateDoc.get(f.doc) === true || privateBecause(f, rules) !== null)
  if (view.waiting.length > 0) complete = false
  const inRegister = new Set(migrationsInOrder(state).map((m) => m.id))
  for (const p of Object.values(state.proposals)) {
    if (p.status === 'rejected' || p.status === 'withdrawn') continue
    const a = p.action.args as Record<string, unknown>
    if (p.action.kind === 'doc.version')
      add(
        String(a.digest),
        Number(a.size),
        privateDoc.get(String(a.doc)) === true || privateBecause({ path: String(a.path), domain: null }, rules) !== null
      )
    if (p.action.kind !== 'doc.migrate' || inRegister.has(p.id)) continue
    const files = await planFiles(store, a).catch(() => {
      complete = false // a plan not here yet: its blobs are wanted once it is
      return [] as MigratedFile[]
    })
    for (const f of files) add(f.digest, f.size, privateDoc.get(f.doc) === true || privateBecause(f, rules) !== null)
  }
  return { wanted: out, complete }
}

/** The plan as `doc.plan` payloads, in order. */
export function planPayloads(plan: MigrationPlan): { [key: string]: Json }[] {
  const files = plan.files.map(toMigrated)
  const out: { [key: string]: Json }[] = []
  for (let i = 0; i * PLAN_PART_FILES < files.length; i++)
    out.push({
      batch: plan.batch,
      part: i,
      files: files.slice(i * PLAN_PART_FILES, (i + 1) * PLAN_PART_FILES) as unknown as Json
    })
  return out
}
