/** The audit log: listing, one event, a signed note; and the devices as their signed statuses say (from the log). */
import type { SignedEvent } from '../envelope.js'
import type { Json } from '../canonical.js'
import { BAD_ARGUMENT, NOT_FOUND } from '../errors.js'
import { eventDocId } from '../store.js'
import { LogView, type Badge, type LogReader } from '../log-view.js'
import { exportYaml, type ExportVault } from '../audit-yaml.js'
import type { Vault } from '../vault.js'
import { DEVICE_STATUS, devicesView, type DeviceRow } from '../devices.js'
import { obj, optInt, optString, reads, signs, type Domain } from './meta.js'

export interface LogEntry {
  id: string
  author: string
  seq: number
  ts: string
  type: string
  badge: Badge
  payload?: SignedEvent['payload']
}
export interface LogEntryDetail extends LogEntry {
  payload: SignedEvent['payload']
  raw: string
}

export interface LogMethods {
  /**
   * The append-only YAML audit chain of the whole log, as `tresor export` writes it (a log that does not verify is not
   * exported).
   */
  'log.exportYaml': (args: Record<never, never>) => Promise<{ text: string; events: number }>
  'log.list': (args: {
    offset?: number
    limit?: number
    type?: string
    author?: string
    from?: string
    to?: string
    payloads?: boolean
  }) => Promise<{ entries: LogEntry[]; total: number; types: string[]; authors: string[] }>
  'log.get': (args: { author: string; seq: number }) => Promise<LogEntryDetail>
  'log.appendNote': (args: { text: string }) => Promise<{ id: string; seq: number }>
  /** Every member's devices: key state, fork freeze, what each one's latest signed status says (core/devices.ts). */
  'devices.list': (args: Record<never, never>) => Promise<DeviceRow[]>
}

/** The log domain's view of the vault: it reads the log and appends notes. */
export type LogVault = LogReader & ExportVault & Pick<Vault, 'append' | 'assertWritable' | 'device'>

export const logDomain: Domain<LogMethods, LogVault> = {
  meta: {
    'log.list': reads,
    'log.get': reads,
    'log.appendNote': signs,
    'log.exportYaml': reads,
    'devices.list': reads
  },
  build: ({ vault }) => {
    const logView = new LogView(vault)
    return {
      'log.list': async (args) => {
        const a = obj(args)
        const offset = optInt(a.offset, 'offset', 0, Number.MAX_SAFE_INTEGER, 0)
        const limit = optInt(a.limit, 'limit', 1, 1000, 100)
        const filter = {
          type: optString(a.type, 'type', 64),
          author: optString(a.author, 'author', 64),
          from: optString(a.from, 'from', 30),
          to: optString(a.to, 'to', 30)
        }
        await logView.refresh()
        const rows = logView.select(filter)
        const entries: LogEntry[] = rows.slice(offset, offset + limit).map((r) => ({ ...r, badge: logView.badge(r) }))
        if (a.payloads === true) {
          const docs = await vault.store.getMany(entries.map((e) => eventDocId(e.author, e.seq)))
          for (const [i, doc] of docs.entries())
            if (doc) entries[i]!.payload = (JSON.parse(doc.raw) as SignedEvent).payload
        }
        return { entries, total: rows.length, ...logView.facets() }
      },
      'log.get': async (args) => {
        const a = obj(args)
        const author = optString(a.author, 'author', 64)
        const seq = optInt(a.seq, 'seq', 1, Number.MAX_SAFE_INTEGER, 0)
        if (!author || seq < 1) throw BAD_ARGUMENT('author and seq are required')
        await vault.flush()
        const doc = await vault.store.get(author, seq)
        if (!doc) throw NOT_FOUND(`no event ${author.slice(0, 12)}…/${seq}`)
        const event = JSON.parse(doc.raw) as SignedEvent
        const row = { id: doc.id, author, seq, ts: event.ts, type: event.type }
        return { ...row, badge: logView.badge(row), payload: event.payload, raw: doc.raw }
      },
      'log.exportYaml': async () => {
        vault.assertWritable('an export of a log that does not verify')
        const parts: string[] = []
        const events = await exportYaml(vault, (chunk) => {
          parts.push(chunk)
        })
        return { text: parts.join(''), events }
      },
      'devices.list': async () => {
        await logView.refresh()
        const latest = new Map<string, { seq: number; ts: string }>()
        for (const r of logView.select({ type: DEVICE_STATUS }))
          if ((latest.get(r.author)?.seq ?? 0) < r.seq) latest.set(r.author, { seq: r.seq, ts: r.ts })
        const authors = [...latest.keys()]
        const docs = await vault.store.getMany(authors.map((a) => eventDocId(a, latest.get(a)!.seq)))
        const statuses = new Map<string, { ts: string; seq: number; payload: unknown }>()
        docs.forEach((doc, i) => {
          if (doc) statuses.set(authors[i]!, { ...latest.get(authors[i]!)!, payload: JSON.parse(doc.raw).payload })
        })
        return devicesView(vault.state, statuses, vault.heads(), vault.device)
      },
      'log.appendNote': async (args) => {
        const text = optString(obj(args).text, 'text', 4096)
        if (!text || text.trim() === '') throw BAD_ARGUMENT('text is required')
        const d = await vault.append('audit.note', { text } as Record<string, Json>)
        return { id: d.id, seq: d.event.seq }
      }
    }
  }
}
