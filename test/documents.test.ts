/**
 * The documents register's governed changes (issue 17): lifecycle changes as the rules allow, new versions (a
 * READ-ONLY document only from a proposal that says so), the rules themselves as a governed setting, a text diff
 * between versions; and a hostile member's committed change that does not fit is refused by the register the same
 * way on every device.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { threeMembers } from './support/members.js'
import { carry, cleanupDirs, codeOf, lengths } from './helpers.js'
import { exportBundle, importBundle } from '../core/bundle.js'
import { DOC_PLAN_TYPE, planDigest } from '../core/documents/register.js'
import { createHandlers } from '../core/api.js'
import { approve, commit, propose } from '../core/governance/calls.js'
import { makeZip } from './support/zip.js'
import type { Vault } from '../core/vault.js'
import { decodeEvent } from '../core/envelope.js'
import { verifyProofFile } from '../core/proofs/proof-file.js'

const seed = (name: string) => readFileSync(new URL(`./fixtures/seeds/${name}`, import.meta.url), 'utf8')
const BUILD = seed('000_a0a1b1f66601fb37.txt') // front matter: PLANNED, READ-ONLY
const ROADMAP = seed('001_8445ea942ba845ef.txt') // migration header: ACTIVE
const BUILD_ID = 'OS4_TRESOR_API_BUILD_PLAN_V1_2026'
const ROADMAP_ID = 'OS4-MIG-TRESOR-V2-0038'

/** `proposer` proposes, the other approves and commits, everyone gets it. */
async function govern(all: Vault[], proposer: Vault, checker: Vault, id: string): Promise<void> {
  await carry(proposer, checker)
  await approve(checker, id)
  await commit(checker, id)
  for (const v of all) if (v !== checker) await carry(checker, v)
}

async function migrated() {
  const m = await threeMembers()
  const all = [m.alice, m.bob, m.carol]
  const zip = makeZip([
    { name: 'docs/build-plan.md', data: BUILD, deflate: true },
    { name: 'docs/roadmap.md', data: ROADMAP },
    {
      name: 'hr/salaries.md',
      data: '---\nid: SALARIES\nversion: "1"\nlifecycle: ACTIVE\nclassification: private\n---\n'
    },
    { name: 'drafts/idea.md', data: '---\nid: IDEA\nversion: "1"\nlifecycle: DRAFT\n---\n' }
  ]).toString('base64')
  const r = await createHandlers(m.alice)['documents.migrate']({ name: 'repo.zip', zip, reason: 'bring it in' })
  await govern(all, m.alice, m.bob, r.proposal!.id)
  return { ...m, all, zip }
}

const docOf = async (v: Vault, id: string) =>
  (await createHandlers(v)['documents.index']({})).documents.find((d) => d.id === id)!

