/**
 * The ZIP migration plan (issue 17, first part): the seed files with a legacy copy, a headerless file, a duplicate
 * and a nested folder are classed as the rules say; hostile archives are refused, whole or entry by entry, with the
 * reason, and reading one writes nothing.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { readdir, writeFile } from 'node:fs/promises'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { planMigration } from '../core/documents/migrate.js'
import { parseHeader } from '../core/documents/headers.js'
import { cleanupDirs, codeOf, tempDir } from './helpers.js'
import { makeZip, type ZipEntrySpec } from './support/zip.js'
import { threeMembers } from './support/members.js'
import { carry } from './helpers.js'
import { createHandlers } from '../core/api.js'
import { approve, commit, propose } from '../core/governance/calls.js'
import { BlobStore } from '../core/documents/blobs.js'
import { documentsIndex } from '../core/documents/register.js'
import { decodeEvent } from '../core/envelope.js'
import { foldGovernance, isGovernanceType } from '../core/governance/fold.js'
import { stateHash } from '../core/governance/state.js'
import { buildDocumentsV1Fixture } from './fixtures/documents-v1.js'

const seed = (name: string) => readFileSync(new URL(`./fixtures/seeds/${name}`, import.meta.url), 'utf8')
const BUILD = seed('000_a0a1b1f66601fb37.txt')
const ROADMAP = seed('001_8445ea942ba845ef.txt')
const PLATFORM = seed('002_361132f9cd35ea5f.txt')
const CLI = fileURLToPath(new URL('../edge/bin/tresor.mjs', import.meta.url))

async function zipOf(entries: ZipEntrySpec[]): Promise<string> {
  const file = join(await tempDir(), 'archive.zip')
  await writeFile(file, makeZip(entries))
  return file
}

describe('migration plan', () => {
  afterAll(cleanupDirs)

  it('migrate - the seed files read their headers: front matter (id, version, PLANNED, READ-ONLY), the migration header (ID, DATE, ACTIVE), none', () => {
    expect(parseHeader(BUILD)).toMatchObject({
      kind: 'front-matter',
      id: 'OS4_TRESOR_API_BUILD_PLAN_V1_2026',
      version: '2026-01-02-V1.0.0',
      lifecycle: 'PLANNED',
      mode: 'READ-ONLY'
    })
    expect(parseHeader(ROADMAP)).toMatchObject({
      kind: 'migration-header',
      id: 'OS4-MIG-TRESOR-V2-0038',
      version: '2025-12-10',
      lifecycle: 'ACTIVE'
    })
    expect(parseHeader(PLATFORM)).toBeNull()
    // names from the file are data: a field called __proto__ is a field like any other
    const odd = parseHeader('---\nid: X1\n__proto__: polluted\nconstructor: c\nlifecycle: ACTIVE\n---\n')!
    expect(Object.getPrototypeOf(odd.fields)).toBeNull()
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(parseHeader('---\nid: &a X\nother: *a\n---\n')).toBeNull() // YAML aliases are refused
  })

  it('migrate - a ZIP of the seed files with a legacy copy, a headerless file, a duplicate, a conflict and a nested folder: each classed as the rules say; the same ZIP is the same batch', async () => {
    const entries: ZipEntrySpec[] = [
      { name: 'docs/', data: '' },
      { name: 'docs/build-plan.md', data: BUILD, deflate: true },
      { name: 'docs/roadmap.md', data: ROADMAP, deflate: true },
      { name: 'docs/platform-plan.md', data: PLATFORM, deflate: true },
      { name: 'archive/2025/build-plan-old.md', data: BUILD.replace('2026-01-02-V1.0.0', '2025-11-30-V0.9.0') },
      { name: 'archive/roadmap-superseded.md', data: ROADMAP.replace('STATUS: ACTIVE', 'STATUS: SUPERSEDED') },
      { name: 'copies/roadmap-copy.md', data: ROADMAP },
      { name: 'notes/headerless.txt', data: 'a note without a header\n' },
      {
        name: 'deep/nested/folder/spec.md',
        data: '---\nid: DEEP_SPEC\nversion: "1"\nlifecycle: ACTIVE\n---\n# Deep\n'
      },
      { name: 'a/z.md', data: '---\nid: Z\nversion: "2"\nlifecycle: ACTIVE\n---\none\n' },
      { name: 'b/z.md', data: '---\nid: Z\nversion: "2"\nlifecycle: ACTIVE\n---\nanother\n' }
    ]
    const file = await zipOf(entries)
    const plan = await planMigration(file)
    const classes = Object.fromEntries(plan.files.map((f) => [f.path, f.class]))
    expect(classes).toEqual({
      'docs/build-plan.md': 'MIG_A',
      'docs/roadmap.md': 'MIG_A',
      'docs/platform-plan.md': 'MIG_B',
      'archive/2025/build-plan-old.md': 'MIG_C',
      'archive/roadmap-superseded.md': 'MIG_C',
      'copies/roadmap-copy.md': 'MIG_C',
      'notes/headerless.txt': 'MIG_B',
      'deep/nested/folder/spec.md': 'MIG_A',
      'a/z.md': 'MIG_B',
      'b/z.md': 'MIG_B'
    })
    const by = (path: string) => plan.files.find((f) => f.path === path)!
    expect(by('archive/2025/build-plan-old.md').why).toMatch(/docs\/build-plan.md holds a newer version/)
    expect(by('copies/roadmap-copy.md').why).toBe('the same bytes as docs/roadmap.md')
    expect(by('notes/headerless.txt')).toMatchObject({ doc: 'file:notes/headerless.txt', mediaType: 'text/plain' })
    expect(by('docs/build-plan.md')).toMatchObject({
      doc: 'OS4_TRESOR_API_BUILD_PLAN_V1_2026',
      mediaType: 'text/markdown'
    })
    expect(by('docs/build-plan.md').digest).toMatch(/^[0-9a-f]{64}$/)
    expect(plan.counts).toEqual({ MIG_A: 3, MIG_B: 4, MIG_C: 3, refused: 0 })
    // idempotent: the same archive is the same batch and the same plan
    const again = await planMigration(await zipOf(entries))
    expect(again.batch).toBe(plan.batch)
    expect(again.files).toEqual(plan.files)
    // the CLI prints it, and writes nothing
    const r = spawnSync(process.execPath, [CLI, 'migrate', 'plan', '--zip', file], { encoding: 'utf8' })
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/3 current, 4 to review, 3 legacy; 0 refused/)
    expect(r.stdout).toMatch(/MIG_C {2}copies\/roadmap-copy.md/)
  })

  it('migrate - hostile archives: path traversal, absolute paths, a drive letter, a backslash, symlinks, a zip bomb, a lying size, a non-UTF-8 name are each refused with the reason; 100,000 tiny entries and a corrupt central directory refuse the archive; nothing is written', async () => {
    const bomb = Buffer.alloc(12 * 1024 * 1024)
    const file = await zipOf([
      { name: 'ok.md', data: '---\nid: OK\nlifecycle: ACTIVE\n---\n' },
      { name: '../evil.md', data: 'x' },
      { name: 'a/../../evil.md', data: 'x' },
      { name: '/etc/passwd', data: 'x' },
      { name: 'C:/windows/x.md', data: 'x' },
      { name: 'a\\b.md', data: 'x' },
      { name: 'link', data: '/etc/passwd', mode: 0o120777 },
      { name: 'bomb.bin', data: bomb, deflate: true },
      { name: 'liar.md', data: 'short but deflated', deflate: true, statedSize: 50 },
      { name: Buffer.from([0x66, 0xff, 0xfe, 0x2e, 0x6d, 0x64]), data: 'x', utf8: true },
      { name: 'ok.md', data: 'a second ok.md' }
    ])
    const dir = join(file, '..')
    const before = await readdir(dir)
    const plan = await planMigration(file)
    expect(plan.files.map((f) => f.path)).toEqual(['ok.md'])
    const why = Object.fromEntries(plan.refused.map((r) => [r.name, r.reason]))
    expect(why).toMatchObject({
      '../evil.md': expect.stringMatching(/climbs out/),
      'a/../../evil.md': expect.stringMatching(/climbs out/),
      '/etc/passwd': expect.stringMatching(/absolute/),
      'C:/windows/x.md': expect.stringMatching(/absolute/),
      'a\\b.md': expect.stringMatching(/backslash/),
      link: 'it is a symlink',
      'bomb.bin': expect.stringMatching(/expands \d+ times/),
      'liar.md': expect.stringMatching(/does not read|do not match/),
      'hex:66fffe2e6d64': 'the name is not UTF-8',
      'ok.md': 'a second entry of the same name'
    })
    expect(await readdir(dir)).toEqual(before)
    // a stored entry whose sizes disagree: the archive's own directory is inconsistent, so none of it is read
    const stored = await zipOf([{ name: 'liar.md', data: 'short', statedSize: 50 }])
    expect(await codeOf(planMigration(stored))).toBe('MALFORMED')
    // too many entries: refused before any is read
    const many = await zipOf(Array.from({ length: 100_000 }, (_, i) => ({ name: `t/${i}`, data: '' })))
    expect(await codeOf(planMigration(many))).toBe('OVERSIZED')
    // a central directory that does not read
    const good = makeZip([{ name: 'a.md', data: 'x' }])
    const broken = Buffer.from(good)
    broken.writeUInt32LE(0xdeadbeef, good.length - 22 - 46 - 4) // the central directory's signature
    const corrupt = join(await tempDir(), 'corrupt.zip')
    await writeFile(corrupt, broken)
    expect(await codeOf(planMigration(corrupt))).toBe('MALFORMED')
    const notZip = join(await tempDir(), 'not.zip')
    await writeFile(notZip, 'hello')
    expect(await codeOf(planMigration(notZip))).toBe('MALFORMED')
  }, 60_000)

  it('migrate - ONE proposal migrates the archive: nothing is in the register until a second member approves and it is committed; the register and MIG_INDEX are the same on three devices; the same ZIP again is a DUPLICATE; a blob changed on disk is refused', async () => {
    const { alice, bob, bob2, carol } = await threeMembers()
    const entries: ZipEntrySpec[] = [
      { name: 'docs/build-plan.md', data: BUILD, deflate: true },
      { name: 'docs/roadmap.md', data: ROADMAP, deflate: true },
      { name: 'docs/platform-plan.md', data: PLATFORM },
      { name: 'copies/roadmap-copy.md', data: ROADMAP },
      ...Array.from({ length: 150 }, (_, i) => ({
        name: `many/n${i}.md`,
        data: `---\nid: N${i}\nlifecycle: ACTIVE\n---\n`
      }))
    ]
    const zip = makeZip(entries).toString('base64')
    const ha = createHandlers(alice)
    const r = await ha['documents.migrate']({ name: 'old-repo.zip', zip, reason: 'bring the old repository in' })
    expect(r.duplicate).toBe(false)
    expect(r.proposal!.action.kind).toBe('doc.migrate')
    // 154 files, 100 a part
    expect((r.proposal!.action.args as { plan: { parts: unknown[] } }).plan.parts).toHaveLength(2)
    expect((await ha['documents.index']({})).index).toEqual([]) // proposed, not committed: nothing yet
    // asking again while it is open gives the same proposal, not a second one
    expect((await ha['documents.migrate']({ name: 'old-repo.zip', zip, reason: 'again' })).proposal!.id).toBe(
      r.proposal!.id
    )
    await carry(alice, bob)
    // the reviewer reads every file the proposal would bring in, from the plan events it carried
    const review = await createHandlers(bob)['documents.proposalPlan']({ proposal: r.proposal!.id })
    expect(review.files).toHaveLength(154)
    expect(review.files.find((f) => f.path === 'docs/platform-plan.md')).toMatchObject({ class: 'MIG_B' })
    await approve(bob, r.proposal!.id)
    await commit(bob, r.proposal!.id)
    for (const v of [alice, carol]) await carry(bob, v)
    const indexes = await Promise.all([alice, bob, carol].map((v) => createHandlers(v)['documents.index']({})))
    expect(indexes[0]!.index).toHaveLength(154)
    expect(indexes[1]).toEqual(indexes[0])
    expect(indexes[2]).toEqual(indexes[0])
    const roadmap = indexes[0]!.documents.find((d) => d.id === 'OS4-MIG-TRESOR-V2-0038')!
    expect(roadmap).toMatchObject({ lifecycle: 'ACTIVE', class: 'MIG_A' })
    expect(roadmap.versions).toHaveLength(1) // the duplicate copy is the same bytes: one version
    expect(indexes[0]!.index.find((f) => f.path === 'copies/roadmap-copy.md')).toMatchObject({
      class: 'MIG_C',
      current: false
    })
    // the bound on one document is governed: lowered to 1 KiB, a 2 KiB file is refused from the plan with the reason
    const p = await propose(alice, { kind: 'vault.settings', args: { settings: { documentMaxBytes: 1024 } } }, 'small')
    await carry(alice, bob)
    await approve(bob, p.id)
    await commit(bob, p.id)
    await carry(bob, alice)
    const big = makeZip([
      { name: 'big.md', data: 'x'.repeat(2048) },
      { name: 'small.md', data: 'y' }
    ]).toString('base64')
    const bounded = await ha['documents.plan']({ name: 'big.zip', zip: big })
    expect(bounded.files.map((f) => f.path)).toEqual(['small.md'])
    expect(bounded.refused).toEqual([{ name: 'big.md', reason: 'it is 2048 bytes; at most 1024' }])
    // the same archive again: DUPLICATE, nothing proposed
    const again = await ha['documents.migrate']({ name: 'old-repo.zip', zip, reason: 'once more' })
    expect([again.duplicate, again.proposal]).toEqual([true, null])
    // the proposer kept every file by digest; one changed on disk is refused when read
    const blobs = new BlobStore(alice.dir)
    const digest = indexes[0]!.index[0]!.digest
    expect((await blobs.get(digest)).toString('utf8')).toBe(BUILD)
    const path = join(alice.dir, 'blobs', 'sha256', digest.slice(0, 2), digest)
    await writeFile(path, BUILD.replace('OS4', 'OS5'))
    expect(await codeOf(blobs.get(digest))).toBe('TAMPERED')
    for (const v of [alice, bob, bob2, carol]) await v.close()
  }, 60_000)

  it("formats - the migration's signed formats (doc.plan v1, doc.migrate) are rebuilt byte for byte; yesterday's bytes fold to the pinned state and read to the register", async () => {
    const pinned = JSON.parse(readFileSync(new URL('./fixtures/documents-v1.json', import.meta.url), 'utf8'))
    expect(buildDocumentsV1Fixture()).toEqual(pinned)
    const events = (pinned.events as { raw: string }[]).map((e) => decodeEvent(e.raw, pinned.vault))
    const state = foldGovernance(
      pinned.vault,
      events.filter((d) => isGovernanceType(d.event.type)).map((d) => ({ id: d.id, event: d.event }))
    )
    expect(stateHash(state)).toBe(pinned.stateHash)
    expect(state.migrated).toEqual(pinned.migrated)
    const bySlot = new Map(events.map((d) => [`${d.event.author}/${d.event.seq}`, { id: d.id, raw: d.raw }]))
    const store = { get: async (author: string, seq: number) => (bySlot.get(`${author}/${seq}`) ?? null) as never }
    const { index, documents, waiting } = await documentsIndex(store, state)
    expect([index.length, waiting]).toEqual([120, []])
    expect(documents.find((d) => d.id === 'OS4_TRESOR_API_BUILD_PLAN_V1_2026')!.versions).toHaveLength(2)
    expect(index.filter((r) => r.current)).toHaveLength(118)
  })
})
