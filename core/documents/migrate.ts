/**
 * The migration plan of a ZIP of an old repository (the planning notes'
 * migration engine): every file read safely (core/documents/zip-reader.ts),
 * its SHA-256, media type and header (core/documents/headers.ts), and its
 * class by the rules (the lifecycles are governed; these are the defaults):
 *   MIG_A  current: a header with an id and a live lifecycle (ACTIVE, PLANNED)
 *          and the newest version of that id in the archive
 *   MIG_B  needs review: no header, no id, a lifecycle the rules do not know,
 *          or an id and version another file holds with other content
 *   MIG_C  legacy: a retired lifecycle (SUPERSEDED, ARCHIVED, DEPRECATED,
 *          LEGACY), an older version of an id a newer file holds, or the same
 *          bytes as a file before it (a duplicate)
 * and the document it becomes (its header id, or `file:<path>` when it has
 * none). The plan is what a migration proposal will carry; making it writes
 * nothing.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { basename, extname } from 'node:path'
import { parseHeader, type DocumentHeader } from './headers.js'
import { readZip, DEFAULT_ZIP_LIMITS, type ZipEntryRefused, type ZipLimits } from './zip-reader.js'
import { DEFAULT_DOC_RULES, type DocRules } from './rules.js'
import { own } from '../dict.js'

export type MigrationClass = 'MIG_A' | 'MIG_B' | 'MIG_C'

export interface PlannedFile {
  path: string
  digest: string
  size: number
  mediaType: string
  class: MigrationClass
  /** Why this class, in words. */
  why: string
  /** The document it becomes. */
  doc: string
  version: string | null
  lifecycle: string | null
  domain: string | null
  title: string | null
  header: DocumentHeader['kind'] | null
  /** The header's mode (READ-ONLY) and classification, when it has them. */
  mode: string | null
  classification: string | null
}

export interface MigrationPlan {
  format: 'tresor-migration-plan'
  v: 1
  /** `MIG-` and the first 16 hex characters of the archive's SHA-256: the same archive is the same batch. */
  batch: string
  zip: { name: string; digest: string; size: number }
  files: PlannedFile[]
  refused: ZipEntryRefused[]
  counts: { MIG_A: number; MIG_B: number; MIG_C: number; refused: number }
}

const TYPES: Record<string, string> = {
  '.md': 'text/markdown',
  '.markdown': 'text/markdown',
  '.txt': 'text/plain',
  '.yaml': 'application/yaml',
  '.yml': 'application/yaml',
  '.json': 'application/json',
  '.pdf': 'application/pdf'
}
const UTF8 = new TextDecoder('utf-8', { fatal: true })

const compareVersions = (a: string | null, b: string | null) =>
  (a ?? '').localeCompare(b ?? '', 'en', { numeric: true, sensitivity: 'base' })

/**
 * Read a ZIP (a path, or its name and bytes) and plan its migration; `onFile` gets each accepted file's bytes (to keep
 * them by digest). Throws (MALFORMED, OVERSIZED) when the archive is refused whole.
 */
export async function planMigration(
  file: string | { name: string; bytes: Buffer },
  limits: ZipLimits = DEFAULT_ZIP_LIMITS,
  onFile?: (digest: string, bytes: Buffer) => Promise<void>,
  rules: Pick<DocRules, 'live' | 'retired'> = DEFAULT_DOC_RULES
): Promise<MigrationPlan> {
  const h = createHash('sha256')
  let size: number
  if (typeof file === 'string') {
    size = (await stat(file)).size
    for await (const chunk of createReadStream(file)) h.update(chunk as Buffer)
  } else {
    size = file.bytes.length
    h.update(file.bytes)
  }
  const digest = h.digest('hex')
  const read: Omit<PlannedFile, 'class' | 'why'>[] = []
  const { refused } = await readZip(
    typeof file === 'string' ? file : file.bytes,
    async (path, bytes) => {
      let header: DocumentHeader | null = null
      try {
        header = parseHeader(UTF8.decode(bytes))
      } catch {
        header = null // not UTF-8 text: a document without a header
      }
      const fileDigest = createHash('sha256').update(bytes).digest('hex')
      await onFile?.(fileDigest, bytes)
      read.push({
        path,
        digest: fileDigest,
        size: bytes.length,
        mediaType: TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream',
        doc: header?.id ?? `file:${path}`,
        version: header?.version ?? null,
        lifecycle: header?.lifecycle ?? null,
        domain: header?.domain ?? null,
        title: header?.title ?? null,
        header: header?.kind ?? null,
        mode: header?.mode ?? null,
        classification: header ? (own(header.fields, 'classification')?.trim().toUpperCase() ?? null) : null
      })
    },
    limits
  )
  const files = classify(read, rules)
  const counts = { MIG_A: 0, MIG_B: 0, MIG_C: 0, refused: refused.length }
  for (const f of files) counts[f.class]++
  return {
    format: 'tresor-migration-plan',
    v: 1,
    batch: `MIG-${digest.slice(0, 16)}`,
    zip: { name: typeof file === 'string' ? basename(file) : file.name, digest, size },
    files,
    refused,
    counts
  }
}

/** The rules (the module's doc; their lifecycles governed: core/documents/rules.ts), in archive order. */
export function classify(
  read: Omit<PlannedFile, 'class' | 'why'>[],
  rules: Pick<DocRules, 'live' | 'retired'> = DEFAULT_DOC_RULES
): PlannedFile[] {
  const LIVE = new Set(rules.live)
  const RETIRED = new Set(rules.retired)
  const firstWith = new Map<string, string>()
  // Per document id: its files' versions (names from the archive: a Map).
  const byId = new Map<string, Omit<PlannedFile, 'class' | 'why'>[]>()
  for (const f of read) if (f.header && !f.doc.startsWith('file:')) byId.set(f.doc, [...(byId.get(f.doc) ?? []), f])
  return read.map((f) => {
    const dup = firstWith.get(f.digest)
    if (!dup) firstWith.set(f.digest, f.path)
    let v: { class: MigrationClass; why: string }
    if (dup) v = { class: 'MIG_C', why: `the same bytes as ${dup}` }
    else if (!f.header) v = { class: 'MIG_B', why: 'no header' }
    else if (f.doc.startsWith('file:')) v = { class: 'MIG_B', why: 'its header names no id' }
    else if (f.lifecycle && RETIRED.has(f.lifecycle)) v = { class: 'MIG_C', why: `lifecycle ${f.lifecycle}` }
    else {
      // the other live files of this id (a retired copy is legacy whatever its version says)
      const same = (byId.get(f.doc) ?? []).filter(
        (o) => o !== f && o.digest !== f.digest && !(o.lifecycle && RETIRED.has(o.lifecycle))
      )
      const conflict = same.find((o) => compareVersions(o.version, f.version) === 0)
      const newer = same.find((o) => compareVersions(o.version, f.version) > 0)
      if (conflict)
        v = {
          class: 'MIG_B',
          why: `${conflict.path} holds ${f.doc} ${f.version ?? '(no version)'} too, with other content`
        }
      else if (newer) v = { class: 'MIG_C', why: `${newer.path} holds a newer version of ${f.doc} (${newer.version})` }
      else if (!f.lifecycle || !LIVE.has(f.lifecycle))
        v = { class: 'MIG_B', why: f.lifecycle ? `lifecycle ${f.lifecycle} is not one the rules know` : 'no lifecycle' }
      else
        v = {
          class: 'MIG_A',
          why: `${f.header === 'front-matter' ? 'front matter' : 'migration header'}, ${f.lifecycle}`
        }
    }
    return { ...f, ...v }
  })
}
