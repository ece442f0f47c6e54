/**
 * Continuous sync: devices follow the suite's CouchDB-protocol server (express-pouchdb) instead of syncing in
 * rounds. Three `tresor serve --sync` daemons for the journeys; an in-process follower for the rollback.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { cp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CouchSync, listQuarantine, recordedStatus } from '../sync/couch-sync.js'
import { CouchFollower } from '../sync/couch-follow.js'
import { createHandlers } from '../core/api.js'
import { stateHash } from '../core/governance/state.js'
import { ADMIN, startCouch, WRITER, type Couch } from './support/couch.js'
import { startDaemon, type Daemon } from './support/daemon.js'
import { threeMembers } from './support/members.js'
import { cleanupDirs, PASS, tempDir } from './helpers.js'
import { saveCredentials } from '../sync/credentials.js'
import { openVaultHost } from '../main/vault-host.js'

const CLI = fileURLToPath(new URL('../edge/bin/tresor.mjs', import.meta.url))
let couch: Couch
let serverDir: string
const daemons: Daemon[] = []

beforeAll(async () => {
  serverDir = join(await tempDir('tresor-couch-'), 'server')
  couch = await startCouch(serverDir)
}, 60_000)

afterAll(async () => {
  for (const d of daemons) await d.stop()
  await couch?.stop()
  await cleanupDirs()
})

async function freshDb(name: string): Promise<string> {
  await couch.request('PUT', `/${name}`, undefined, ADMIN)
  return `${couch.root}/${name}`
}

const env = { TRESOR_PASSPHRASE: PASS, TRESOR_COUCH_PASSWORD: ADMIN.password }
const tresor = (args: string[]) =>
  spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, encoding: 'utf8' })

async function api<T = Record<string, unknown>>(d: Daemon, method: string, args: object = {}): Promise<T> {
  const res = await fetch(`${d.url}/api/${method}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${d.token}` },
    body: JSON.stringify(args),
    signal: AbortSignal.timeout(15_000)
  }).catch((err: Error) => {
    throw new Error(`${method} on ${d.url}: ${err.message}\n${d.output().slice(-2500)}`)
  })
  const body = (await res.json()) as { ok: boolean; value: T; error?: { message: string } }
  if (!body.ok) throw new Error(`${method}: ${body.error?.message}`)
  return body.value
}

/** Wait for `probe` to hold (the test watching, not a timing claim: the bench measures latency). */
async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    try {
      if (await probe()) return
    } catch (err) {
      if (/TimeoutError|aborted/.test(String(err))) throw err
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`timed out waiting: ${what}`)
}

const notesBy = async (d: Daemon, author: string) =>
  (
    await api<{ entries: { payload?: { text: string } }[] }>(d, 'log.list', {
      type: 'audit.note',
      author,
      payloads: true,
      limit: 1000
    })
  ).entries.map((e) => e.payload!.text)

