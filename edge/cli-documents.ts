/** Document commands of the `tresor` CLI: the migration plan of a ZIP archive (needs no vault). */
import { planMigration, type MigrationPlan } from '../core/index.js'
import { required, usage, type ParsedArgs } from './args.js'
import type { Out } from './cli-support.js'

export const DOCUMENT_FLAGS = { zip: 'value' } as const

export const DOCUMENT_HELP = `
  tresor migrate plan --zip F                  read a ZIP of an old repository safely and print what each file
                                               would become: MIG_A current, MIG_B needs review, MIG_C legacy
                                               (with why), and every entry refused (path traversal, symlinks,
                                               zip bombs, non-UTF-8 names…); writes nothing`

function describe(plan: MigrationPlan): string {
  const rows = plan.files.map(
    (f) => `  ${f.class}  ${f.path}  →  ${f.doc}${f.version ? ` ${f.version}` : ''}  (${f.why})`
  )
  const refused = plan.refused.map((r) => `  REFUSED  ${r.name}: ${r.reason}`)
  return [
    `batch ${plan.batch}: ${plan.zip.name}, ${plan.files.length} file(s): ${plan.counts.MIG_A} current, ${plan.counts.MIG_B} to review, ${plan.counts.MIG_C} legacy; ${plan.counts.refused} refused`,
    ...rows,
    ...refused
  ].join('\n')
}

export const DOCUMENT_COMMANDS: Record<string, (args: ParsedArgs, out: Out) => Promise<number>> = {
  async migrate(args, out) {
    if (args.command[1] !== 'plan') throw usage('migrate plan --zip F')
    const plan = await planMigration(required(args, 'zip'))
    out.print(describe(plan), plan)
    return 0
  }
}
