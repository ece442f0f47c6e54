/**
 * The edge install: `npm run pack:edge`'s folder, copied where no node_modules
 * of this checkout can be found, installed with `npm ci --omit=dev` and run. It
 * holds built JavaScript only, so the CLI, the daemon and its verify and judge
 * workers must run without tsx, TypeScript, Electron, vite or playwright.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cleanupDirs, PASS, tempDir } from './helpers.js'
import { startDaemon } from './support/daemon.js'
import { fillWithNotes } from './support/big-vault.js'
import { boilerLines, streamingVaults } from './support/telemetry-vault.js'
import { openKeyFile, readKeyFile } from '../core/keys.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const DEV_ONLY = [
  'tsx',
  'typescript',
  'electron',
  'electron-vite',
  'vite',
  'rolldown',
  'playwright-core',
  'vitest',
  'react'
]

afterAll(cleanupDirs)

describe('edge install', () => {
  it('edge - npm ci --omit=dev in a clean folder runs the CLI, the daemon and its workers with no dev dependency', async () => {
    // a space in the path: the command finds its built files by file path, not by URL text
    const parent = await tempDir('tresor edge-install-')
    execFileSync(process.execPath, [join(ROOT, 'edge/pack.mjs'), '--out', parent], { encoding: 'utf8' })
    const home = join(parent, 'tresor-edge')
    // the CLI and daemon as one file with its code cache (edge/start.ts), and the packages every vault open loads,
    // the same way (core/bundled.ts)
    for (const f of ['start.cjs', 'cli.cjs', 'cli.cjs.cache', 'packages.cjs', 'packages.cjs.cache'])
      expect(existsSync(join(home, 'out/edge', f)), f).toBe(true)
    expect(readdirSync(home).sort()).toEqual(['README.md', 'edge', 'out', 'package-lock.json', 'package.json'])
    // the packages come from npm's cache (filled by this checkout's own install): no network needed
    const npmCi = (...omit: string[]) => {
      const r = spawnSync(
        'npm',
        ['ci', ...omit.map((o) => `--omit=${o}`), '--prefer-offline', '--no-audit', '--no-fund'],
        {
          cwd: home,
          encoding: 'utf8',
          env: { ...process.env, ELECTRON_SKIP_BINARY_DOWNLOAD: '' },
          timeout: 100_000
        }
      )
      expect(r.status, r.stderr).toBe(0)
    }
    npmCi('dev')
    const installed = new Set(readdirSync(join(home, 'node_modules')))
    expect(DEV_ONLY.filter((p) => installed.has(p))).toEqual([])
    expect(installed.has('pouchdb-core') && installed.has('leveldown')).toBe(true)
    expect(readdirSync(join(home, 'edge'))).toEqual(['bin'])

    const bin = join(home, 'edge/bin/tresor.mjs')
    const tresor = (args: string[], input?: string) => {
      const r = spawnSync(process.execPath, [bin, ...args], {
        cwd: home,
        input,
        encoding: 'utf8',
        env: { ...process.env, TRESOR_PASSPHRASE: PASS },
        timeout: 60_000
      })
      return { code: r.status, stdout: r.stdout, stderr: r.stderr }
    }

    // a vault big enough (5,000 events) that the full check spreads over the verify workers
    const t = await streamingVaults()
    const key = await openKeyFile(await readKeyFile(join(t.alice.dir, 'device.key')), PASS)
    await fillWithNotes(t.alice, key.keyPair.secretKey, 5000)
    await t.alice.close()
    await t.bob.close()
    const verify = tresor(['verify', '--dir', t.alice.dir, '--full', '--json'])
    expect(verify.code, verify.stderr).toBe(0)
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true })

    // readings through the judge worker (batches of 64 or more go to it)
    const file = join(parent, 'readings.ndjson')
    writeFileSync(file, boilerLines(500, 'edge').join('\n') + '\n')
    const ingest = tresor(['ingest', '--dir', t.alice.dir, '--file', file, '--json'])
    expect(ingest.code, ingest.stderr).toBe(0)
    expect(JSON.parse(ingest.stdout)).toMatchObject({ admitted: 500 })

    // the daemon, its API and the UI it serves
    const daemon = await startDaemon(t.alice.dir, [], { TRESOR_PASSPHRASE: PASS }, bin)
    try {
      const status = (await (
        await fetch(`${daemon.url}/api/vault.status`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${daemon.token}` },
          body: '{}'
        })
      ).json()) as { ok: boolean; value: { health: { state: string } } }
      expect(status).toMatchObject({ ok: true, value: { health: { state: 'ok' } } })
      const page = await fetch(`${daemon.url}/`)
      expect(page.status).toBe(200)
      expect(await page.text()).toContain('<div id="root">')
    } finally {
      await daemon.stop()
    }

    // the smallest install leaves the optional trace exporter out; asking for traces then logs what is missing
    npmCi('dev', 'optional')
    expect(existsSync(join(home, 'node_modules/@opentelemetry/sdk-trace'))).toBe(false)
    expect(tresor(['status', '--dir', t.alice.dir]).code).toBe(0)
    const traced = await startDaemon(
      t.alice.dir,
      [],
      { TRESOR_PASSPHRASE: PASS, TRESOR_OTLP_ENDPOINT: 'http://127.0.0.1:9' },
      bin
    )
    await traced.stop()
    expect(traced.output()).toMatch(/OpenTelemetry packages are not installed.*serving without it/)
  }, 240_000)
})
