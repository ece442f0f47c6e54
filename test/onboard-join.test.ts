import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { openHost } from '../core/host.js'
import { CouchSync } from '../sync/couch-sync.js'
import { syncGit } from '../sync/git-mirror.js'
import { JOINERS } from '../sync/join.js'
import { loadCredentials } from '../sync/credentials.js'
import { ADMIN, WRITER, startCouch, type Couch } from './support/couch.js'
import { GIT_TOKEN, startGitServer, type GitServer } from './support/git.js'
import { cleanupDirs, codeOf, makeVault, PASS, tempDir } from './helpers.js'

let couch: Couch
let git: GitServer

beforeAll(async () => {
  const root = await tempDir('tresor-join-')
  couch = await startCouch(join(root, 'couch'))
  git = await startGitServer(join(root, 'repos'))
})

afterAll(async () => {
  await couch?.stop()
  await git?.stop()
  await cleanupDirs()
})

describe('onboarding from a server', () => {
  it('onboard - a new device joins from CouchDB: the genesis is found, everything passes the gate, credentials are kept sealed', async () => {
    const alice = await makeVault({ notes: 5 })
    await couch.request('PUT', '/joinable', undefined, ADMIN)
    const url = `${couch.root}/joinable`
    const sync = await CouchSync.open(alice, { url, credentials: ADMIN, admin: true })
    await sync.syncOnce()
    await sync.close()
    const dir = join(await tempDir(), 'device')
    const host = openHost({ dir, joiners: JOINERS })
    expect(
      await codeOf(
        host.handlers['onboard.joinCouch']({
          url: `${couch.root}/nope`,
          user: WRITER.username,
          password: WRITER.password,
          passphrase: PASS
        })
      )
    ).not.toBe('NO_ERROR')
    const status = await host.handlers['onboard.joinCouch']({
      url,
      user: ADMIN.username,
      password: ADMIN.password,
      passphrase: PASS
    })
    expect(status).toMatchObject({ hasVault: true })
    expect(await host.handlers['vault.status']({})).toMatchObject({
      vaultId: alice.vaultId,
      events: 6,
      health: { state: 'ok' }
    })
    expect((await loadCredentials(dir, url, PASS))?.username).toBe(ADMIN.username)
    await host.close()
    await alice.close()
  })

  it('onboard - a new device joins from a Git mirror; a host without joiners says it cannot', async () => {
    const alice = await makeVault({ notes: 3 })
    git.createRepo('join.git')
    const url = git.url('join.git')
    await syncGit(alice, { url, token: GIT_TOKEN })
    const dir = join(await tempDir(), 'device')
    expect(
      await codeOf(
        openHost({ dir: join(dir, 'x') }).handlers['onboard.joinGit']({ url, token: GIT_TOKEN, passphrase: PASS })
      )
    ).toBe('UNKNOWN_METHOD')
    const host = openHost({ dir, joiners: JOINERS })
    expect(await codeOf(host.handlers['onboard.joinGit']({ url, token: 'wrong-token', passphrase: PASS }))).not.toBe(
      'NO_ERROR'
    )
    const joined = openHost({ dir: join(dir, 'ok'), joiners: JOINERS })
    await joined.handlers['onboard.joinGit']({ url, token: GIT_TOKEN, passphrase: PASS })
    expect(await joined.handlers['vault.status']({})).toMatchObject({
      vaultId: alice.vaultId,
      events: 4,
      health: { state: 'ok' }
    })
    await joined.close()
    await host.close()
    await alice.close()
  })
})
