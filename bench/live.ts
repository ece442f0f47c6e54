/**
 * Live multi-device review, measured: three `tresor serve --sync` daemons on
 * one CouchDB-protocol server (express-pouchdb, started here), each reaching
 * it through its own counting proxy. Propagation: from `gov.approve`
 * returning on B to the proposal showing the approval in A's API and in A's
 * open browser page (chromium: the page's title counts what is ready for A to
 * commit, so it changes only when the page fetched again on a push); the same
 * measure with the daemons syncing in rounds (`--rounds`, the default 10 s).
 * Idle cost: CPU and server requests per minute of an online daemon with
 * nothing happening, on a small vault and on one of `bigEvents` events.
 */
import { createServer, request, type Server } from 'node:http'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { KEY_FILE, Vault } from '../core/vault.js'
import { openKeyFile, readKeyFile } from '../core/keys.js'
import { CouchSync } from '../sync/couch-sync.js'
import { saveCredentials } from '../sync/credentials.js'
import { ADMIN, startCouch, type Couch } from '../test/support/couch.js'
import { startDaemon, type Daemon } from '../test/support/daemon.js'
import { launchBrowser } from '../test/support/browser.js'
import { threeMembers } from '../test/support/members.js'
import { fillWithNotes } from '../test/support/big-vault.js'
import { cleanupDirs, PASS } from '../test/helpers.js'

export interface LiveBenchRow {
  measure: string
  tresor: string
  peer: string
  verdict: string
}

/** A loopback proxy in front of the server that counts the requests one daemon makes. */
async function countingProxy(target: number): Promise<{ url: string; count: () => number; close: () => void }> {
  let n = 0
  const server: Server = createServer((req, res) => {
    n++
    const up = request(
      { host: '127.0.0.1', port: target, path: req.url, method: req.method, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers)
        r.pipe(res)
      }
    )
    up.on('error', () => res.destroy())
    req.pipe(up)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const port = (server.address() as { port: number }).port
  return {
    url: `http://127.0.0.1:${port}`,
    count: () => n,
    close: () => {
      server.closeAllConnections()
      server.close()
    }
  }
}

/** CPU seconds a process has used (user + system, all its threads). */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

async function api<T>(d: Daemon, method: string, args: object = {}): Promise<T> {
  const res = await fetch(`${d.url}/api/${method}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${d.token}` },
    body: JSON.stringify(args)
  })
  const body = (await res.json()) as { ok: boolean; value: T; error?: { message: string } }
  if (!body.ok) throw new Error(`${method}: ${body.error?.message}`)
  return body.value
}

async function until(probe: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    if (await probe().catch(() => false)) return
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error('timed out')
}

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!
const ms = (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${Math.round(x)} ms`)

interface World {
  couch: Couch
  dirs: { alice: string; bob: string; carol: string }
  url: string
}

async function world(tmp: () => Promise<string>, log: (m: string) => void): Promise<World> {
  const couch = await startCouch(join(await tmp(), 'server'))
  await couch.request('PUT', '/live', undefined, ADMIN)
  const t = await threeMembers()
  const url = `${couch.root}/live`
  log('live: three members, each synced once with the server')
  for (const [i, v] of [t.alice, t.bob, t.carol].entries()) {
    await saveCredentials(v.dir, url, ADMIN, PASS)
    const s = await CouchSync.open(v, { url, credentials: ADMIN, admin: i === 0 })
    await s.syncOnce()
    await s.close()
  }
  const dirs = { alice: t.alice.dir, bob: t.bob.dir, carol: t.carol.dir }
  for (const v of t.all) await v.close()
  return { couch, dirs, url }
}

/** Daemons on the three folders, each through its own proxy (the server URL in its sync state is rewritten). */
async function daemons(w: World, extra: string[]) {
  const proxies = await Promise.all([0, 1, 2].map(() => countingProxy(w.couch.port)))
  const env = { TRESOR_PASSPHRASE: PASS, TRESOR_COUCH_PASSWORD: ADMIN.password }
  const started: Daemon[] = []
  for (const [i, dir] of [w.dirs.alice, w.dirs.bob, w.dirs.carol].entries()) {
    const url = `${proxies[i]!.url}/live`
    started.push(await startDaemon(dir, ['--sync', '--url', url, '--user', ADMIN.username, ...extra], env))
  }
  return { d: started, proxies }
}

async function propagation(
  a: Daemon,
  b: Daemon,
  samples: number,
  log: (m: string) => void,
  label: string
): Promise<{ api: number[]; page: number[] }> {
  const browser = await launchBrowser()
  const page = await browser.newPage(`${a.url}/#token=${a.token}`)
  await page.getByRole('heading', { name: 'Health' }).waitFor()
  const out = { api: [] as number[], page: [] as number[] }
  try {
    for (let i = 0; i < samples; i++) {
      const ready = (await api<{ toCommit: unknown[] }>(a, 'gov.inbox')).toCommit.length
      const p = await api<{ id: string }>(a, 'gov.propose', {
        action: { kind: 'vault.settings', args: { settings: { telemetryBatchMax: 2000 + i } } },
        reason: `sample ${i}`
      })
      await until(async () => (await api<{ id: string }[]>(b, 'gov.proposals')).some((x) => x.id === p.id))
      await api(b, 'gov.approve', { proposal: p.id })
      const t0 = performance.now()
      const seenApi = until(
        async () =>
          (await api<{ id: string; approvals: unknown[] }[]>(a, 'gov.proposals')).find((x) => x.id === p.id)?.approvals
            .length === 1
      ).then(() => performance.now() - t0)
      const seenPage = page
        .waitForFunction((n) => document.title.startsWith(`(${n}) `), ready + 1, { polling: 'raf', timeout: 60_000 })
        .then(() => performance.now() - t0)
      const [x, y] = await Promise.all([seenApi, seenPage])
      out.api.push(x)
      out.page.push(y)
      log(`${label} sample ${i + 1}/${samples}: API ${ms(x)}, page ${ms(y)}`)
    }
  } finally {
    await browser.close()
  }
  return out
}

