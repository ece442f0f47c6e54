/**
 * Document commands of the `tresor` CLI: a ZIP's migration plan (no vault needed), its proposal, MIG_INDEX; the
 * documents register (list, show, diff, get) and its governed changes (lifecycle, version, rules); the blob quarantine.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { basename } from 'node:path'
import { NOT_FOUND, planMigration, type MigrationPlan } from '../core/index.js'
import { flag, required, usage, type ParsedArgs } from './args.js'
import type { Out } from './cli-support.js'
import { vaultApi, withApi } from './cli-client.js'
import { lazyPackage } from '../core/index.js'

const yaml = lazyPackage<typeof import('yaml')>('yaml')

export const DOCUMENT_FLAGS = {
  zip: 'value',
  version: 'value',
  lifecycle: 'value',
  class: 'value',
  domain: 'value',
  'read-only': 'bool',
  'dry-run': 'bool'
} as const

export const DOCUMENT_HELP = `
  tresor migrate plan --zip F                  read a ZIP of an old repository safely and print what each file
                                               would become: MIG_A current, MIG_B needs review, MIG_C legacy
                                               (with why), and every entry refused (path traversal, symlinks,
                                               zip bombs, non-UTF-8 names…); writes nothing
  tresor migrate propose --zip F --reason R --dir D   keep its files by digest and propose their migration
                                               (one proposal; nothing enters the register before it is committed;
                                               the same archive again: DUPLICATE)
  tresor migrate --zip F [--dry-run] --reason R --dir D   the same: --dry-run prints the plan, else proposes it
  tresor migrate index --dir D [--format yaml|json]   MIG_INDEX: every migrated file, its batch, class, source
                                               path, digest, the document it became (current version marked)
  tresor docs list --dir D [--lifecycle L] [--class C] [--domain X]   the documents register
  tresor docs show ID --dir D                  a document: header fields, versions (digest, size, the event that
                                               proves it), lifecycle history
  tresor docs diff ID --dir D [--from V] [--to V]   line diff between two versions (default: the two newest)
  tresor docs get DIGEST --dir D --out F       a version's bytes, checked against its digest
  tresor docs lifecycle ID --to L --reason R --dir D   propose a lifecycle change (as the rules allow)
  tresor docs version ID --file F --version V --reason R [--read-only] --dir D   propose a new version;
                                               a READ-ONLY document needs --read-only (the proposal says so)
  tresor docs rules --dir D [--file F.json --reason R]   the documents rules; with --file, propose new ones
  tresor docs quarantine --dir D               blobs refused on arrival (altered in transit or at rest), why`

/** A migrated file as one line: its class, path and the document it becomes. */
export const fileLine = (f: { class: string; path: string; doc: string; version: string | null }): string =>
  `${f.class}  ${f.path}  →  ${f.doc}${f.version ? ` ${f.version}` : ''}`

function describe(plan: MigrationPlan): string {
  const rows = plan.files.map((f) => `  ${fileLine(f)}  (${f.why})`)
  const refused = plan.refused.map((r) => `  REFUSED  ${r.name}: ${r.reason}`)
  return [
    `batch ${plan.batch}: ${plan.zip.name}, ${plan.files.length} file(s): ${plan.counts.MIG_A} current, ${plan.counts.MIG_B} to review, ${plan.counts.MIG_C} legacy; ${plan.counts.refused} refused`,
    ...rows,
    ...refused
  ].join('\n')
}

