import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Vault, ensureDeviceKey } from '../core/vault.js'
import { decodeEvent } from '../core/envelope.js'
import { stateHash } from '../core/governance/state.js'
import { makeCheckpoint } from '../core/proofs/prover.js'
import { GIT_STATE_FILE, joinFromGit, syncGit } from '../sync/git-mirror.js'
import { checkIncident } from '../core/incident.js'
import { createHandlers } from '../core/api.js'
import { createHash } from 'node:crypto'
import { GIT_TOKEN, startGitServer, type GitServer } from './support/git.js'
import { cleanupDirs, FAST_KDF, PASS, tempDir } from './helpers.js'

let server: GitServer
beforeAll(async () => {
  server = await startGitServer(join(await tempDir('tresor-git-'), 'repos'))
})
afterAll(async () => {
  await server?.stop()
  await cleanupDirs()
})

const git = (...args: string[]) =>
  execFileSync('git', args, {
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@t',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@t'
    }
  }).trim()

async function twoDevices(repo: string) {
  const root = await tempDir()
  const bare = server.createRepo(`${repo}.git`)
  const url = server.url(`${repo}.git`)
  const bobKey = await ensureDeviceKey(join(root, 'b'), 'bob', PASS, FAST_KDF)
  const a = await Vault.create({
    dir: join(root, 'a'),
    vaultName: 'Mirror',
    passphrase: PASS,
    memberName: 'alice',
    roles: ['operator'],
    kdf: FAST_KDF,
    members: [{ name: 'bob', roles: ['chain'], keys: [bobKey.publicKey] }]
  })
  const join_ = async () =>
    (
      await joinFromGit({
        dir: join(root, 'b'),
        url,
        token: GIT_TOKEN,
        passphrase: PASS,
        adopt: (raw) => Vault.adopt({ dir: join(root, 'b'), genesis: decodeEvent(raw, a.vaultId), passphrase: PASS })
      })
    ).vault
  return { root, bare, url, a, join: join_ }
}

async function filesOf(bare: string): Promise<Map<string, string>> {
  const work = await tempDir()
  git('clone', '--quiet', bare, work)
  const out = new Map<string, string>()
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(join(work, rel), { withFileTypes: true })) {
      if (e.name === '.git') continue
      if (e.isDirectory()) await walk(join(rel, e.name))
      else out.set(join(rel, e.name), await readFile(join(work, rel, e.name), 'utf8'))
    }
  }
  await walk('')
  return out
}