describe('continuous sync', () => {
  it('live - three daemons on one server: an approval on B reaches A and C with no round; the server killed and restarted mid-stream, every event arrives exactly once; a device offline signs, comes back, and its events flow', async () => {
    const t = await threeMembers()
    const url = await freshDb('live')
    const [a, b, c] = [t.alice.dir, t.bob.dir, t.carol.dir]
    const keys = { alice: t.alice.device, carol: t.carol.device }
    for (const v of t.all) await v.close()
    for (const dir of [a, b, c]) {
      const r = tresor(['sync', 'couch', '--dir', dir, '--url', url, '--user', ADMIN.username, '--admin'])
      expect(r.status, r.stderr).toBe(0)
    }
    const [da, db, dc] = [
      await startDaemon(a, ['--sync'], env),
      await startDaemon(b, ['--sync'], env),
      await startDaemon(c, ['--sync'], env)
    ]
    daemons.push(da, db, dc)
    await until('all three follow', async () => {
      for (const d of [da, db, dc])
        if ((await api<{ live?: { phase: string } }>(d, 'sync.status')).live?.phase !== 'following') return false
      return true
    })

    // An approval on B reaches A and C, no round asked for.
    const p = await api<{ id: string }>(da, 'gov.propose', {
      action: { kind: 'flag.set', args: { flag: 'finance_enabled', value: true } },
      reason: 'live'
    })
    await until('B sees the proposal', async () =>
      (await api<{ id: string }[]>(db, 'gov.proposals')).some((x) => x.id === p.id)
    )
    await api(db, 'gov.approve', { proposal: p.id })
    for (const d of [da, dc])
      await until('the approval arrives', async () => {
        const found = (await api<{ id: string; approvals: unknown[] }[]>(d, 'gov.proposals')).find((x) => x.id === p.id)
        return found?.approvals.length === 1
      })
    for (const d of [da, db, dc]) expect(d.output()).not.toMatch(/ synced: /) // no rounds: the follower's caught-up round only

    // The server dies mid-stream and comes back: nothing lost, nothing twice.
    const texts = Array.from({ length: 40 }, (_, i) => `note ${i}`)
    for (const [i, text] of texts.entries()) {
      if (i === 15) await couch.stop('SIGKILL')
      if (i === 30) await couch.start()
      await api(da, 'log.appendNote', { text })
    }
    for (const d of [db, dc])
      await until('every note arrives', async () => (await notesBy(d, keys.alice)).length === texts.length, 60_000)
    for (const d of [db, dc]) {
      expect((await notesBy(d, keys.alice)).sort()).toEqual([...texts].sort())
      expect(await api<unknown[]>(d, 'sync.quarantine')).toEqual([])
    }
    expect(da.output()).toMatch(/server unreachable/)
    expect(da.output()).toMatch(/resuming/)

    // carol goes offline, signs, and comes back
    await dc.stop()
    const offline = tresor(['note', '--dir', c, '--text', 'signed offline'])
    expect(offline.status, offline.stderr).toBe(0)
    const back = await startDaemon(c, ['--sync'], env)
    daemons.push(back)
    await until('the offline note flows', async () => (await notesBy(da, keys.carol)).includes('signed offline'))
    await until('and reaches bob', async () => (await notesBy(db, keys.carol)).includes('signed offline'))
    // every device sees every device: the CLI through A's daemon lists each one's signed status
    await until('carol reported', async () =>
      / · ok · /.test(
        tresor(['devices', '--dir', a])
          .stdout.split('\n')
          .find((l) => l.startsWith('carol')) ?? ''
      )
    )
    const listed = tresor(['devices', '--dir', a])
    expect(listed.status, listed.stderr).toBe(0)
    expect(listed.stdout).toMatch(/^alice\s+[0-9a-f]{12}… \(this device\) · seen .* · ok · last check /m)
    expect(listed.stdout).toMatch(
      /^bob\s+[0-9a-f]{12}… · seen .* · ok · .* event\(s\) behind this device · sync online/m
    )
  }, 180_000)

  it('live - the desktop host follows once unlocked: the passphrase opens the stored credentials, an event signed elsewhere arrives and its subscribers hear of it', async () => {
    const t = await threeMembers()
    const url = await freshDb('live-desktop')
    const { alice, bob } = t
    const round = async (v: typeof alice, admin = false) => {
      const s = await CouchSync.open(v, { url, credentials: admin ? ADMIN : WRITER, admin })
      try {
        return await s.syncOnce()
      } finally {
        await s.close()
      }
    }
    await round(alice, true)
    await saveCredentials(bob.dir, url, WRITER, PASS)
    await round(bob)
    await bob.close()
    const host = openVaultHost(bob.dir)
    const heard: string[] = []
    host.subscribe((e) => heard.push(e.topic === 'vault' ? `vault:${e.change.kind}` : e.topic))
    try {
      await host.handlers['vault.unlock']({ passphrase: PASS })
      await until(
        'the desktop follows',
        async () => (await host.handlers['sync.status']({})).live?.phase === 'following'
      )
      await alice.append('audit.note', { text: 'from the other laptop' })
      await round(alice)
      const vault = host.vault()!
      await until('it arrives', async () => vault.heads()[alice.device]?.length === alice.heads()[alice.device]!.length)
      expect(heard).toContain('vault:ingest')
      expect(heard).toContain('sync')
    } finally {
      await host.close()
      for (const v of [alice, t.bob2, t.carol]) await v.close()
    }
  }, 120_000)

  it('live - reading the sync status and the quarantine beside a running sync does not close its databases under it', async () => {
    const t = await threeMembers()
    const url = await freshDb('live-shared')
    try {
      const sync = await CouchSync.open(t.alice, { url, credentials: ADMIN, admin: true })
      // what a status call made before the follower was known did: open and close the same databases again
      await recordedStatus(t.alice)
      await listQuarantine(t.alice)
      await t.alice.append('audit.note', { text: 'after the reads' })
      const round = await sync.syncOnce()
      expect(round.pushed).toBeGreaterThan(0)
      expect((await sync.status()).pendingUp).toBe(0)
      await sync.close()
    } finally {
      for (const v of t.all) await v.close()
    }
  })

  it('live - the server rolled back under a follower is caught by its check and signed as an incident; nothing of it is applied', async () => {
    const t = await threeMembers()
    const url = await freshDb('live-rollback')
    const { alice, bob } = t
    const round = async (admin = false) => {
      const s = await CouchSync.open(alice, { url, credentials: admin ? ADMIN : WRITER, admin })
      try {
        return await s.syncOnce()
      } finally {
        await s.close()
      }
    }
    await round(true)
    const sync = await CouchSync.open(bob, { url, credentials: WRITER })
    const follower = CouchFollower.follow(bob, sync, { checkEveryMs: 200 })
    try {
      await until('bob follows', async () => follower.live.phase === 'following')
      await couch.stop()
      const older = join(await tempDir(), 'older')
      await cp(serverDir, older, { recursive: true })
      await couch.start()
      for (let i = 0; i < 3; i++) await alice.append('audit.note', { text: `later ${i}` })
      await round()
      await until('bob has them', async () => bob.heads()[alice.device]?.length === alice.heads()[alice.device]!.length)
      const before = stateHash(bob.state)
      const feed = bob.heads()[alice.device]
      await couch.stop()
      await rm(serverDir, { recursive: true })
      await cp(older, serverDir, { recursive: true })
      await couch.start()
      const incidents = async () =>
        (await createHandlers(bob)['log.list']({ type: 'sync.incident', payloads: true })).entries
      await until('the rollback is signed', async () => (await incidents()).length === 1, 30_000)
      expect(stateHash(bob.state)).toBe(before)
      expect(bob.heads()[alice.device]).toEqual(feed)
      expect(bob.health.state).toBe('ok')
      expect((await sync.status()).lastRollback?.message).toMatch(/rolled back or replaced/)
    } finally {
      await follower.stop()
      await sync.close()
      for (const v of t.all) await v.close()
    }
  }, 120_000)
})
