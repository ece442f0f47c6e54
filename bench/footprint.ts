/**
 * The edge footprint, measured on the shipped build: the wall time of a
 * `tresor status` (on its own, and beside a running daemon, which it asks),
 * the size of the production install, and the daemon's memory — a real
 * `tresor serve` process, read from /proc — idle on an empty vault, taking in
 * and holding 1,000,000 readings offline at full speed over HTTP, and after a
 * restart over that backlog.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startDaemon, type Daemon } from '../test/support/daemon.js'
import { boilerLines, streamingVaults } from '../test/support/telemetry-vault.js'
import { PASS } from '../test/helpers.js'

type Row = { measure: string; tresor: string; peer: string; verdict: string }
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const BIN = join(ROOT, 'edge/bin/tresor.mjs')
const MiB = 2 ** 20
const mib = (b: number) => `${(b / MiB).toFixed(0)} MiB`
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const met = (ok: boolean) => (ok ? 'met' : 'NOT met')

/** Median wall time of `node args…` over `runs` runs, in ms. */
function wall(args: string[], runs = 7, env: Record<string, string> = {}): number {
  const times: number[] = []
  for (let i = 0; i < runs; i++) {
    const t = performance.now()
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, ...env } })
    times.push(performance.now() - t)
    if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${r.stderr}`)
  }
  return median(times)
}

export async function statusRows(vaultDir: string, events: number, log: (m: string) => void): Promise<Row[]> {
  log('tresor status: on its own, then beside a running daemon')
  const bare = wall(['-e', ''])
  const alone = wall([BIN, 'status', '--dir', vaultDir])
  const daemon = await startDaemon(vaultDir)
  let beside: number
  try {
    beside = wall([BIN, 'status', '--dir', vaultDir])
  } finally {
    await daemon.stop()
  }
  return [
    {
      measure: `tresor status, ${events.toLocaleString('en-US')}-event vault (wall time, median of 7)`,
      tresor: `beside a running daemon ${beside.toFixed(0)} ms · on its own (opens the vault) ${alone.toFixed(0)} ms`,
      peer: `node -e '' ${bare.toFixed(0)} ms`,
      verdict: `<150 ms: ${met(beside < 150)} beside the daemon, ${met(alone < 150)} on its own`
    }
  ]
}

function folderBytes(dir: string): number {
  let n = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) n += folderBytes(p)
    else if (e.isFile()) n += statSync(p).size
  }
  return n
}

export function installRows(tmpDir: string, log: (m: string) => void): Row[] {
  log('production install: npm run pack:edge, then npm ci --omit=dev in a clean folder')
  execFileSync(process.execPath, [join(ROOT, 'edge/pack.mjs'), '--out', tmpDir], { stdio: 'ignore' })
  const home = join(tmpDir, 'tresor-edge')
  const app = folderBytes(home)
  const install = (omit: string[]) => {
    const t = performance.now()
    execFileSync('npm', ['ci', ...omit.map((o) => `--omit=${o}`), '--prefer-offline', '--no-audit', '--no-fund'], {
      cwd: home,
      stdio: 'ignore'
    })
    const ms = performance.now() - t
    const packages =
      spawnSync('npm', ['ls', '--all', '--parseable', ...omit.map((o) => `--omit=${o}`)], {
        cwd: home,
        encoding: 'utf8'
      })
        .stdout.trim()
        .split('\n').length - 1 // the first line is the project itself
    return { bytes: folderBytes(home), packages, ms }
  }
  const full = install(['dev'])
  const small = install(['dev', 'optional'])
  const dev = folderBytes(join(ROOT, 'node_modules'))
  return [
    {
      measure: 'production install (npm ci --omit=dev): size on disk and packages',
      tresor: `${mib(full.bytes)}, ${full.packages} packages (${(full.ms / 1000).toFixed(0)} s from npm's cache); without the optional trace exporter (--omit=optional) ${mib(small.bytes)}, ${small.packages} packages; the app itself ${(app / MiB).toFixed(1)} MiB`,
      peer: `this checkout's development install ${mib(dev)}`,
      verdict: ''
    }
  ]
}

/** RSS now and the peak so far (VmHWM) of a process, from /proc. */
function memoryOf(pid: number): { rss: number; peak: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024
  return { rss: kb('VmRSS'), peak: kb('VmHWM') }
}

/** POST `total` readings to the daemon's /ingest, `perRequest` a request, 8 in flight; readings/s. */
async function flood(d: Daemon, ingestToken: string, total: number, prefix: string): Promise<number> {
  const perRequest = 1000
  let next = 0
  const t0 = performance.now()
  const now = Date.now()
  const worker = async () => {
    while (next < total) {
      const at = next
      next += perRequest
      const body = boilerLines(Math.min(perRequest, total - at), `${prefix}${at}`, now).join('\n')
      const res = await fetch(`${d.url}/ingest`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${ingestToken}` },
        body
      })
      const json = (await res.json()) as { value?: { admitted: number } }
      if (res.status !== 200 || !json.value) throw new Error(`ingest answered ${res.status}`)
    }
  }
  await Promise.all(Array.from({ length: 8 }, worker))
  return total / ((performance.now() - t0) / 1000)
}

export async function memoryRows(backlog: number, log: (m: string) => void): Promise<Row[]> {
  const t = await streamingVaults({ settings: { telemetryBudgetKB: 2 * 1024 * 1024 } })
  const dir = t.alice.dir
  await t.alice.close()
  await t.bob.close()
  const env = { TRESOR_PASSPHRASE: PASS }
  const settle = 5000

  log('daemon memory: idle on an empty vault')
  let d = await startDaemon(dir, [], env)
  const token = readFileSync(join(dir, 'ingest-token'), 'utf8').trim()
  await sleep(settle)
  const idle = memoryOf(d.pid)

  log(`daemon memory: ${backlog.toLocaleString('en-US')} readings over HTTP, held offline`)
  let rate: number
  try {
    rate = await flood(d, token, backlog, 'b')
    await sleep(settle)
  } catch (err) {
    await d.stop()
    throw err
  }
  const full = memoryOf(d.pid)
  await d.stop()

  log('daemon memory: restarted over the backlog, taking readings again')
  d = await startDaemon(dir, [], env)
  const t0 = performance.now()
  await flood(d, token, 1000, 'after')
  const firstMs = performance.now() - t0
  await sleep(settle)
  const restarted = memoryOf(d.pid)
  await d.stop()

  const row = (measure: string, m: { rss: number; peak: number }, budget: number, peer = '', of = 'peak') => ({
    measure,
    tresor: `peak RSS ${mib(m.peak)}, settled ${mib(m.rss)}`,
    peer,
    verdict: `${of} ≤${budget} MiB: ${met((of === 'peak' ? m.peak : m.rss) <= budget * MiB)}`
  })
  return [
    // idle is what it settles at; its peak is the start (the unlock's scrypt is memory-hard: 128·N·r bytes)
    row('daemon (tresor serve) idle on an empty vault', idle, 80, 'peak: the start, unlock included', 'settled'),
    row(
      `daemon taking in ${backlog.toLocaleString('en-US')} readings at full speed (HTTP, 1000/request, 8 in flight) and holding them offline`,
      full,
      300,
      `intake ${Math.round(rate).toLocaleString('en-US')}/s`
    ),
    row(
      `daemon restarted over that backlog, taking readings again`,
      restarted,
      150,
      `first 1,000 readings acknowledged ${firstMs.toFixed(0)} ms after start`
    )
  ]
}
