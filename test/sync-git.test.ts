import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { execFileSync } from 'node:child_process'
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { INGEST_SLICE, Vault, ensureDeviceKey } from '../core/vault.js'
import { decodeEvent } from '../core/envelope.js'
import { stateHash } from '../core/governance/state.js'
import { makeCheckpoint } from '../core/proofs/prover.js'
import { GIT_STATE_FILE, joinFromGit, syncGit } from '../sync/git-mirror.js'
import { checkIncident } from '../core/incident.js'
import { openKeyFile, readKeyFile } from '../core/keys.js'
import { eventDocId, LogStore } from '../core/store.js'
import { fillWithNotes } from './support/big-vault.js'
import { forge } from './support/members.js'
import { openNote, noteKeyId } from '../core/signed-note.js'
import { rootOf } from '../core/proofs/merkle.js'
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

  it('git - a device joining from a mirror of 2,500 events takes them in writes of at most 1,000 (one write of n costs PouchDB n²)', async () => {
    const { root, url, a: created, join: joinB } = await twoDevices('many')
    const key = await openKeyFile(await readKeyFile(join(root, 'a', 'device.key')), PASS)
    await fillWithNotes(created, key.keyPair.secretKey, 2500)
    await created.close()
    const a = await Vault.open({ dir: join(root, 'a') })
    await a.unlock(PASS)
    const writes: number[] = []
    const putMany = LogStore.prototype.putMany
    const spy = vi.spyOn(LogStore.prototype, 'putMany').mockImplementation(function (this: LogStore, events, o) {
      writes.push(events.length)
      return putMany.call(this, events, o)
    })
    try {
      expect((await syncGit(a, { url, token: GIT_TOKEN })).pushed).toBe(true)
      writes.length = 0
      const b = await joinB()
      try {
        expect(b.heads()).toEqual(a.heads())
        // every event b holds written once (the genesis by adoption, the notes from the mirror)
        expect(writes.reduce((n, k) => n + k, 0)).toBe(Object.values(a.heads()).reduce((n, h) => n + h.length, 0))
        expect(Math.max(...writes)).toBeLessThanOrEqual(INGEST_SLICE)
      } finally {
        await b.close()
      }
    } finally {
      spy.mockRestore()
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

  it('git - a forged event in a bundle whose tiles were worked out to match is quarantined on pull; the next round lays the true feed out again; a rewritten anchor is reported', async () => {
    const { a, bare, url, join: joinB } = await twoDevices('tamper')
    try {
      for (let i = 0; i < 3; i++) await a.append('audit.note', { text: `n${i}` })
      await makeCheckpoint(a)
      await syncGit(a, { url, token: GIT_TOKEN })
      const b = await joinB()
      const size = a.heads()[a.device]!.length
      // someone with write access adds a sixth "event" of a's feed: an edited copy of the third, with a new partial
      // bundle, entry bundle and level-0 tile that agree with it (the old partial ones replaced, as a log would)
      const work = await tempDir()
      git('clone', '--quiet', bare, work)
      const log = join(work, 'logs', a.device)
      const lines = (await readFile(join(log, 'events', `000.p/${size}`), 'utf8')).split('\n').slice(0, -1)
      const forged = lines[2]!.replace('"n1"', '"N1"')
      const id = createHash('sha256').update(forged).digest()
      const leaf = createHash('sha256')
        .update(Buffer.concat([Buffer.of(0), id]))
        .digest()
      const grow = async (rel: string, add: Buffer) => {
        const old = await readFile(join(log, rel, `000.p/${size}`))
        await mkdir(join(log, rel, '000.p'), { recursive: true })
        await writeFile(join(log, rel, `000.p/${size + 1}`), Buffer.concat([old, add]))
        git('-C', work, 'rm', '--quiet', join(log, rel, `000.p/${size}`))
      }
      await grow('events', Buffer.from(`${forged}\n`))
      await grow('tile/entries', Buffer.concat([Buffer.of(0, 32), id]))
      await grow('tile/0', leaf)
      git('-C', work, 'add', '-A')
      git('-C', work, 'commit', '--quiet', '-m', 'one more')
      git('-C', work, 'push', '--quiet', 'origin', 'main')
      const round = await syncGit(b, { url, token: GIT_TOKEN })
      expect(round.quarantined).toBe(1)
      expect(round.problems).toContainEqual(expect.stringMatching(/signature of audit.note #3 does not verify/))
      expect(round.incidents).toHaveLength(0) // nothing was taken away or changed: a bad entry, judged by the gate
      expect(b.heads()[a.device]!.length).toBe(size)
      expect(b.health.state).toBe('ok')
      // a's next round lays its own feed out again over the forged partial bundle
      await a.append('audit.note', { text: 'after' })
      await syncGit(a, { url, token: GIT_TOKEN })
      git('-C', work, 'pull', '--quiet', '--ff-only')
      const now = (await readFile(join(log, 'events', `000.p/${size + 1}`), 'utf8')).split('\n')
      expect(now[size]).not.toContain('"N1"')
      expect((await syncGit(b, { url, token: GIT_TOKEN })).admitted).toBe(1)
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

  it('git - a removed full tile and a changed full tile are reported and signed as a sync.incident, nothing is taken in from that round, the files are written back; a truncated partial tile stops a joining device from taking the feed', async () => {
    const { a, bare, url, join: joinB, root } = await twoDevices('tiles')
    try {
      await Promise.all(Array.from({ length: 300 }, (_, i) => a.append('audit.note', { text: `n${i}` })))
      await syncGit(a, { url, token: GIT_TOKEN })
      const b = await joinB()
      const log = (w: string) => join(w, 'logs', a.device)
      const work = await tempDir()
      git('clone', '--quiet', bare, work)
      const full = await readFile(join(log(work), 'tile', '0', '000'))
      expect(full.length).toBe(8192)
      git('-C', work, 'rm', '--quiet', join(log(work), 'tile', '0', '000'), join(log(work), 'events', '000'))
      git('-C', work, 'commit', '--quiet', '-m', 'tidy up')
      git('-C', work, 'push', '--quiet', 'origin', 'main')
      await a.append('audit.note', { text: 'not taken in this round' })
      await syncGit(a, { url, token: GIT_TOKEN }) // a was there first: it reports the removal and writes them back
      const round = await syncGit(b, { url, token: GIT_TOKEN })
      expect(round.problems).toContainEqual(
        expect.stringMatching(
          new RegExp(`commit [0-9a-f]{12} removes logs/${a.device}/tile/0/000 \\(the mirror is append-only\\)`)
        )
      )
      expect(round.incidents).toHaveLength(1)
      expect(round.admitted).toBe(0)
      const incident = (await b.store.get(b.device, b.heads()[b.device]!.length))!
      expect(checkIncident(decodeEvent(incident.raw, b.vaultId).event.payload)).toMatchObject({
        witness: 'git',
        kind: 'rewrite',
        server: url
      })
      const files = await filesOf(bare)
      expect(files.has(join('logs', a.device, 'tile', '0', '000'))).toBe(true)
      // reported once: the next round starts after that commit, and takes in what waited (a's note and incident)
      const next = await syncGit(b, { url, token: GIT_TOKEN })
      expect([next.incidents.length, next.admitted]).toEqual([0, 2])
      // a partial tile cut short: a device joining from the mirror takes nothing of that feed
      git('-C', work, 'pull', '--quiet', '--ff-only')
      const partials = await readdir(join(log(work), 'tile', '0', '001.p'))
      const partial = join(log(work), 'tile', '0', '001.p', partials[0]!)
      await writeFile(partial, (await readFile(partial)).subarray(0, 64))
      git('-C', work, 'commit', '--quiet', '-am', 'cut')
      git('-C', work, 'push', '--quiet', 'origin', 'main')
      const c = await Vault.adopt({
        dir: join(root, 'c'),
        genesis: decodeEvent((await a.store.get(a.device, 1))!.raw, a.vaultId),
        passphrase: PASS
      })
      const joined = await syncGit(c, { url, token: GIT_TOKEN })
      expect(joined.problems).toContainEqual(expect.stringMatching(/truncated or padded/))
      expect(c.heads()[a.device]!.length).toBeLessThan(256)
      await c.close()
      // a full tile changed in place
      git('-C', work, 'pull', '--quiet', '--ff-only')
      const tile = join(log(work), 'tile', '0', '000')
      const bytes = await readFile(tile)
      bytes[100] = bytes[100]! ^ 1
      await writeFile(tile, bytes)
      git('-C', work, 'commit', '--quiet', '-am', 'flip')
      git('-C', work, 'push', '--quiet', 'origin', 'main')
      const flipped = await syncGit(b, { url, token: GIT_TOKEN })
      expect(flipped.problems).toContainEqual(expect.stringMatching(new RegExp(`changes logs/${a.device}/tile/0/000`)))
      expect(flipped.incidents).toHaveLength(1)
      await b.close()
    } finally {
      await a.close()
    }
  })

  it("git - a tlog-tiles client reads the mirror: the feed's checkpoint verifies under its device's key, the level-0 tiles of its size give its root, each level-1 hash is its level-0 tile's root, the entry bundles hash to the leaves", async () => {
    const { a, bare, url } = await twoDevices('client')
    try {
      await Promise.all(Array.from({ length: 600 }, (_, i) => a.append('audit.note', { text: `n${i}` })))
      const cp = await makeCheckpoint(a)
      await a.append('audit.note', { text: 'after the checkpoint' })
      await syncGit(a, { url, token: GIT_TOKEN })
      const work = await tempDir()
      git('clone', '--quiet', bare, work)
      const prefix = join(work, 'logs', a.device)
      const origin = `tresor.vault/${a.vaultId}/${a.device}`
      const key = Buffer.from(a.device, 'hex')
      const note = await readFile(join(prefix, 'checkpoint'), 'utf8')
      expect(note).toBe(cp.payload.checkpoint)
      const opened = openNote(note, [{ name: origin, id: noteKeyId(origin, key), publicKey: key }])
      const [, sizeLine, rootLine] = opened.text.split('\n')
      const size = Number(sizeLine)
      const tile = async (rel: string) => readFile(join(prefix, rel))
      const path = (n: number) => String(n).padStart(3, '0')
      const leaves: Buffer[] = []
      for (let n = 0; n * 256 < size; n++) {
        const width = Math.min(256, size - n * 256)
        const rel = (kind: string) => `${kind}/${path(n)}${width < 256 ? `.p/${width}` : ''}`
        const t0 = await tile(rel('tile/0'))
        const entries = await tile(rel('tile/entries'))
        for (let i = 0; i < width; i++) {
          const leaf = t0.subarray(i * 32, i * 32 + 32)
          expect(entries.readUInt16BE(i * 34)).toBe(32)
          const entry = entries.subarray(i * 34 + 2, i * 34 + 34)
          expect(
            createHash('sha256')
              .update(Buffer.concat([Buffer.of(0), entry]))
              .digest()
          ).toEqual(leaf)
          leaves.push(leaf)
        }
        if (width === 256) {
          const l1 = await tile(`tile/1/000.p/${Math.floor(size / 256)}`)
          expect(Buffer.from(rootOf(leaves.slice(n * 256, n * 256 + 256)))).toEqual(l1.subarray(n * 32, n * 32 + 32))
        }
      }
      expect(Buffer.from(rootOf(leaves)).toString('base64')).toBe(rootLine)
    } finally {
      await a.close()
    }
  })

  it("git - a member's key that signs a checkpoint which does not hold together stops no round: it is neither anchored nor published", async () => {
    const { a, url, root } = await twoDevices('badcheckpoint')
    try {
      const bobKey = await openKeyFile(await readKeyFile(join(root, 'b', 'device.key')), PASS)
      const bad = forge(a, bobKey, 'proof.checkpoint', { checkpoint: 'not a note', feeds: [], root: 'x' })
      expect((await a.ingest([{ docId: eventDocId(bobKey.publicKey, 1), raw: bad.raw }]))[0]!.decision).toBe('ADMIT')
      const round = await syncGit(a, { url, token: GIT_TOKEN })
      expect(round).toMatchObject({ anchored: 0, pushed: true, problems: [] })
      expect((await syncGit(a, { url, token: GIT_TOKEN })).problems).toEqual([])
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
      const bundle = [...files.entries()].find(([path]) => path.startsWith(join('logs', a.device, 'events')))![1]
      const stub = JSON.parse(bundle.split('\n')[1]!)
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
