#!/usr/bin/env node
// The `tresor` command. It runs the built JavaScript (out/edge/cli.js, from
// `npm run build:edge`); nothing is compiled at run time. A development checkout
// that has not been built yet, or TRESOR_FROM_SOURCE=1, runs the TypeScript
// through tsx instead (a development dependency: an edge install has no tsx).
import { existsSync } from 'node:fs'

const built = new URL('../../out/edge/cli.js', import.meta.url)
let cli
if (process.env.TRESOR_FROM_SOURCE !== '1' && existsSync(built)) cli = await import(built.href)
else {
  const tsx = await import('tsx/esm/api').catch(() => null)
  if (!tsx) {
    process.stderr.write('tresor: out/edge/cli.js is missing: run `npm run build:edge` (or reinstall the package)\n')
    process.exit(1)
  }
  tsx.register()
  cli = await import('../cli.ts')
}
process.exitCode = await cli.main(process.argv.slice(2))