describe('documents register', () => {
  afterAll(cleanupDirs)

  it('documents - a lifecycle change is a governed action: PLANNED → ACTIVE → SUPERSEDED as the rules allow; a change the rules do not allow is refused before it is signed', async () => {
    const { alice, bob, all } = await migrated()
    const ha = createHandlers(alice)
    expect(await docOf(alice, BUILD_ID)).toMatchObject({ lifecycle: 'PLANNED', mode: 'READ-ONLY' })
    expect(await codeOf(ha['documents.proposeLifecycle']({ doc: BUILD_ID, to: 'SUPERSEDED', reason: 'r' }))).toBe(
      'BAD_ARGUMENT'
    )
    await expect(ha['documents.proposeLifecycle']({ doc: BUILD_ID, to: 'SUPERSEDED', reason: 'r' })).rejects.toThrow(
      /PLANNED → ACTIVE or ARCHIVED, not SUPERSEDED/
    )
    const p = await ha['documents.proposeLifecycle']({ doc: BUILD_ID, to: 'active', reason: 'the plan is under way' })
    expect(p.action).toEqual({ kind: 'doc.lifecycle', args: { doc: BUILD_ID, from: 'PLANNED', to: 'ACTIVE' } })
    expect((await docOf(alice, BUILD_ID)).lifecycle).toBe('PLANNED') // proposed, not committed
    await govern(all, alice, bob, p.id)
    for (const v of all) expect((await docOf(v, BUILD_ID)).lifecycle).toBe('ACTIVE')
    const q = await ha['documents.proposeLifecycle']({ doc: BUILD_ID, to: 'SUPERSEDED', reason: 'replaced' })
    await govern(all, alice, bob, q.id)
    const d = await docOf(bob, BUILD_ID)
    expect(d.lifecycle).toBe('SUPERSEDED')
    expect(d.history.map((h) => `${h.from}→${h.to}`)).toEqual(['PLANNED→ACTIVE', 'ACTIVE→SUPERSEDED'])
  })

  it("documents - a hostile member's committed lifecycle change that does not start where the document is, is not applied, with the same reason on every device", async () => {
    const { alice, bob, all } = await migrated()
    // signed directly (past the method's check): the fold sees only the rules, the register sees the document
    const p = await propose(
      alice,
      { kind: 'doc.lifecycle', args: { doc: ROADMAP_ID, from: 'PLANNED', to: 'ARCHIVED' } },
      'sneak'
    )
    await govern(all, alice, bob, p.id)
    const views = await Promise.all(all.map((v) => createHandlers(v)['documents.index']({})))
    expect(views[0]!.notApplied).toEqual([
      { proposal: p.id, kind: 'doc.lifecycle', doc: ROADMAP_ID, reason: 'the document is ACTIVE, not PLANNED' }
    ])
    expect(views[1]).toEqual(views[0])
    expect(views[2]).toEqual(views[0])
    expect(views[0]!.documents.find((d) => d.id === ROADMAP_ID)!.lifecycle).toBe('ACTIVE')
  })

  it('documents - a READ-ONLY document takes a new version only from a proposal that says so; the versions diff line by line; the new version is current', async () => {
    const { alice, bob, all } = await migrated()
    const ha = createHandlers(alice)
    const next = BUILD.replace('2026-01-02-V1.0.0', '2026-02-01-V1.1.0').replace('# ', '# Revised: ')
    const content = Buffer.from(next).toString('base64')
    const args = { doc: BUILD_ID, version: '2026-02-01-V1.1.0', content, reason: 'revised plan' }
    await expect(ha['documents.proposeVersion'](args)).rejects.toThrow(
      /READ-ONLY: a new version needs a proposal that says so/
    )
    // signed past the check, the register refuses it on every device
    const sneak = await propose(
      alice,
      {
        kind: 'doc.version',
        args: {
          doc: BUILD_ID,
          version: 'X',
          digest: 'a'.repeat(64),
          size: 1,
          mediaType: 'text/markdown',
          path: 'x.md',
          title: null,
          lifecycle: null,
          readOnly: false
        }
      },
      'sneak'
    )
    await govern(all, alice, bob, sneak.id)
    expect((await createHandlers(carolOf(all))['documents.index']({})).notApplied[0]).toMatchObject({
      proposal: sneak.id,
      reason: 'the document is READ-ONLY: a new version needs a proposal that says so (readOnly: true)'
    })
    const p = await ha['documents.proposeVersion']({ ...args, readOnly: true })
    expect(p.action.args).toMatchObject({
      doc: BUILD_ID,
      readOnly: true,
      path: 'docs/build-plan.md',
      size: Buffer.byteLength(next)
    })
    await govern(all, alice, bob, p.id)
    const d = await docOf(alice, BUILD_ID)
    expect(d.versions.map((v) => v.version)).toEqual(['2026-01-02-V1.0.0', '2026-02-01-V1.1.0'])
    expect(d.current).toBe(d.versions[1]!.digest)
    expect(d.versions[1]!.event).toBe(p.id) // what proves it: the proposal that names its digest
    const diff = await ha['documents.diff']({ from: d.versions[0]!.digest, to: d.versions[1]!.digest })
    expect(diff.lines.filter((l) => l.op === '+').map((l) => l.text)).toContain('version: "2026-02-01-V1.1.0"')
    expect(diff.lines.filter((l) => l.op === '-').map((l) => l.text)).toContain('version: "2026-01-02-V1.0.0"')
    expect(diff.added).toBe(diff.removed)
    const index = await ha['documents.index']({})
    expect(index.index.filter((r) => r.doc === BUILD_ID && r.current)).toEqual([]) // the migrated row is not current
    // its proof of inclusion is the proposal event's (a checkpoint covers it)
    await ha['proof.checkpoint']({})
    const proof = await ha['proof.event']({ id: d.versions[1]!.event })
    expect(decodeEvent(proof.event, alice.vaultId).id).toBe(p.id)
    expect(verifyProofFile(JSON.stringify(proof)).ok).toBe(true)
  })

  it('documents - the rules are a governed setting: a new live lifecycle changes how the next migration classes a file, a private path keeps it off the mirror', async () => {
    const { alice, bob, all, zip } = await migrated()
    const ha = createHandlers(alice)
    const before = await ha['documents.plan']({ name: 'repo.zip', zip })
    expect(before.files.find((f) => f.path === 'drafts/idea.md')).toMatchObject({ class: 'MIG_B' })
    expect((await docOf(alice, 'SALARIES')).private).toBe('classified PRIVATE')
    expect((await docOf(alice, ROADMAP_ID)).private).toBeNull()
    const { rules } = await ha['documents.rules']({})
    const next = { ...rules, live: [...rules.live, 'DRAFT'], private: { ...rules.private, paths: ['docs/road*.md'] } }
    // rules that contradict themselves are refused before they are signed
    await expect(
      propose(alice, { kind: 'doc.rules', args: { rules: { ...next, retired: [...rules.retired, 'DRAFT'] } } }, 'x')
    ).rejects.toThrow(/DRAFT cannot be both live and retired/)
    await expect(
      propose(
        alice,
        { kind: 'doc.rules', args: { rules: { ...next, transitions: JSON.parse('{"__proto__": ["ACTIVE"]}') } } },
        'x'
      )
    ).rejects.toThrow(/neither live nor retired/)
    const p = await propose(alice, { kind: 'doc.rules', args: { rules: next } }, 'drafts count; the roadmap is private')
    await govern(all, alice, bob, p.id)
    expect(await createHandlers(bob)['documents.rules']({})).toMatchObject({
      governed: true,
      rules: { live: ['ACTIVE', 'DRAFT', 'PLANNED'] }
    })
    const after = await ha['documents.plan']({ name: 'repo.zip', zip })
    expect(after.files.find((f) => f.path === 'drafts/idea.md')).toMatchObject({ class: 'MIG_A' })
    expect((await docOf(alice, ROADMAP_ID)).private).toBe('path matches docs/road*.md')
  })
})