describe('git mirror', () => {
  it('git - push from one device, bootstrap a second with join, new events on both, sync: same state', async () => {
    const { a, url, join: joinB } = await twoDevices('shared')
    try {
      for (let i = 0; i < 5; i++) await a.append('audit.note', { text: `a${i}` })
      await makeCheckpoint(a)
      const first = await syncGit(a, { url, token: GIT_TOKEN })
      expect(first).toMatchObject({ pushed: true, written: 7, anchored: 1, problems: [] })
      const b = await joinB()
      expect(b.member?.name).toBe('bob')
      expect(Object.values(b.heads()).reduce((n, h) => n + h.length, 0)).toBe(7)
      await b.append('audit.note', { text: 'from bob' })
      await a.append('audit.note', { text: 'alice again' })
      expect((await syncGit(b, { url, token: GIT_TOKEN })).pushed).toBe(true)
      expect((await syncGit(a, { url, token: GIT_TOKEN })).admitted).toBe(1)
      expect((await syncGit(b, { url, token: GIT_TOKEN })).admitted).toBe(1)
      expect(b.heads()).toEqual(a.heads())
      expect(stateHash(b.state)).toBe(stateHash(a.state))
      expect((await b.verify({ full: true })).ok).toBe(true)
      await b.close()
    } finally {
      await a.close()
    }
  })

  it('git - a wrong token is refused by the server', async () => {
    const { a, url } = await twoDevices('token')
    try {
      await expect(syncGit(a, { url, token: 'wrong' })).rejects.toThrow(/401/)
    } finally {
      await a.close()
    }
  })

  it('git - a force-push of an older history is reported as a rollback and nothing is pushed over it', async () => {
    const { a, bare, url } = await twoDevices('forced')
    try {
      await syncGit(a, { url, token: GIT_TOKEN })
      const old = git('-C', bare, 'rev-parse', 'main')
      await a.append('audit.note', { text: 'later' })
      await makeCheckpoint(a)
      await syncGit(a, { url, token: GIT_TOKEN })
      git('-C', bare, 'update-ref', 'refs/heads/main', old)
      await expect(syncGit(a, { url, token: GIT_TOKEN })).rejects.toThrow(/force-pushed or replaced: rollback/)
      expect(git('-C', bare, 'rev-parse', 'main')).toBe(old)
      const state = JSON.parse(await readFile(join(a.dir, GIT_STATE_FILE), 'utf8'))
      expect(state.lastRollback.message).toMatch(/rollback/)
      expect(a.health.state).toBe('ok')
    } finally {
      await a.close()
    }
  })

  it('git - a tampered event file is quarantined on pull; a rewritten anchor is reported', async () => {
    const { a, bare, url, join: joinB } = await twoDevices('tamper')
    try {
      for (let i = 0; i < 3; i++) await a.append('audit.note', { text: `n${i}` })
      await makeCheckpoint(a)
      await syncGit(a, { url, token: GIT_TOKEN })
      const b = await joinB()
      // someone with write access to the repository edits a note and an anchor
      const work = await tempDir()
      git('clone', '--quiet', bare, work)
      const file = join(work, 'feeds', a.device, '000000000003.json')
      await writeFile(file, (await readFile(file, 'utf8')).replace('"n1"', '"N1"'))
      git('-C', work, 'commit', '--quiet', '-am', 'edit')
      git('-C', work, 'push', '--quiet', 'origin', 'main')
      const round = await syncGit(b, { url, token: GIT_TOKEN })
      expect(round.quarantined).toBe(1)
      expect(round.problems).toContainEqual(
        expect.stringMatching(/000000000003: signature of audit.note #3 does not verify/)
      )
      // The edit itself is reported too (the mirror is append-only), and signed for everyone to see.
      expect(round.problems).toContainEqual(
        expect.stringMatching(new RegExp(`changes feeds/${a.device}/000000000003.json`))
      )
      expect(round.incidents).toHaveLength(1)
      expect(b.health.state).toBe('ok')
      git('-C', work, 'pull', '--quiet', '--ff-only') // b pushed its incident
      const anchor = join(work, 'anchors', '000001.yaml')
      await writeFile(anchor, (await readFile(anchor, 'utf8')).replace('anchor: 1', 'anchor: 1 # edited'))
      git('-C', work, 'commit', '--quiet', '-am', 'edit anchor')
      git('-C', work, 'push', '--quiet', 'origin', 'main')
      await expect(syncGit(b, { url, token: GIT_TOKEN })).rejects.toThrow(/anchor anchors\/000001.yaml was rewritten/)
      await b.close()
    } finally {
      await a.close()
    }
  })

  it('git - a fast-forward commit that deletes event files is reported and signed as a sync.incident; the files are written back', async () => {
    const { a, bare, url, join: joinB } = await twoDevices('ffdelete')
    try {
      for (let i = 0; i < 3; i++) await a.append('audit.note', { text: `n${i}` })
      await syncGit(a, { url, token: GIT_TOKEN })
      const b = await joinB()
      const gone = join('feeds', a.device, '000000000003.json')
      const work = await tempDir()
      git('clone', '--quiet', bare, work)
      const removedId = createHash('sha256')
        .update((await readFile(join(work, gone), 'utf8')).trimEnd())
        .digest('hex')
      git('-C', work, 'rm', '--quiet', gone, join('feeds', a.device, '000000000004.json'))
      git('-C', work, 'commit', '--quiet', '-m', 'tidy up')
      git('-C', work, 'push', '--quiet', 'origin', 'main')
      const round = await syncGit(b, { url, token: GIT_TOKEN })
      expect(round.problems).toContainEqual(
        expect.stringMatching(
          new RegExp(`commit [0-9a-f]{12} removes feeds/${a.device}/000000000003.json \\(the mirror is append-only\\)`)
        )
      )
      expect(round.incidents).toHaveLength(1)
      const incident = (await b.store.get(b.device, b.heads()[b.device]!.length))!
      const payload = checkIncident(decodeEvent(incident.raw, b.vaultId).event.payload)
      expect(payload).toMatchObject({ witness: 'git', kind: 'rewrite', server: url })
      expect(payload.marks).toContainEqual({ author: a.device, seq: 3, id: removedId })
      // b still holds both events, so it wrote them back; a sees the incident on its next round
      expect((await filesOf(bare)).has(gone)).toBe(true)
      const next = await syncGit(a, { url, token: GIT_TOKEN })
      expect(next.admitted).toBeGreaterThanOrEqual(1)
      // a learns of b's incident, and (having seen the same commit on its own round) signs its own
      const seen = (await createHandlers(a)['log.list']({ type: 'sync.incident', payloads: true })).entries
      expect(seen.map((e) => e.author).sort()).toEqual([a.device, b.device].sort())
      // reported once: the next round starts after that commit
      expect((await syncGit(b, { url, token: GIT_TOKEN })).incidents).toHaveLength(0)
      await b.close()
    } finally {
      await a.close()
    }
  })

  it('git - a device restored from an older backup is caught by the anchors (rolled back)', async () => {
    const { cp } = await import('node:fs/promises')
    const { a, url } = await twoDevices('restored')
    const backup = await tempDir()
    await syncGit(a, { url, token: GIT_TOKEN })
    await a.close()
    await cp(a.dir, backup, { recursive: true })
    const again = await Vault.open({ dir: a.dir })
    await again.unlock(PASS)
    for (let i = 0; i < 3; i++) await again.append('audit.note', { text: `after the backup ${i}` })
    await makeCheckpoint(again)
    await syncGit(again, { url, token: GIT_TOKEN })
    await again.close()
    const restored = await Vault.open({ dir: backup })
    expect(restored.health.state).toBe('ok') // on its own, the old copy looks fine
    await expect(syncGit(restored, { url, token: GIT_TOKEN })).rejects.toThrow(/this device was rolled back/)
    await restored.close()
  })

  it('git - nothing private and no secret reaches the repository', async () => {
    const { a, bare, url } = await twoDevices('private')
    try {
      await a.append('audit.note', {
        text: 'payroll run',
        private: { salary: 'EUR 123456', iban: 'DE89370400440532013000' }
      })
      await syncGit(a, { url, token: GIT_TOKEN })
      const files = await filesOf(bare)
      const all = [...files.values()].join('\n')
      const deviceKey = await readFile(join(a.dir, 'device.key'), 'utf8')
      for (const secret of ['123456', 'DE89370400440532013000', PASS, GIT_TOKEN, JSON.parse(deviceKey).box])
        expect(all).not.toContain(secret)
      const stub = JSON.parse(files.get(join('feeds', a.device, '000000000002.json'))!)
      expect(stub).toMatchObject({
        format: 'tresor-redacted-event',
        seq: 2,
        private: expect.stringMatching(/^sha256:[0-9a-f]{64}$/)
      })
      expect(await readFile(join(a.dir, GIT_STATE_FILE), 'utf8')).not.toContain(GIT_TOKEN)
    } finally {
      await a.close()
    }
  })
})

describe('git mirror cli', () => {
  it('cli - sync git keeps the token sealed; join --git sets up a second device from the mirror', async () => {
    const { spawnSync } = await import('node:child_process')
    const { fileURLToPath } = await import('node:url')
    const BIN = fileURLToPath(new URL('../edge/bin/tresor.mjs', import.meta.url))
    const tresor = (args: string[], env: Record<string, string> = {}) => {
      const r = spawnSync(process.execPath, [BIN, ...args], {
        env: { ...process.env, TRESOR_PASSPHRASE: PASS, ...env },
        encoding: 'utf8',
        timeout: 60_000
      })
      return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout) }
    }
    const root = await tempDir()
    server.createRepo('cli.git')
    const url = server.url('cli.git')
    const bob = tresor(['keygen', '--dir', join(root, 'b'), '--name', 'bob']).stdout.trim()
    tresor([
      'init',
      '--dir',
      join(root, 'a'),
      '--vault',
      'CLI',
      '--name',
      'alice',
      '--roles',
      'operator',
      '--member',
      `bob:chain:${bob}`
    ])
    tresor(['note', '--dir', join(root, 'a'), '--text', 'hello mirror'])
    const pushed = tresor(['sync', 'git', '--dir', join(root, 'a'), '--url', url, '--json'], {
      TRESOR_GIT_TOKEN: GIT_TOKEN
    })
    expect(pushed.code, pushed.stderr).toBe(0)
    expect(pushed.json()).toMatchObject({ written: 2, pushed: true })
    expect(await readFile(join(root, 'a', 'git-credentials.json'), 'utf8')).not.toContain(GIT_TOKEN)
    expect(tresor(['sync', 'git', '--dir', join(root, 'a'), '--json']).json()).toMatchObject({
      written: 0,
      pushed: false
    })
    const joined = tresor(['join', '--git', url, '--dir', join(root, 'b'), '--json'], { TRESOR_GIT_TOKEN: GIT_TOKEN })
    expect(joined.code, joined.stderr).toBe(0)
    expect(joined.json()).toMatchObject({ member: 'bob', round: { admitted: 1 } })
    expect(
      tresor(['log', '--dir', join(root, 'b'), '--json'])
        .json()
        .entries.map((e: { type: string }) => e.type)
    ).toEqual(['vault.genesis', 'audit.note'])
  })
})