/**
 * CPU and requests per minute of daemon `d` over `seconds` with nothing happening: measured once its catching up is
 * over (no request to the server for 5 s).
 */
async function idle(d: Daemon, proxy: { count: () => number }, seconds: number) {
  for (let last = -1, quietSince = Date.now(); Date.now() - quietSince < 5000;) {
    await new Promise((r) => setTimeout(r, 250))
    if (proxy.count() !== last) [last, quietSince] = [proxy.count(), Date.now()]
  }
  const [c0, r0] = [cpuSeconds(d.pid), proxy.count()]
  await new Promise((r) => setTimeout(r, seconds * 1000))
  const [c1, r1] = [cpuSeconds(d.pid), proxy.count()]
  return { cpuPct: ((c1 - c0) / seconds) * 100, perMin: ((r1 - r0) / seconds) * 60 }
}

export async function benchLive(
  opts: { samples: number; roundSamples: number; bigEvents: number; idleSeconds: number },
  tmp: () => Promise<string>,
  log: (m: string) => void
): Promise<LiveBenchRow[]> {
  const rows: LiveBenchRow[] = []
  const w = await world(tmp, log)
  try {
    log('live: three daemons following the server')
    let run = await daemons(w, [])
    await until(async () => {
      for (const d of run.d)
        if ((await api<{ live?: { phase: string } }>(d, 'sync.status')).live?.phase !== 'following') return false
      return true
    })
    const live = await propagation(run.d[0]!, run.d[1]!, opts.samples, log, 'live')
    log(`live: idle cost over ${opts.idleSeconds} s`)
    const idleSmall = await idle(run.d[0]!, run.proxies[0]!, opts.idleSeconds)
    for (const d of run.d) await d.stop()
    for (const p of run.proxies) p.close()

    log('rounds: the same three daemons with --rounds (every 10 s, the default)')
    run = await daemons(w, ['--rounds'])
    const rounds = await propagation(run.d[0]!, run.d[1]!, opts.roundSamples, log, 'rounds')
    for (const d of run.d) await d.stop()
    for (const p of run.proxies) p.close()

    rows.push(
      {
        measure: `propagation B approve → A's API, p50 / p99 (${opts.samples} samples; three daemons, one server)`,
        tresor: `${ms(pct(live.api, 0.5))} / ${ms(pct(live.api, 0.99))}`,
        peer: `rounds every 10 s: ${ms(pct(rounds.api, 0.5))} / ${ms(pct(rounds.api, 0.99))} (${opts.roundSamples} samples)`,
        verdict: `target p50 <1 s, p99 <3 s: ${pct(live.api, 0.5) < 1000 && pct(live.api, 0.99) < 3000 ? 'met' : 'NOT met'}`
      },
      {
        measure: "propagation B approve → A's open page (push channel), p50 / p99",
        tresor: `${ms(pct(live.page, 0.5))} / ${ms(pct(live.page, 0.99))}`,
        peer: `rounds: ${ms(pct(rounds.page, 0.5))} / ${ms(pct(rounds.page, 0.99))}`,
        verdict: `target p50 <1 s, p99 <3 s: ${pct(live.page, 0.5) < 1000 && pct(live.page, 0.99) < 3000 ? 'met' : 'NOT met'}`
      }
    )

    log(`live: a daemon following a ${opts.bigEvents}-event vault`)
    const v = await Vault.open({ dir: w.dirs.alice })
    const key = await openKeyFile(await readKeyFile(join(w.dirs.alice, KEY_FILE)), PASS)
    await fillWithNotes(v, key.keyPair.secretKey, opts.bigEvents)
    await v.close()
    const bigVault = await Vault.open({ dir: w.dirs.alice })
    await bigVault.unlock(PASS)
    const s = await CouchSync.open(bigVault, { url: w.url, credentials: ADMIN, admin: true })
    await s.syncOnce()
    await s.close()
    await bigVault.close()
    const proxy = await countingProxy(w.couch.port)
    const d = await startDaemon(w.dirs.alice, ['--sync', '--url', `${proxy.url}/live`, '--user', ADMIN.username], {
      TRESOR_PASSPHRASE: PASS,
      TRESOR_COUCH_PASSWORD: ADMIN.password
    })
    await until(
      async () => (await api<{ live?: { phase: string } }>(d, 'sync.status')).live?.phase === 'following',
      600_000
    )
    const idleBig = await idle(d, proxy, opts.idleSeconds)
    await d.stop()
    proxy.close()
    rows.push({
      measure: `idle cost of an online daemon (${opts.idleSeconds} s, nothing happening): CPU, server requests/min`,
      tresor: `small vault ${idleSmall.cpuPct.toFixed(2)}% · ${idleSmall.perMin.toFixed(1)}/min`,
      peer: `${opts.bigEvents.toLocaleString('en-US')}-event vault ${idleBig.cpuPct.toFixed(2)}% · ${idleBig.perMin.toFixed(1)}/min`,
      verdict: `no rescan while idle: ${idleBig.perMin <= idleSmall.perMin * 1.5 + 1 ? 'met' : 'NOT met'}`
    })
    return rows
  } finally {
    await w.couch.stop()
    await cleanupDirs()
  }
}
