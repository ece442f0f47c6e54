/**
 * The CLI as a client of a running daemon: while `tresor serve` holds the
 * vault, the CLI's commands call its API on loopback with the serve token
 * instead of opening the vault (which only one process may do).
 */
import { afterAll, describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cleanupDirs, makeVault, PASS, tempDir } from './helpers.js'
import { startDaemon } from './support/daemon.js'
import { ADMIN, WRITER, startCouch } from './support/couch.js'
import { GIT_TOKEN, startGitServer } from './support/git.js'
import { boilerLines, streamingVaults } from './support/telemetry-vault.js'

const BIN = fileURLToPath(new URL('../edge/bin/tresor.mjs', import.meta.url))

function tresor(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    env: { ...process.env, TRESOR_PASSPHRASE: PASS, ...env },
    encoding: 'utf8',
    timeout: 60_000
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout) }
}

/** `tresor serve` on `dir` with its key locked, once it has said where it answers; `api` calls it as the UI does. */
async function lockedDaemon(dir: string) {
  const env = { ...process.env }
  delete env.TRESOR_PASSPHRASE
  const daemon = await startDaemon(dir, [], env as Record<string, string>)
  const api = async (method: string, body: unknown = {}) =>
    (await (
      await fetch(`${daemon.url}/api/${method}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${daemon.token}` },
        body: JSON.stringify(body)
      })
    ).json()) as { ok: boolean; value: Record<string, unknown> }
  for (let i = 0; i < 100 && !existsSync(join(dir, 'serve.json')); i++) await new Promise((r) => setTimeout(r, 50))
  return { daemon, api }
}

