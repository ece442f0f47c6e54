/**
 * The append-only YAML audit chain: a multi-document YAML stream, one header
 * then one document per event carrying the signed bytes verbatim (`raw`) next
 * to readable copies. Anyone can check an export without the vault: every
 * signature, every chain link, the genesis hash = vault id.
 */
import type { Vault } from './vault.js'
import { auditGovernance } from './governance/audit.js'
import { decodeEvent } from './envelope.js'
import { eventDocId, type EventDoc } from './store.js'
import { verifyDocs, type VerifyReport } from './verify.js'
import { MALFORMED, OVERSIZED } from './errors.js'
import { isHex } from './bytes.js'
import { LIMITS } from './limits.js'
import { lazyPackage } from './lazy.js'

const yaml = lazyPackage<typeof import('yaml')>('yaml')

export const AUDIT_FORMAT = 'tresor-audit-yaml'
export const AUDIT_VERSION = 1

export interface AuditHeader {
  format: typeof AUDIT_FORMAT
  v: typeof AUDIT_VERSION
  vault: string
  name: string
  exported: string
  events: number
}

/** Write the export through `write` page by page (memory stays flat for big logs). */
/** What an export reads of the vault. */
export type ExportVault = Pick<Vault, 'heads' | 'vaultId' | 'config' | 'events'>

export async function exportYaml(
  vault: ExportVault,
  write: (chunk: string) => void | Promise<void>,
  onProgress?: (done: number, total: number) => void
): Promise<number> {
  const total = Object.values(vault.heads()).reduce((n, f) => n + f.length, 0)
  const header: AuditHeader = {
    format: AUDIT_FORMAT,
    v: AUDIT_VERSION,
    vault: vault.vaultId,
    name: vault.config.name,
    exported: new Date().toISOString(),
    events: total
  }
  await write(`# Tresor audit chain. Check it with: tresor verify --file <this file>\n---\n${yaml().stringify(header)}`)
  let done = 0
  for await (const page of vault.events(1000)) {
    let chunk = ''
    for (const { id, raw, event } of page) {
      const doc = { id, author: event.author, seq: event.seq, ts: event.ts, type: event.type, raw }
      chunk += '---\n' + yaml().stringify(doc, { lineWidth: 0 })
    }
    await write(chunk)
    done += page.length
    onProgress?.(done, total)
  }
  return done
}

/** Check an export standalone. Throws MALFORMED for a file that is not an export at all. */
export async function verifyYamlExport(
  text: string,
  onProgress?: (done: number, total: number) => void
): Promise<VerifyReport & { vault: string; name: string }> {
  if (text.length > LIMITS.maxExportBytes) throw OVERSIZED('export file is too large')
  const docs = yaml().parseAllDocuments(text)
  if (!Array.isArray(docs) || docs.length === 0) throw MALFORMED('not a YAML stream')
  const values = docs.map((d) => {
    if (d.errors.length > 0) throw MALFORMED(`YAML error: ${d.errors[0]!.message}`)
    return d.toJS({ maxAliasCount: 0 }) as Record<string, unknown>
  })
  const header = values[0] as unknown as AuditHeader
  if (header?.format !== AUDIT_FORMAT || header.v !== AUDIT_VERSION || !isHex(header.vault, 32))
    throw MALFORMED('not a Tresor v1 audit export')
  const events: EventDoc[] = values.slice(1).map((v, i) => {
    if (typeof v?.raw !== 'string' || !Number.isSafeInteger(v.seq) || !isHex(v.author, 32))
      throw MALFORMED(`entry ${i + 1} lacks raw, author or seq`)
    return {
      _id: eventDocId(v.author as string, v.seq as number),
      _rev: '1-export',
      raw: v.raw,
      id: String(v.id),
      type: String(v.type),
      ts: String(v.ts)
    }
  })
  const pages: EventDoc[][] = []
  for (let i = 0; i < events.length; i += 1000) pages.push(events.slice(i, i + 1000))
  // Chains and signatures first (any author), then governance decides who was a member, as on a device.
  const report = await verifyDocs(
    { vaultId: header.vault, isKnownAuthor: () => true, onProgress },
    pages,
    events.length
  )
  const gov = events
    .filter((e) => report.gov.includes(e._id))
    .map((e) => {
      const d = decodeEvent(e.raw, header.vault)
      return { id: d.id, event: d.event }
    })
  const { issues } = auditGovernance(header.vault, gov, Object.keys(report.feeds))
  if (issues.length > 0) {
    for (const i of issues) report.issues.push(i)
    report.ok = false
  }
  if (header.events !== events.length) {
    report.issues.push({
      code: 'TRUNCATED',
      docId: '',
      message: `header announces ${header.events} events, file holds ${events.length}`
    })
    report.ok = false
  }
  return { ...report, vault: header.vault, name: String(header.name) }
}
