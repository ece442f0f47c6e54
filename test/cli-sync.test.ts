import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawn, spawnSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ADMIN, WRITER, startCouch, type Couch } from './support/couch.js'
import { cleanupDirs, PASS, tempDir } from './helpers.js'

const BIN = fileURLToPath(new URL('../edge/bin/tresor.mjs', import.meta.url))
let couch: Couch

function tresor(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    env: { ...process.env, TRESOR_PASSPHRASE: PASS, ...env },
    encoding: 'utf8',
    timeout: 60_000
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout) }
}

beforeAll(async () => {
  couch = await startCouch(join(await tempDir('tresor-couch-cli-'), 'server'))
})
afterAll(async () => {
  await couch?.stop()
  await cleanupDirs()
})

describe('cli sync', () => {
  it('cli - sync couch stores the credentials sealed, reports status, and lists the quarantine', async () => {
    const root = await tempDir()
    const a = join(root, 'a')
    expect(tresor(['init', '--dir', a, '--vault', 'V', '--name', 'alice', '--roles', 'operator']).code).toBe(0)
    const first = tresor(
      ['sync', 'couch', '--dir', a, '--url', couch.dbUrl, '--user', ADMIN.username, '--admin', '--json'],
      { TRESOR_COUCH_PASSWORD: ADMIN.password }
    )
    expect(first.code, first.stderr).toBe(0)
    expect(first.json().round).toMatchObject({ pushed: 1, design: 'installed' })
    const stored = await readFile(join(a, 'couch-credentials.json'), 'utf8')
    expect(stored).not.toContain(ADMIN.password)
    expect(stored).toContain(ADMIN.username)
    // the next round needs no password: it is unsealed with the device passphrase
    tresor(['note', '--dir', a, '--text', 'second'])
    expect(tresor(['sync', 'couch', '--dir', a, '--json']).json().round.pushed).toBe(1)
    const status = tresor(['sync', 'status', '--dir', a, '--json']).json()
    expect(status).toMatchObject({ url: couch.dbUrl, user: 'admin', pendingUp: 0, quarantine: 0, design: 'current' })
    expect(tresor(['sync', 'couch', '--dir', a], { TRESOR_PASSPHRASE: 'wrong' }).stderr).toMatch(/wrong passphrase/)
    // a forged document on the server shows up in the quarantine with its reason
    await couch.request(
      'PUT',
      `/vault/${encodeURIComponent('ev!' + 'ab'.repeat(32) + '!000000000001')}`,
      { raw: '{"not":"an event"}', id: 'cd'.repeat(32), type: 'x.y', ts: 't' },
      WRITER
    )
    expect(tresor(['sync', 'couch', '--dir', a, '--json']).json().round.quarantined).toBe(1)
    const q = tresor(['quarantine', '--dir', a, '--json']).json()
    expect(q).toEqual([
      expect.objectContaining({
        code: 'MALFORMED',
        docId: 'ev!' + 'ab'.repeat(32) + '!000000000001',
        source: couch.dbUrl
      })
    ])
    expect(tresor(['quarantine', '--dir', a]).stdout).toMatch(/MALFORMED/)
  })

  it('cli - the daemon in rounds (--rounds, the fallback for hosts that cannot hold a connection) keeps syncing across a server outage, backing off, and stops on SIGTERM', async () => {
    const root = await tempDir()
    const a = join(root, 'a')
    tresor(['init', '--dir', a, '--vault', 'V', '--name', 'alice', '--roles', 'operator'])
    const url = `${couch.root}/daemon`
    await couch.request('PUT', '/daemon', undefined, ADMIN)
    expect(
      tresor(['sync', 'couch', '--dir', a, '--url', url, '--user', ADMIN.username, '--admin'], {
        TRESOR_COUCH_PASSWORD: ADMIN.password
      }).code
    ).toBe(0)
    const daemon = spawn(process.execPath, [BIN, 'daemon', '--dir', a, '--rounds', '--interval', '1', '--json'], {
      env: { ...process.env, TRESOR_PASSPHRASE: PASS },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    const lines: { round?: unknown; error?: string }[] = []
    let buf = ''
    daemon.stdout.on('data', (c) => {
      buf += c
      let i
      while ((i = buf.indexOf('\n}\n')) >= 0) {
        lines.push(JSON.parse(buf.slice(0, i + 2)))
        buf = buf.slice(i + 3)
      }
    })
    const until = async (pred: () => boolean, what: string) => {
      for (let t = 0; t < 300 && !pred(); t++) await new Promise((r) => setTimeout(r, 100))
      if (!pred()) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(lines)}`)
    }
    try {
      await until(() => lines.some((l) => l.round), 'a first round')
      await couch.stop()
      await until(() => lines.some((l) => l.error), 'the daemon to notice the outage')
      await couch.start()
      const n = lines.length
      await until(() => lines.slice(n).some((l) => l.round), 'a round after the outage')
    } finally {
      daemon.kill('SIGTERM')
      const code = await new Promise((r) => daemon.once('exit', (c) => r(c)))
      expect(code).toBe(0)
    }
    // on the server: the design doc, alice's genesis, and the statuses her daemon signed while it synced (at start,
    // and as it went offline and online again)
    const all = await couch.request('GET', '/daemon/_all_docs?include_docs=true', undefined, ADMIN)
    const types = (all.json.rows as { id: string; doc: { raw?: string } }[])
      .filter((r) => r.id.startsWith('ev!'))
      .map((r) => (JSON.parse(r.doc.raw!) as { type: string }).type)
    expect(types[0]).toBe('vault.genesis')
    expect(types.slice(1).length).toBeGreaterThanOrEqual(1)
    expect(new Set(types.slice(1))).toEqual(new Set(['device.status']))
  })
})