const carolOf = (all: Vault[]) => all[2]!

describe('documents in bundles', () => {
  afterAll(cleanupDirs)

  it('documents - an offline bundle carries the bytes its events name, so a reviewer reads them before approving; a blob altered in the bundle is quarantined with its reason while the signed events still import', async () => {
    const { alice, bob, carol } = await threeMembers()
    const zip = makeZip([
      { name: 'docs/roadmap.md', data: ROADMAP },
      { name: 'docs/build-plan.md', data: BUILD }
    ]).toString('base64')
    const r = await createHandlers(alice)['documents.migrate']({ name: 'repo.zip', zip, reason: 'bring it in' })
    const bundle = await exportBundle(alice, lengths(bob))
    expect(bundle.blobs).toHaveLength(2)
    const summary = await importBundle(bob, JSON.stringify(bundle))
    expect(summary.blobs).toEqual({ admitted: 2, quarantined: 0 })
    const files = (await createHandlers(bob)['documents.proposalPlan']({ proposal: r.proposal!.id })).files
    const roadmap = files.find((f) => f.path === 'docs/roadmap.md')!
    expect((await createHandlers(bob)['documents.get']({ digest: roadmap.digest })).text).toBe(ROADMAP)
    // the blobs are outside the bundle's signature: one altered on the stick is refused by its digest
    const altered = {
      ...bundle,
      blobs: bundle.blobs!.map((b) =>
        b.digest === roadmap.digest ? { ...b, data: Buffer.from(ROADMAP + 'tampered').toString('base64') } : b
      )
    }
    const onCarol = await importBundle(carol, JSON.stringify(altered))
    expect(onCarol).toMatchObject({ blobs: { admitted: 1, quarantined: 1 } })
    expect(onCarol.admitted).toBeGreaterThan(0)
    const hc = createHandlers(carol)
    expect(await codeOf(hc['documents.get']({ digest: roadmap.digest }))).toBe('NOT_FOUND')
    expect((await hc['documents.quarantine']({})).entries[0]).toMatchObject({
      digest: roadmap.digest,
      code: 'TAMPERED',
      source: `bundle signed by ${alice.device}`
    })
  })

  it("documents - a hostile member's plan that names an honest file's digest with a false size cannot keep its true bytes out", async () => {
    const { alice, bob, carol } = await threeMembers()
    const zip = makeZip([{ name: 'docs/roadmap.md', data: ROADMAP }]).toString('base64')
    const r = await createHandlers(alice)['documents.migrate']({ name: 'repo.zip', zip, reason: 'bring it in' })
    const honest = (await createHandlers(alice)['documents.proposalPlan']({ proposal: r.proposal!.id })).files[0]!
    // carol's key signs a plan of her own naming the same digest as a 1-byte file, and proposes it
    const files = [{ ...honest, size: 1, path: 'lie.md', doc: 'LIE' }]
    const batch = `MIG-${'c'.repeat(16)}`
    const part = await carol.append(DOC_PLAN_TYPE, { batch, part: 0, files })
    await propose(
      carol,
      {
        kind: 'doc.migrate',
        args: {
          batch,
          zip: { name: 'lie.zip', digest: 'd'.repeat(64), size: 1 },
          plan: {
            digest: planDigest(files),
            files: 1,
            parts: [{ author: part.event.author, seq: part.event.seq, id: part.id }]
          },
          counts: { MIG_A: 1, MIG_B: 0, MIG_C: 0, refused: 0 }
        }
      },
      'a lie'
    )
    await carry(carol, bob)
    expect((await importBundle(bob, JSON.stringify(await exportBundle(alice, lengths(bob))))).blobs).toEqual({
      admitted: 1,
      quarantined: 0
    })
    expect((await createHandlers(bob)['documents.get']({ digest: honest.digest })).text).toBe(ROADMAP)
  })
})
