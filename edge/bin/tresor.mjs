#!/usr/bin/env node
// The `tresor` command. It runs the built JavaScript (out/edge/start.cjs, which
// runs out/edge/cli.cjs with its code cache; from `npm run build:edge`): nothing
// is compiled at run time. A development checkout that has not been built yet,
// or TRESOR_FROM_SOURCE=1, runs the TypeScript through tsx instead (a
// development dependency: an edge install has no tsx).
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const built = new URL('../../out/edge/start.cjs', import.meta.url)
let cli
// Required, not imported: CommonJS loads Node's own modules without building an ES module face for each.
if (process.env.TRESOR_FROM_SOURCE !== '1' && existsSync(built))
  cli = createRequire(import.meta.url)(fileURLToPath(built))
else {
  const tsx = await import('tsx/esm/api').catch(() => null)
  if (!tsx) {
    process.stderr.write('tresor: out/edge/start.cjs is missing: run `npm run build:edge` (or reinstall the package)\n')
    process.exit(1)
  }
  tsx.register()
  cli = await import('../cli.ts')
}
process.exitCode = await cli.main(process.argv.slice(2))
