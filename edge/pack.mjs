#!/usr/bin/env node
// `npm run pack:edge [-- --out DIR]`: the edge install as a folder and a tarball.
// It holds what the daemon and CLI run (the built JavaScript in out/edge, the UI
// in out/renderer, the `tresor` command) and the package files `npm ci` needs;
// on the device: `npm ci --omit=dev && node edge/bin/tresor.mjs serve --dir vault` (not npx:
// the package does not link its own command, and npx would fetch one named so). No
// TypeScript, no compiler, no Electron, no build tools. Run `npm run build` first.
import { cp, mkdir, rm, readdir, stat } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { join, resolve } from 'node:path'

const root = resolve(import.meta.dirname, '..')
const i = process.argv.indexOf('--out')
const parent = i >= 0 ? resolve(process.argv[i + 1]) : join(root, 'out')
const dest = join(parent, 'tresor-edge')
for (const f of [
  'out/edge/start.cjs',
  'out/edge/cli.cjs',
  'out/edge/verify-worker.js',
  'out/edge/judge-worker.js',
  'out/renderer/index.html'
])
  if (!existsSync(join(root, f))) {
    process.stderr.write(`pack:edge: ${f} is missing: run npm run build first\n`)
    process.exit(1)
  }
await rm(dest, { recursive: true, force: true })
await mkdir(dest, { recursive: true })
for (const f of ['package.json', 'package-lock.json', 'README.md', 'edge/bin/tresor.mjs'])
  await cp(join(root, f), join(dest, f))
// Source maps stay on the build machine: they are most of the bytes and the device never reads them.
for (const d of ['out/edge', 'out/renderer'])
  await cp(join(root, d), join(dest, d), { recursive: true, filter: (src) => !src.endsWith('.map') })
const tarball = join(parent, 'tresor-edge.tgz')
execFileSync('tar', ['-czf', tarball, '-C', parent, 'tresor-edge'])
let bytes = 0
const walk = async (d) => {
  for (const e of await readdir(d, { withFileTypes: true })) {
    if (e.isDirectory()) await walk(join(d, e.name))
    else bytes += (await stat(join(d, e.name))).size
  }
}
await walk(dest)
process.stdout.write(`${dest} (${(bytes / 2 ** 20).toFixed(1)} MiB) and ${tarball}\n`)