describe('cli through a running daemon', () => {
  afterAll(cleanupDirs)

  it("cli - while tresor serve holds the vault, status, log, note, verify, governance, bundles, checkpoints, proofs and telemetry go through it; the daemon's key is locked again after", async () => {
    const v = await makeVault({ notes: 2, members: [{ name: 'bob', roles: ['operator'], keys: ['b0'.repeat(32)] }] })
    const dir = v.dir
    await v.close()
    expect(tresor(['checkpoint', '--dir', dir]).code).toBe(0) // made before the daemon starts: proofs need one
    const { daemon, api } = await lockedDaemon(dir) // the daemon starts with its key locked
    try {
      const status = tresor(['status', '--dir', dir, '--json'])
      expect(status.code, status.stderr).toBe(0)
      expect(status.json()).toMatchObject({ events: 4, health: { state: 'ok' } })

      const note = tresor(['note', '--dir', dir, '--text', 'from the cli beside the daemon', '--json'])
      expect(note.code, note.stderr).toBe(0)
      expect(note.json()).toMatchObject({ seq: 5 })
      // signed by the daemon, locked again
      expect((await api('vault.status')).value).toMatchObject({ events: 5, unlocked: false })

      const log = tresor(['log', '--dir', dir, '--json'])
      expect(log.json().entries.map((e: { payload: { text?: string } }) => e.payload.text)).toContain(
        'from the cli beside the daemon'
      )
      expect(tresor(['verify', '--dir', dir, '--full']).code).toBe(0)

      const proposed = tresor([
        'propose',
        'flag',
        '--dir',
        dir,
        '--flag',
        'finance_enabled',
        '--on',
        '--reason',
        'ledger tests pass',
        '--json'
      ])
      expect(proposed.code, proposed.stderr).toBe(0)
      const id = proposed.json().id as string
      expect(tresor(['show', id.slice(0, 12), '--dir', dir, '--json']).json()).toMatchObject({ id, status: 'open' })
      expect(tresor(['inbox', '--dir', dir, '--json']).json()).toMatchObject({
        toSign: [],
        toCommit: [],
        waiting: [{ id, canApprove: ['bob'] }]
      }) // alice's own proposal waits on bob
      expect(tresor(['withdraw', id.slice(0, 12), '--dir', dir, '--json', '--yes']).json()).toMatchObject({
        id,
        status: 'withdrawn'
      })
      expect(
        tresor(['members', '--dir', dir, '--json'])
          .json()
          .members.map((m: { name: string }) => m.name)
          .sort()
      ).toEqual(['alice', 'bob'])
      expect(tresor(['flags', '--dir', dir]).code).toBe(0)
      expect(tresor(['ledger', '--dir', dir]).stdout).toMatch(/the ledger is empty/)
      expect((await api('log.list', { limit: 100 })).value.total).toBe(7)

      // files in and out, proofs and telemetry, through the daemon too
      const out = await tempDir()
      expect(
        tresor(['bundle', 'export', '--dir', dir, '--out', join(out, 'all.bundle'), '--json']).json()
      ).toMatchObject({ events: 7 })
      expect(tresor(['bundle', 'import', '--dir', dir, '--file', join(out, 'all.bundle'), '--json']).json()).toEqual({
        admitted: 0,
        duplicates: 7,
        from: 'alice',
        arrived: [],
        other: 0,
        checkpoints: 0
      })
      const genesis = log.json().entries[0].id as string
      expect(tresor(['prove', genesis, '--dir', dir, '--out', join(out, 'genesis.proof')]).code).toBe(0)
      expect(tresor(['verify-proof', join(out, 'genesis.proof')]).stdout).toMatch(/^VALID inclusion proof/)
      const first = (await api('log.list', { type: 'proof.checkpoint', limit: 10 })).value.entries as { id: string }[]
      const cp2 = tresor(['checkpoint', '--dir', dir, '--json'])
      expect(cp2.code, cp2.stderr).toBe(0)
      expect(
        tresor(['prove', '--consistency', first[0]!.id, cp2.json().id, '--dir', dir, '--out', join(out, 'grew.proof')])
          .code
      ).toBe(0)
      expect(tresor(['verify-proof', join(out, 'grew.proof')]).stdout).toMatch(/^VALID consistency proof/)
      expect(tresor(['telemetry', 'verify', '--dir', dir]).stdout).toMatch(/^0 batch\(es\)/)
      expect(tresor(['telemetry', 'status', '--dir', dir, '--json']).json()).toMatchObject({ enabled: false })
      expect(tresor(['streams', '--dir', dir]).stdout).toMatch(/no streams registered/)
      expect(tresor(['telemetry', 'quarantine', '--dir', dir]).stdout).toMatch(/nothing in telemetry quarantine/)

      // the audit chain through the daemon verifies on its own
      expect(tresor(['export', '--dir', dir, '--format', 'yaml', '--out', join(out, 'audit.yaml')]).code).toBe(0)
      expect(tresor(['verify', '--file', join(out, 'audit.yaml'), '--json']).json()).toMatchObject({
        ok: true,
        total: 8
      })

      // the one command that runs the vault itself (the sync loop) says who holds it, what to use instead, and touches
      // nothing
      const journal = () =>
        createHash('sha256')
          .update(readFileSync(join(dir, 'append.journal')))
          .digest('hex')
      const j0 = journal()
      const refused = tresor(['daemon', '--dir', dir])
      expect(refused.code).toBe(1)
      expect(refused.stderr).toMatch(
        new RegExp(
          `open in tresor serve \\(pid ${daemon.pid}.*\`tresor daemon\` runs the vault itself .*tresor serve --sync keeps sync running instead`
        )
      )
      expect(journal()).toBe(j0)
    } finally {
      await daemon.stop()
    }
    expect(existsSync(join(dir, 'serve.json'))).toBe(false) // taken back when the daemon stops
    // and the CLI opens the vault itself again
    expect(tresor(['status', '--dir', dir, '--json']).json()).toMatchObject({ events: 8 })
  })

  it('cli - sync couch, sync git, sync status, quarantine and recover go through a running daemon, against a real CouchDB and Git server; credentials stay sealed in the folder', async () => {
    const root = await tempDir()
    const couch = await startCouch(join(root, 'couch'))
    const git = await startGitServer(join(root, 'repos'))
    const v = await makeVault({ notes: 1 })
    const dir = v.dir
    await v.close()
    // the daemon starts with its key locked: each round unlocks it and locks it again
    const { daemon, api } = await lockedDaemon(dir)
    try {
      const first = tresor(
        ['sync', 'couch', '--dir', dir, '--url', couch.dbUrl, '--user', ADMIN.username, '--admin', '--json'],
        { TRESOR_COUCH_PASSWORD: ADMIN.password }
      )
      expect(first.code, first.stderr).toBe(0)
      expect(first.json().round).toMatchObject({ pushed: 2, design: 'installed' })
      expect((await api('vault.status')).value).toMatchObject({ unlocked: false })
      expect(readFileSync(join(dir, 'couch-credentials.json'), 'utf8')).not.toContain(ADMIN.password)
      // a forged document on the server: the daemon's gate quarantines it, and the CLI lists it through the daemon
      await couch.request(
        'PUT',
        `/vault/${encodeURIComponent('ev!' + 'ab'.repeat(32) + '!000000000001')}`,
        { raw: '{"not":"an event"}', id: 'cd'.repeat(32), type: 'x.y', ts: 't' },
        WRITER
      )
      const second = tresor(['sync', 'couch', '--dir', dir, '--json'])
      expect(second.code, second.stderr).toBe(0)
      expect(second.json().round).toMatchObject({ quarantined: 1, pushed: 0 })
      expect(tresor(['quarantine', '--dir', dir, '--json']).json()).toEqual([
        expect.objectContaining({ code: 'MALFORMED', source: couch.dbUrl })
      ])
      expect(tresor(['sync', 'status', '--dir', dir, '--json']).json()).toMatchObject({
        url: couch.dbUrl,
        user: 'admin',
        quarantine: 1,
        pendingUp: 0
      })

      git.createRepo('beside.git')
      const mirrored = tresor(['sync', 'git', '--dir', dir, '--url', git.url('beside.git'), '--json'], {
        TRESOR_GIT_TOKEN: GIT_TOKEN
      })
      expect(mirrored.code, mirrored.stderr).toBe(0)
      expect(mirrored.json()).toMatchObject({ written: 2, pushed: true })
      expect(readFileSync(join(dir, 'git-credentials.json'), 'utf8')).not.toContain(GIT_TOKEN)

      // recovery runs in the daemon, which asks the servers it has stored; a server named on the command line is
      // refused there
      expect(tresor(['recover', '--dir', dir, '--couch', '--url', couch.dbUrl]).code).toBe(2)
      const recovered = tresor(['recover', '--dir', dir, '--couch', '--mirror', '--json'])
      expect(recovered.code, recovered.stderr).toBe(0)
      expect(recovered.json()).toMatchObject({ missing: 0, read: { damagedDb: 2 } })
      expect(recovered.json().peers.join('\n')).toMatch(/couchdb/i)
      expect(tresor(['status', '--dir', dir, '--json']).json()).toMatchObject({ events: 2, health: { state: 'ok' } })
      expect(tresor(['verify', '--dir', dir, '--full']).code).toBe(0)
    } finally {
      await daemon.stop()
      await git.stop()
      await couch.stop()
    }
  })

  it('cli - tresor ingest and replay beside a running daemon go through it: readings in calls it can carry, back page by page', async () => {
    const t = await streamingVaults()
    const dir = t.alice.dir
    await t.alice.close()
    await t.bob.close()
    const daemon = await startDaemon(dir, [], { TRESOR_PASSPHRASE: PASS })
    try {
      for (let i = 0; i < 100 && !existsSync(join(dir, 'serve.json')); i++) await new Promise((r) => setTimeout(r, 50))
      const file = join(await tempDir(), 'readings.ndjson')
      writeFileSync(file, boilerLines(3000, 'beside').join('\n') + '\n{"not":"a reading"}\n')
      const r = tresor(['ingest', '--dir', dir, '--file', file, '--json'])
      expect(r.code, r.stderr + r.stdout.slice(0, 500)).toBe(4) // one line quarantined (input partly refused: exit 4)
      expect(r.json()).toMatchObject({
        admitted: 3000,
        quarantined: 1,
        sealed: true,
        receipts: [{ index: 3000, decision: 'QUARANTINE' }]
      })
      const readings = (await (
        await fetch(`${daemon.url}/api/telemetry.readings`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${daemon.token}` },
          body: JSON.stringify({ stream: 'boiler.temp', limit: 1 })
        })
      ).json()) as { value: { total: number } }
      expect(readings.value.total).toBe(3000)
      // and replayed through it, page by page, in timestamp order
      const replay = tresor(['replay', '--dir', dir, '--stream', 'boiler.temp', '--speed', '1000000'])
      expect(replay.code, replay.stderr).toBe(0)
      const ids = replay.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { id: string }).id)
      expect(ids).toEqual(Array.from({ length: 3000 }, (_, i) => `beside-${i}`))
    } finally {
      await daemon.stop()
    }
  })

  it('cli - a serve.json left by a daemon that is gone, or one naming another address, is never followed', async () => {
    const v = await makeVault({ notes: 1 })
    const dir = v.dir
    await v.close()
    writeFileSync(join(dir, 'serve.json'), JSON.stringify({ v: 1, pid: 999999, url: 'http://127.0.0.1:1' }))
    // nobody holds it: opened here
    expect(tresor(['status', '--dir', dir, '--json']).json()).toMatchObject({ events: 2 })
    writeFileSync(join(dir, 'serve.json'), JSON.stringify({ v: 1, pid: process.pid, url: 'http://evil.example:80' }))
    expect(tresor(['note', '--dir', dir, '--text', 'x']).code).toBe(0)
  })
})
