/** Document commands of the `tresor` CLI: a ZIP's migration plan (no vault needed), its proposal, MIG_INDEX. */
import { readFile } from 'node:fs/promises'
import { basename } from 'node:path'
import { stringify as toYaml } from 'yaml'
import { planMigration, type MigrationPlan } from '../core/index.js'
import { flag, required, usage, type ParsedArgs } from './args.js'
import type { Out } from './cli-support.js'
import { vaultApi, withApi } from './cli-client.js'

export const DOCUMENT_FLAGS = { zip: 'value' } as const

export const DOCUMENT_HELP = `
  tresor migrate plan --zip F                  read a ZIP of an old repository safely and print what each file
                                               would become: MIG_A current, MIG_B needs review, MIG_C legacy
                                               (with why), and every entry refused (path traversal, symlinks,
                                               zip bombs, non-UTF-8 names…); writes nothing
  tresor migrate propose --zip F --reason R --dir D   keep its files by digest and propose their migration
                                               (one proposal; nothing enters the register before it is committed;
                                               the same archive again: DUPLICATE)
  tresor migrate index --dir D [--format yaml|json]   MIG_INDEX: every migrated file, its batch, class, source
                                               path, digest, the document it became (current version marked)`

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
    const sub = args.command[1]
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
            : `# MIG_INDEX: every migrated file, from the committed migrations\n${toYaml({ format: 'tresor-mig-index', v: 1, files: rows }, { lineWidth: 0 })}`
        out.print(text.trimEnd() + (r.waiting.length ? `\n# waiting for: ${r.waiting.join('; ')}` : ''), r)
        return 0
      })
    }
    throw usage('migrate plan, migrate propose or migrate index')
  }
}
