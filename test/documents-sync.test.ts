/**
 * Documents between devices (issue 17): a ZIP migrated on one device and approved on a second, synced through a
 * real CouchDB-protocol server (the blobs as attachments, re-checked on arrival), and a third device joined from a
 * real Git mirror (the blobs as files under their digest, the private one never there). A blob altered on the server
 * or in the mirror is quarantined on pull with its reason and never kept; the device that holds the true bytes writes
 * the mirror's copy back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Vault, ensureDeviceKey } from '../core/vault.js'
import { decodeEvent } from '../core/envelope.js'
import { createHandlers } from '../core/api.js'
import { CouchSync } from '../sync/couch-sync.js'
import { joinFromCouch } from '../sync/join.js'
import { joinFromGit, syncGit } from '../sync/git-mirror.js'
import { blobDocId } from '../sync/couch-blobs.js'
import { ADMIN, WRITER, removeDesignDoc, startCouch, type Couch } from './support/couch.js'
import { GIT_TOKEN, startGitServer, type GitServer } from './support/git.js'
import { makeZip } from './support/zip.js'
import { cleanupDirs, codeOf, FAST_KDF, PASS, tempDir } from './helpers.js'

const seed = (name: string) => readFileSync(new URL(`./fixtures/seeds/${name}`, import.meta.url), 'utf8')
const BUILD = seed('000_a0a1b1f66601fb37.txt')
const ROADMAP = seed('001_8445ea942ba845ef.txt')
const PLATFORM = seed('002_361132f9cd35ea5f.txt')
const ROADMAP_ID = 'OS4-MIG-TRESOR-V2-0038'
const SECRET = '---\nid: SALARIES\nversion: "1"\nlifecycle: ACTIVE\nclassification: PRIVATE\n---\nalice 1\n'

let couch: Couch
let gitServer: GitServer
beforeAll(async () => {
  couch = await startCouch(await tempDir('tresor-couch-'))
  gitServer = await startGitServer(join(await tempDir('tresor-git-'), 'repos'))
})
afterAll(async () => {
  await couch?.stop()
  await gitServer?.stop()
  await cleanupDirs()
})

const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@t',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@t'
    }
  }).trim()

async function filesIn(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(join(dir, rel), { withFileTypes: true })) {
    if (e.name === '.git') continue
    if (e.isDirectory()) out.push(...(await filesIn(dir, join(rel, e.name))))
    else out.push(join(rel, e.name))
  }
  return out
}

const round = async (v: Vault, admin = false) => {
  const s = await CouchSync.open(v, { url: couch.dbUrl, credentials: admin ? ADMIN : WRITER, admin })
  try {
    return await s.syncOnce()
  } finally {
    await s.close()
  }
}

describe('documents through CouchDB and the Git mirror', () => {
  let root: string
  let alice: Vault, bob: Vault, carol: Vault
  let bare: string, url: string
  const digestOf = (v: Vault, path: string) =>
    createHandlers(v)
      ['documents.index']({})
      .then((x) => x.index.find((r) => r.path === path)!.digest)

  it('documents - migrated on one device and approved on a second through CouchDB: every blob travels and is re-checked, the reviewer reads the bytes before approving; a third device joined from the Git mirror holds the same register and MIG_INDEX, and every blob but the private one, which is not on the mirror', async () => {
    root = await tempDir()
    const bobKey = await ensureDeviceKey(join(root, 'bob'), 'bob', PASS, FAST_KDF)
    const carolKey = await ensureDeviceKey(join(root, 'carol'), 'carol', PASS, FAST_KDF)
    alice = await Vault.create({
      dir: join(root, 'alice'),
      vaultName: 'Docs',
      passphrase: PASS,
      memberName: 'alice',
      roles: ['operator'],
      kdf: FAST_KDF,
      members: [
        { name: 'bob', roles: ['operator'], keys: [bobKey.publicKey] },
        { name: 'carol', roles: ['auditor'], keys: [carolKey.publicKey] }
      ]
    })
    const zip = makeZip([
      { name: 'docs/build-plan.md', data: BUILD, deflate: true },
      { name: 'docs/roadmap.md', data: ROADMAP, deflate: true },
      { name: 'docs/platform-plan.md', data: PLATFORM },
      { name: 'archive/2025/build-plan-old.md', data: BUILD.replace('2026-01-02-V1.0.0', '2025-11-30-V0.9.0') },
      { name: 'copies/roadmap-copy.md', data: ROADMAP },
      { name: 'notes/headerless.txt', data: 'a note without a header\n' },
      { name: 'deep/nested/folder/spec.md', data: '---\nid: DEEP_SPEC\nversion: "1"\nlifecycle: ACTIVE\n---\n' },
      { name: 'hr/salaries.md', data: SECRET }
    ]).toString('base64')
    const r = await createHandlers(alice)['documents.migrate']({ name: 'old.zip', zip, reason: 'bring it in' })
    expect(r.plan.counts).toEqual({ MIG_A: 4, MIG_B: 2, MIG_C: 2, refused: 0 })
    const first = await round(alice, true)
    expect(first.blobs).toMatchObject({ pushed: 7, quarantined: 0 }) // 8 files, one duplicate's bytes
    bob = await joinFromCouch({
      dir: join(root, 'bob'),
      url: couch.dbUrl,
      user: WRITER.username,
      password: WRITER.password,
      passphrase: PASS
    })
    const hb = createHandlers(bob)
    // the reviewer holds every file's bytes before anything is approved, each checked against its digest
    const files = (await hb['documents.proposalPlan']({ proposal: r.proposal!.id })).files
    const roadmap = await hb['documents.get']({ digest: files.find((f) => f.path === 'docs/roadmap.md')!.digest })
    expect(roadmap.text).toBe(ROADMAP)
    await hb['gov.approve']({ proposal: r.proposal!.id })
    await hb['gov.commit']({ proposal: r.proposal!.id })
    await round(bob)
    await round(alice, true)
    bare = gitServer.createRepo('docs.git')
    url = gitServer.url('docs.git')
    const pushed = await syncGit(alice, { url, token: GIT_TOKEN })
    expect(pushed.blobs.written).toBe(6) // the private one stays home
    const mirror = await tempDir()
    git(mirror, 'clone', '--quiet', bare, '.')
    const onMirror = (await filesIn(mirror)).filter((f) => f.startsWith('blobs/'))
    const secret = await digestOf(alice, 'hr/salaries.md')
    expect(onMirror).toHaveLength(6)
    expect(onMirror.some((f) => f.endsWith(secret))).toBe(false)
    for (const f of onMirror) expect(f).toMatch(/^blobs\/sha256\/([0-9a-f]{2})\/\1[0-9a-f]{62}$/)
    carol = (
      await joinFromGit({
        dir: join(root, 'carol'),
        url,
        token: GIT_TOKEN,
        passphrase: PASS,
        adopt: (raw) =>
          Vault.adopt({ dir: join(root, 'carol'), genesis: decodeEvent(raw, alice.vaultId), passphrase: PASS })
      })
    ).vault
    const views = await Promise.all([alice, bob, carol].map((v) => createHandlers(v)['documents.index']({})))
    expect(views[0]!.index).toHaveLength(8)
    expect(views[0]!.documents.find((d) => d.id === 'SALARIES')!.private).toBe('classified PRIVATE')
    expect(views[1]).toEqual(views[0])
    expect(views[2]).toEqual(views[0])
    const hc = createHandlers(carol)
    expect(await codeOf(hc['documents.get']({ digest: secret }))).toBe('NOT_FOUND')
    expect((await hb['documents.get']({ digest: secret })).text).toBe(SECRET) // CouchDB carries it
    for (const row of views[0]!.index.filter((x) => x.path !== 'hr/salaries.md'))
      expect((await hc['documents.get']({ digest: row.digest })).size).toBe(row.size)
  })

  /** alice proposes a new version of the roadmap (its NOTES line `note`) and sends its blob to the server. */
  async function proposeRoadmap(note: string, version: string): Promise<{ text: string; digest: string }> {
    const text = ROADMAP.replace('STATUS: ACTIVE', `STATUS: ACTIVE\nNOTES: ${note}`)
    const p = await createHandlers(alice)['documents.proposeVersion']({
      doc: ROADMAP_ID,
      version,
      content: Buffer.from(text).toString('base64'),
      reason: note
    })
    expect((await round(alice, true)).blobs.pushed).toBe(1)
    return { text, digest: String(p.action.args.digest) }
  }

  it('documents - a forged blob beside the true one on the server, chosen to win, is quarantined; the true one is still taken', async () => {
    const { text, digest } = await proposeRoadmap('beside a forgery', '2026-01-10')
    // the operator adds a second leaf of the blob's document, with other bytes, whose revision PouchDB shows first
    await removeDesignDoc(couch, '/vault')
    const forged = Buffer.from(text.replace('beside a forgery', 'the forgery')).toString('base64')
    const leaf = {
      _id: blobDocId(digest),
      _rev: `1-${'f'.repeat(32)}`,
      _attachments: { data: { content_type: 'application/octet-stream', data: forged } }
    }
    const put = await couch.request('POST', '/vault/_bulk_docs', { docs: [leaf], new_edits: false }, ADMIN)
    expect(put.status).toBe(201)
    const shown = await couch.request('GET', `/vault/${encodeURIComponent(blobDocId(digest))}`, undefined, ADMIN)
    expect(shown.json._rev).toBe(leaf._rev)
    const pulled = await round(bob)
    expect(pulled.blobs).toMatchObject({ pulled: 1, quarantined: 1 })
    expect((await createHandlers(bob)['documents.get']({ digest })).text).toBe(text)
    expect((await round(alice, true)).design).toBe('installed') // the write-once rule back for what follows
    // the mirror and carol up to date, for what follows
    expect((await syncGit(alice, { url, token: GIT_TOKEN })).blobs.written).toBe(1)
    expect((await syncGit(carol, { url, token: GIT_TOKEN })).blobs.pulled).toBe(1)
  })

  it('documents - a blob altered on the server is quarantined on pull with its reason and never kept; one altered in the mirror too, and the device holding the true bytes writes the mirror copy back', async () => {
    const { text, digest } = await proposeRoadmap('revised', '2026-01-15')
    // the server's operator turns hostile: the write-once rule removed, the blob's bytes replaced
    expect((await couch.request('GET', '/vault/_design/tresor', undefined, ADMIN)).status).toBe(200)
    await removeDesignDoc(couch, '/vault')
    const doc = await couch.request('GET', `/vault/${encodeURIComponent(blobDocId(digest))}`, undefined, ADMIN)
    const forged = Buffer.from(text.replace('revised', 'forged')).toString('base64')
    const put = await couch.request(
      'PUT',
      `/vault/${encodeURIComponent(blobDocId(digest))}`,
      { ...doc.json, _attachments: { data: { content_type: 'application/octet-stream', data: forged } } },
      ADMIN
    )
    expect(put.status).toBe(201)
    const pulled = await round(bob)
    expect(pulled.blobs).toMatchObject({ pulled: 0, quarantined: 1 })
    const hb = createHandlers(bob)
    expect(await codeOf(hb['documents.get']({ digest }))).toBe('NOT_FOUND')
    const [q] = (await hb['documents.quarantine']({})).entries
    expect(q).toMatchObject({ digest, code: 'TAMPERED', source: couch.dbUrl, kept: true })
    expect(q!.reason).toMatch(/not to its name/)
    expect((await round(bob)).blobs.quarantined).toBe(0) // once, not every round
    // the mirror: alice writes it, someone with push access replaces its bytes
    expect((await syncGit(alice, { url, token: GIT_TOKEN })).blobs.written).toBe(1)
    const work = await tempDir()
    git(work, 'clone', '--quiet', bare, '.')
    const file = join(work, 'blobs', 'sha256', digest.slice(0, 2), digest)
    expect(await readFile(file, 'utf8')).toBe(text)
    await writeFile(file, 'forged in the mirror\n')
    git(work, 'commit', '--quiet', '-am', 'change a blob')
    git(work, 'push', '--quiet', 'origin', 'HEAD:main')
    const c1 = await syncGit(carol, { url, token: GIT_TOKEN })
    expect(c1.blobs.pulled).toBe(0)
    expect(c1.problems.join('\n')).toMatch(new RegExp(`blob ${digest.slice(0, 16)}….*not to its name.*quarantined`))
    const hc = createHandlers(carol)
    expect(await codeOf(hc['documents.get']({ digest }))).toBe('NOT_FOUND')
    expect((await hc['documents.quarantine']({})).entries[0]).toMatchObject({ digest, code: 'TAMPERED', source: url })
    const a2 = await syncGit(alice, { url, token: GIT_TOKEN })
    expect(a2.problems).toContain(`blob ${digest.slice(0, 16)}… on the mirror did not hash to its name: written back`)
    const c2 = await syncGit(carol, { url, token: GIT_TOKEN })
    expect(c2.blobs.pulled).toBe(1)
    expect((await hc['documents.get']({ digest })).text).toBe(text)
    for (const v of [alice, bob, carol]) await v.close()
  })
})
