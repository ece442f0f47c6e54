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
  title: f.title
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
    title: str(x.title, 1000, 'title', true)
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
  /** This row is the document's current version (its newest MIG_A file). */
  current: boolean
}

export interface DocumentRow {
  id: string
  title: string | null
  domain: string | null
  lifecycle: string | null
  class: MigrationClass
  versions: {
    version: string | null
    digest: string
    size: number
    batch: string
    path: string
    class: MigrationClass
  }[]
}

/** MIG_INDEX and the documents register, from the committed migrations. Plans not here yet are named, not guessed. */
export async function documentsIndex(
  store: Pick<LogStore, 'get'>,
  state: Pick<GovState, 'proposals'>
): Promise<{ index: IndexRow[]; documents: DocumentRow[]; waiting: string[] }> {
  const index: IndexRow[] = []
  const waiting: string[] = []
  for (const m of committedMigrations(state)) {
    let files: MigratedFile[]
    try {
      files = await planFiles(store, m.args)
    } catch (err) {
      waiting.push(`${String(m.args.batch)}: ${(err as Error).message}`)
      continue
    }
    for (const f of files) index.push({ ...f, batch: String(m.args.batch), proposal: m.id, current: false })
  }
  const docs = dict<DocumentRow>()
  const currentOf: Dict<IndexRow> = dict()
  for (const r of index) {
    const d = (docs[r.doc] ??= {
      id: r.doc,
      title: r.title,
      domain: r.domain,
      lifecycle: r.lifecycle,
      class: r.class,
      versions: []
    })
    if (!d.versions.some((v) => v.digest === r.digest))
      d.versions.push({
        version: r.version,
        digest: r.digest,
        size: r.size,
        batch: r.batch,
        path: r.path,
        class: r.class
      })
    const cur = own(currentOf, r.doc)
    if (
      r.class === 'MIG_A' &&
      (!cur || (r.version ?? '').localeCompare(cur.version ?? '', 'en', { numeric: true }) >= 0)
    )
      currentOf[r.doc] = r
  }
  for (const r of Object.values(currentOf)) {
    r.current = true
    const d = docs[r.doc]!
    Object.assign(d, { title: r.title, domain: r.domain, lifecycle: r.lifecycle, class: 'MIG_A' as const })
  }
  return { index, documents: Object.values(docs).sort((a, b) => (a.id < b.id ? -1 : 1)), waiting }
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