export const DOCUMENT_COMMANDS: Record<string, (args: ParsedArgs, out: Out) => Promise<number>> = {
  async migrate(args, out) {
    const sub = args.command[1] ?? (args.flags.has('dry-run') ? 'plan' : 'propose')
    if (sub === 'plan') {
      const plan = await planMigration(required(args, 'zip'))
      out.print(describe(plan), plan)
      return 0
    }
    if (sub === 'propose') {
      const file = required(args, 'zip')
      const zip = (await readFile(file)).toString('base64')
      return withApi(await vaultApi(args, { unlock: true }), async (api) => {
        const r = await api.call('documents.migrate', { name: basename(file), zip, reason: required(args, 'reason') })
        const head = r.duplicate
          ? `DUPLICATE: batch ${r.plan.batch} was migrated already; nothing proposed (every file a duplicate receipt)`
          : `proposal ${r.proposal!.id}: migrate batch ${r.plan.batch} (${r.plan.files.length} file(s)); it needs approval before anything enters the register`
        out.print(`${head}\n${describe(r.plan)}`, r)
        return 0
      })
    }
    if (sub === 'index') {
      const format = flag(args, 'format') ?? 'yaml'
      if (format !== 'yaml' && format !== 'json') throw usage('--format yaml or json')
      return withApi(await vaultApi(args), async (api) => {
        const r = await api.call('documents.index', {})
        const rows = r.index.map((f) => ({
          batch: f.batch,
          class: f.class,
          path: f.path,
          digest: f.digest,
          document: f.doc,
          version: f.version,
          lifecycle: f.lifecycle,
          current: f.current
        }))
        const text =
          format === 'json'
            ? JSON.stringify({ format: 'tresor-mig-index', v: 1, files: rows }, null, 1)
            : `# MIG_INDEX: every migrated file, from the committed migrations\n${yaml().stringify({ format: 'tresor-mig-index', v: 1, files: rows }, { lineWidth: 0 })}`
        out.print(text.trimEnd() + (r.waiting.length ? `\n# waiting for: ${r.waiting.join('; ')}` : ''), r)
        return 0
      })
    }
    throw usage('migrate plan, migrate propose or migrate index')
  },

  async docs(args, out) {
    const sub = args.command[1]
    const id = args.command[2]
    return withApi(
      await vaultApi(args, { unlock: ['lifecycle', 'version', 'rules'].includes(sub ?? '') }),
      async (api) => {
        const view = () => api.call('documents.index', {})
        const docOf = async () => {
          if (!id) throw usage(`docs ${sub} ID`)
          const d = (await view()).documents.find((x) => x.id === id)
          if (!d) throw NOT_FOUND(`no document ${id} in the register (tresor docs list)`)
          return d
        }
        if (sub === 'list') {
          const v = await view()
          const want = (x: string | null, f: string) => flag(args, f) === undefined || x === flag(args, f)
          const docs = v.documents.filter(
            (d) => want(d.lifecycle, 'lifecycle') && want(d.class, 'class') && want(d.domain, 'domain')
          )
          const lines = docs.map(
            (d) =>
              `${d.class}  ${(d.lifecycle ?? '—').padEnd(10)}  ${d.id}  ${d.versions.length} version(s)${d.mode === 'READ-ONLY' ? '  READ-ONLY' : ''}${d.private ? '  private' : ''}${d.title ? `  ${d.title}` : ''}`
          )
          const tail = [
            ...v.notApplied.map((n) => `NOT APPLIED ${n.kind} ${n.proposal.slice(0, 12)}… (${n.doc}): ${n.reason}`),
            ...v.waiting.map((w) => `waiting for ${w}`)
          ]
          out.print([`${docs.length} of ${v.documents.length} document(s)`, ...lines, ...tail].join('\n'), {
            ...v,
            documents: docs
          })
          return 0
        }
        if (sub === 'show') {
          const d = await docOf()
          const cur = d.versions.find((x) => x.digest === d.current)!
          const head =
            cur.mediaType.startsWith('text/') || cur.mediaType.includes('yaml') || cur.mediaType.includes('json')
              ? await api.call('documents.get', { digest: d.current }).then(
                  (b) => b.text,
                  () => null
                )
              : null
          out.print(
            [
              `${d.id}: ${d.title ?? '(no title)'}`,
              `  lifecycle ${d.lifecycle ?? '—'}, class ${d.class}, domain ${d.domain ?? '—'}${d.mode ? `, mode ${d.mode}` : ''}${d.private ? `, private (${d.private})` : ''}`,
              ...d.versions.map(
                (x) =>
                  `  ${x.digest === d.current ? '*' : ' '} ${x.version ?? '(no version)'}  ${x.path}  ${x.size} bytes  sha256:${x.digest}  ${x.batch ? `batch ${x.batch}` : 'proposed'}  event ${x.event}`
              ),
              ...d.history.map((h) => `  lifecycle ${h.from ?? '—'} → ${h.to} (proposal ${h.proposal.slice(0, 12)}…)`),
              ...(head === null ? [] : ['', head.split('\n').slice(0, 30).join('\n')])
            ].join('\n'),
            d
          )
          return 0
        }
        if (sub === 'diff') {
          const d = await docOf()
          const pick = (v: string | undefined, dflt: number) => {
            const x = v === undefined ? d.versions.at(dflt) : d.versions.find((y) => y.version === v || y.digest === v)
            if (!x) throw usage(`${d.id} has no version ${v ?? ''} (tresor docs show ${d.id})`)
            return x
          }
          const [a, b] = [pick(flag(args, 'from'), -2), pick(flag(args, 'to'), -1)]
          const r = await api.call('documents.diff', { from: a.digest, to: b.digest })
          out.print(
            [
              `--- ${d.id} ${a.version ?? a.digest.slice(0, 12)}`,
              `+++ ${d.id} ${b.version ?? b.digest.slice(0, 12)}`,
              ...r.lines.map((l) => `${l.op}${l.text}`)
            ].join('\n'),
            r
          )
          return 0
        }
        if (sub === 'get') {
          if (!id) throw usage('docs get DIGEST --out F')
          const b = await api.call('documents.get', { digest: id })
          await writeFile(required(args, 'out'), Buffer.from(b.base64, 'base64'))
          out.print(`${b.size} bytes, sha256:${b.digest} checked, written to ${required(args, 'out')}`, {
            digest: b.digest,
            size: b.size
          })
          return 0
        }
        if (sub === 'lifecycle') {
          const p = await api.call('documents.proposeLifecycle', {
            doc: (await docOf()).id,
            to: required(args, 'to'),
            reason: required(args, 'reason')
          })
          out.print(
            `proposal ${p.id}: ${String(p.action.args.doc)} ${String(p.action.args.from ?? '—')} → ${String(p.action.args.to)}; it needs approval`,
            p
          )
          return 0
        }
        if (sub === 'version') {
          if (!id) throw usage('docs version ID --file F --version V --reason R')
          const file = required(args, 'file')
          const p = await api.call('documents.proposeVersion', {
            doc: id,
            version: required(args, 'version'),
            content: (await readFile(file)).toString('base64'),
            reason: required(args, 'reason'),
            readOnly: args.flags.has('read-only'),
            ...(flag(args, 'lifecycle') ? { lifecycle: flag(args, 'lifecycle') } : {})
          })
          out.print(
            `proposal ${p.id}: version ${String(p.action.args.version)} of ${id} (sha256:${String(p.action.args.digest)}); it needs approval`,
            p
          )
          return 0
        }
        if (sub === 'rules') {
          const file = flag(args, 'file')
          if (file) {
            const rules = JSON.parse(await readFile(file, 'utf8')) as unknown
            const p = await api.call('gov.propose', {
              action: { kind: 'doc.rules', args: { rules } } as never,
              reason: required(args, 'reason')
            })
            out.print(`proposal ${p.id}: change the documents rules; it needs approval`, p)
            return 0
          }
          const r = await api.call('documents.rules', {})
          out.print(`${r.governed ? 'governed' : 'default'} documents rules:\n${JSON.stringify(r.rules, null, 2)}`, r)
          return 0
        }
        if (sub === 'quarantine') {
          const { entries } = await api.call('documents.quarantine', {})
          out.print(
            entries.length === 0
              ? 'no blob quarantined'
              : entries.map((e) => `${e.at}  ${e.code}  sha256:${e.digest}  from ${e.source}: ${e.reason}`).join('\n'),
            entries
          )
          return 0
        }
        throw usage('docs list, show, diff, get, lifecycle, version, rules or quarantine')
      }
    )
  }
}
