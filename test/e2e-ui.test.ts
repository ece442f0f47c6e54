/**
 * The UI end to end: Debian's chromium (playwright-core) against real edge
 * daemons (`tresor serve`), which serve the same renderer the desktop app
 * loads. Screenshots of every screen land in test-artifacts/screenshots/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Page } from 'playwright-core'
import nacl from 'tweetnacl'
import { TelemetryStore } from '../core/telemetry/store.js'
import { openKeyFile, readKeyFile } from '../core/keys.js'
import { cleanupDirs, makeVault, PASS, tempDir, withRawDb } from './helpers.js'
import { ADMIN, startCouch, type Couch } from './support/couch.js'
import { startDaemon, type Daemon } from './support/daemon.js'
import { accessibilityProblems, launchBrowser, shot, type Browser } from './support/browser.js'
import { BOILER, boilerLines, streamingVaults } from './support/telemetry-vault.js'
import { fillWithNotes } from './support/big-vault.js'
import { propose } from '../core/governance/calls.js'
import { stolenKey, threeMembers } from './support/members.js'
import { carry } from './helpers.js'
import { makeCheckpoint } from '../core/proofs/prover.js'
import { feedOrigin, formatCheckpoint } from '../core/proofs/tlog.js'
import { leafHash } from '../core/proofs/merkle.js'
import { signNote } from '../core/signed-note.js'
import { formatAddCheckpoint } from '../core/witness.js'
import { VaultWitness } from '../core/vault-witness.js'
import { makeZip } from './support/zip.js'

const CLI = fileURLToPath(new URL('../edge/bin/tresor.mjs', import.meta.url))
let couch: Couch
let browser: Browser
const daemons: Daemon[] = []

beforeAll(async () => {
  couch = await startCouch(join(await tempDir('tresor-couch-'), 'server'))
  browser = await launchBrowser()
}, 120_000)

afterAll(async () => {
  await browser?.close() // first: open pages keep polling the daemons
  for (const d of daemons) await d.stop()
  await couch?.stop()
  await cleanupDirs()
})

async function serve(dir: string, extra: string[] = []): Promise<Daemon> {
  const d = await startDaemon(dir, extra, { TRESOR_PASSPHRASE: PASS })
  daemons.push(d)
  return d
}

const open = (d: Daemon) => browser.newPage(`${d.url}/#token=${d.token}`)
const nav = (page: Page, label: string) =>
  page.getByRole('navigation', { name: 'Screens' }).getByRole('button', { name: label, exact: false }).click()

describe('the UI in chromium against edge daemons', () => {
  it('ui - member A proposes a flag change, member B approves and commits in another browser, both see it committed (two daemons syncing through CouchDB)', async () => {
    // The schema names units: the telemetry screen prints them beside the values and on the chart's axis.
    const t = await streamingVaults({
      streams: [{ ...BOILER, fields: { ...BOILER.fields, celsius: { type: 'number', unit: '°C' } } }]
    })
    // Some telemetry on A, so its telemetry screen has something to show.
    const store = await TelemetryStore.open(t.alice)
    await store.ingest([...boilerLines(120, 'ui'), '{"broken": '])
    await store.close()
    const [a, b] = [t.alice.dir, t.bob.dir]
    await t.alice.close()
    await t.bob.close()
    const url = `${couch.root}/ui`
    await couch.request('PUT', '/ui', undefined, ADMIN)
    for (const dir of [a, b]) {
      const r = spawnSync(
        process.execPath,
        [CLI, 'sync', 'couch', '--dir', dir, '--url', url, '--user', ADMIN.username, '--admin'],
        { env: { ...process.env, TRESOR_PASSPHRASE: PASS, TRESOR_COUCH_PASSWORD: ADMIN.password }, encoding: 'utf8' }
      )
      expect(r.status, r.stderr).toBe(0)
    }
    const [da, db] = [await serve(a, ['--sync', '--interval', '1']), await serve(b, ['--sync', '--interval', '1'])]

    const pa = await open(da)
    await pa.getByRole('heading', { name: 'Health' }).waitFor()
    await shot(pa, 'health')
    await nav(pa, 'Flags & gates')
    const row = pa.getByTestId('flag-finance_enabled')
    await row.getByRole('button', { name: 'Propose on: finance_enabled' }).click()
    const draft = pa.getByRole('form', { name: 'New proposal' })
    await draft.getByLabel(/Reason/).fill('ledger tests and audit proof exist')
    await shot(pa, 'flags-propose')
    await draft.getByRole('button', { name: 'Sign the proposal' }).click()
    await expect.poll(() => pa.getByTestId('proposal-status').textContent()).toBe('open')
    await shot(pa, 'proposal-proposed')

    const pb = await open(db)
    await nav(pb, 'Inbox')
    const item = pb.getByTestId('inbox-list').getByRole('button', { name: 'switch finance_enabled on' })
    await item.waitFor({ timeout: 30_000 }) // A's daemon pushes, B's follows the server, B's page is told
    await shot(pb, 'inbox')
    await item.click()
    await shot(pb, 'proposal-detail')
    // A's page asks for governance state only when its daemon says something changed: no timer polls it.
    const govCalls: number[] = []
    pa.on('request', (r) => {
      if (new URL(r.url()).pathname.startsWith('/api/gov.')) govCalls.push(Date.now())
    })
    await new Promise((r) => setTimeout(r, 4000))
    expect(govCalls).toEqual([])
    await pb.getByRole('button', { name: 'Approve…' }).click()
    await pb
      .getByTestId('confirm')
      .getByText(/You sign an approval of proposal/)
      .waitFor()
    await pb.getByRole('button', { name: 'Sign the approval' }).click()
    await pb.getByText('nothing: ready to commit').waitFor()
    // B's approval reaches A's open page without a reload: the push channel told it to fetch again.
    await pa.getByText('nothing: ready to commit').waitFor({ timeout: 15_000 })
    expect(govCalls.length).toBeGreaterThan(0)
    await pb.getByRole('button', { name: 'Commit…' }).click()
    await pb.getByRole('button', { name: 'Sign the commit' }).click()
    await expect.poll(() => pb.getByTestId('proposal-status').textContent(), { timeout: 15_000 }).toBe('committed')
    await shot(pb, 'proposal-committed')

    // A sees it committed once B's events arrive.
    await expect
      .poll(async () => await pa.getByTestId('proposal-status').textContent(), { timeout: 30_000 })
      .toBe('committed')
    await nav(pa, 'Flags & gates')
    await expect.poll(() => pa.getByTestId('flag-finance_enabled').getByRole('cell').nth(1).textContent()).toBe('on')

    // The other screens, as A sees them.
    await nav(pa, 'Members & keys')
    await pa.getByRole('cell', { name: 'bob' }).waitFor()
    await shot(pa, 'members')
    // A key change proposed from the members screen lands on its proposal.
    const change = pa.getByRole('form', { name: 'Propose a member or key change' })
    await change.locator('select[name="change"]').selectOption('key.add')
    await change.locator('select[name="member"]').selectOption('bob')
    await change.getByLabel(/Device public key/).fill(Buffer.from(nacl.sign.keyPair().publicKey).toString('hex'))
    await change.getByLabel('Reason').fill("bob's second laptop")
    await change.getByRole('button', { name: 'Sign the proposal' }).click()
    await pa.getByText('add a device key for bob').first().waitFor()
    await expect.poll(() => pa.getByTestId('proposal-status').textContent()).toBe('open')
    await nav(pa, 'Registers')
    await pa.getByRole('heading', { name: 'Ledger balances' }).waitFor()
    // finance_enabled is on now: a ledger entry can be proposed here.
    const entry = pa.getByRole('form', { name: 'Propose a ledger entry' })
    await entry.getByLabel('Entry id').fill('inv-1')
    await entry.getByLabel('Memo').fill('first invoice')
    await entry.getByLabel('Debit account').fill('cash')
    await entry.getByLabel('Credit account').fill('revenue')
    await entry.getByLabel('Amount').fill('12.50')
    await shot(pa, 'registers')
    await entry.getByLabel('Reason').fill('paid')
    await entry.getByRole('button', { name: 'Sign the proposal' }).click()
    await pa.getByText('add ledger entry inv-1: first invoice').first().waitFor()
    // the proposal says what it changes, line by line
    const changes = pa.getByTestId('changes')
    await changes.getByRole('row', { name: /debit cash — 12\.50 EUR/ }).waitFor()
    await changes.getByRole('row', { name: /credit revenue — 12\.50 EUR/ }).waitFor()
    await shot(pa, 'proposal-ledger')
    await nav(pa, 'Registers')
    await nav(pa, 'Telemetry')
    await pa.getByRole('button', { name: 'boiler.temp' }).click()
    await pa.locator('.chart .uplot canvas').first().waitFor()
    await pa.getByRole('figure', { name: /^celsius over time: .* °C, \d+ readings$/ }).waitFor()
    await pa.getByRole('cell', { name: /celsius [\d.]+…[\d.]+ °C \(mean [\d.]+ °C\)/ }).waitFor()
    await pa.getByText('not a JSON reading').first().waitFor()
    await shot(pa, 'telemetry')
    await nav(pa, 'Sync')
    await pa.getByText('online').first().waitFor({ timeout: 20_000 })
    await pa
      .getByTestId('sync-mode')
      .getByText(/live: following the server's changes/)
      .waitFor()
    await shot(pa, 'sync')
    await nav(pa, 'Audit log')
    await pa.getByRole('button', { name: 'gov.commit' }).first().waitFor({ timeout: 20_000 })
    await pa.getByRole('button', { name: 'gov.commit' }).first().click()
    await pa.getByRole('heading', { name: /Event gov.commit/ }).waitFor()
    await shot(pa, 'audit-log')
    // the event's payload reads as words, and the proposal it commits is a link to it
    const link = pa.locator('.detail').getByRole('button', { name: /^switch \w+ on$/ })
    await link.click()
    await expect.poll(() => pa.getByTestId('proposal-status').textContent()).toBe('committed')
    await pa.close()
    await pb.close()
    expect(browser.errors.join('\n')).toBe('')
  }, 180_000)

  it('ui - documents: a ZIP migrated from the Documents screen (dry run, one proposal), approved in another browser seeing every file, synced through CouchDB with its bytes; the register shows header fields, versions, a diff and a proof; a READ-ONLY document takes a new version only when the proposal says so', async () => {
    const seed = (name: string) => readFileSync(new URL(`./fixtures/seeds/${name}`, import.meta.url), 'utf8')
    const BUILD = seed('000_a0a1b1f66601fb37.txt')
    const { alice, bob } = await threeMembers()
    const [a, b] = [alice.dir, bob.dir]
    await alice.close()
    await bob.close()
    await couch.request('PUT', '/docs', undefined, ADMIN)
    for (const dir of [a, b]) {
      const r = spawnSync(
        process.execPath,
        [CLI, 'sync', 'couch', '--dir', dir, '--url', `${couch.root}/docs`, '--user', ADMIN.username, '--admin'],
        { env: { ...process.env, TRESOR_PASSPHRASE: PASS, TRESOR_COUCH_PASSWORD: ADMIN.password }, encoding: 'utf8' }
      )
      expect(r.status, r.stderr).toBe(0)
    }
    const [da, db] = [await serve(a, ['--sync', '--interval', '1']), await serve(b, ['--sync', '--interval', '1'])]
    const pa = await open(da)
    await nav(pa, 'Documents')
    await pa.getByText('No documents yet.').waitFor()
    const zip = makeZip([
      { name: 'docs/build-plan.md', data: BUILD, deflate: true },
      { name: 'docs/roadmap.md', data: seed('001_8445ea942ba845ef.txt') },
      { name: 'notes/headerless.txt', data: 'a note without a header\n' },
      { name: '../escape.md', data: 'out of the archive' }
    ])
    await pa.getByTestId('zip-input').setInputFiles({ name: 'old-repo.zip', mimeType: 'application/zip', buffer: zip })
    await expect
      .poll(() => pa.getByTestId('zip-plan-summary').textContent())
      .toMatch(/3 file\(s\) — 2 current, 1 to review, 0 legacy; 1 refused/)
    await pa
      .getByTestId('zip-plan')
      .getByRole('row', { name: /REFUSED \.\.\/escape\.md/ })
      .waitFor()
    await shot(pa, 'documents-dry-run')
    const form = pa.getByRole('form', { name: 'Propose the migration' })
    await form.getByLabel('Reason').fill('bring the old repository in')
    await form.getByRole('button', { name: 'Propose the migration' }).click()
    await expect.poll(() => pa.getByTestId('proposal-status').textContent()).toBe('open')
    await pa
      .getByTestId('proposal-files')
      .getByRole('row', { name: /MIG_B notes\/headerless\.txt/ })
      .waitFor()

    const pb = await open(db)
    await nav(pb, 'Inbox')
    const item = pb.getByTestId('inbox-list').getByRole('button', { name: /migrate old-repo\.zip/ })
    await item.waitFor({ timeout: 30_000 })
    await item.click()
    // the reviewer sees every file the migration would bring in before signing
    await expect.poll(() => pb.getByTestId('proposal-files').getByRole('row').count()).toBe(4)
    await shot(pb, 'documents-review')
    await pb.getByRole('button', { name: 'Approve…' }).click()
    await pb.getByRole('button', { name: 'Sign the approval' }).click()
    await pb.getByText('nothing: ready to commit').waitFor()
    await pb.getByRole('button', { name: 'Commit…' }).click()
    await pb.getByRole('button', { name: 'Sign the commit' }).click()
    await expect.poll(() => pb.getByTestId('proposal-status').textContent(), { timeout: 15_000 }).toBe('committed')

    // on B, the document with its header fields and its text (its bytes came through CouchDB, checked)
    await nav(pb, 'Documents')
    const id = 'OS4_TRESOR_API_BUILD_PLAN_V1_2026'
    await pb.getByRole('button', { name: id }).click()
    const detail = pb.getByTestId('document-detail')
    await expect.poll(() => detail.getByTestId('doc-lifecycle').textContent()).toBe('PLANNED')
    await detail.getByText('READ-ONLY').first().waitFor()
    await expect.poll(() => detail.getByTestId('doc-text').textContent(), { timeout: 15_000 }).toContain(`id: ${id}`)
    // a filter narrows the list
    await pb.getByRole('group', { name: 'Filter documents' }).getByLabel('Class').selectOption('MIG_B')
    await expect.poll(() => pb.getByTestId('documents').getByRole('row').count()).toBe(2)
    await pb.getByRole('group', { name: 'Filter documents' }).getByLabel('Class').selectOption('')
    await shot(pb, 'documents-detail')
    // a new version of a READ-ONLY document: refused unless the proposal says so
    const next = BUILD.replace('2026-01-02-V1.0.0', '2026-02-01-V1.1.0')
    const version = detail.getByRole('form', { name: 'Propose a new version' })
    await version
      .getByLabel(/New version/)
      .setInputFiles({ name: 'build-plan.md', mimeType: 'text/markdown', buffer: Buffer.from(next) })
    await version.getByLabel('Version', { exact: true }).fill('2026-02-01-V1.1.0')
    await version.getByLabel('Reason').fill('revised plan')
    await version.getByRole('button', { name: 'Propose the new version' }).click()
    await detail.getByText(/READ-ONLY: a new version needs a proposal that says so/).waitFor()
    await version.getByLabel(/the proposal says it changes it anyway/).check()
    await version.getByRole('button', { name: 'Propose the new version' }).click()
    await expect.poll(() => pb.getByTestId('proposal-status').textContent()).toBe('open')
    // its review shows what changes, line by line
    await pb.getByTestId('proposal-diff').getByText('+ version: "2026-02-01-V1.1.0"').waitFor()
    await shot(pb, 'documents-version-review')

    // A approves and commits it; both registers then hold two versions with a diff and a proof
    await nav(pa, 'Inbox')
    const v = pa.getByTestId('inbox-list').getByRole('button', { name: /new version 2026-02-01-V1\.1\.0/ })
    await v.waitFor({ timeout: 30_000 })
    await v.click()
    await pa.getByRole('button', { name: 'Approve…' }).click()
    await pa.getByRole('button', { name: 'Sign the approval' }).click()
    await pa.getByText('nothing: ready to commit').waitFor()
    await pa.getByRole('button', { name: 'Commit…' }).click()
    await pa.getByRole('button', { name: 'Sign the commit' }).click()
    await expect.poll(() => pa.getByTestId('proposal-status').textContent(), { timeout: 15_000 }).toBe('committed')
    const signed = await fetch(`${da.url}/api/proof.checkpoint`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${da.token}` },
      body: '{}'
    })
    expect(signed.status).toBe(200)
    await nav(pa, 'Documents')
    await pa.getByRole('button', { name: id }).click()
    const da2 = pa.getByTestId('document-detail')
    await expect.poll(() => da2.getByTestId('doc-versions').getByRole('row').count()).toBe(3)
    await da2.getByRole('form', { name: 'Compare versions' }).getByRole('button', { name: 'Compare' }).click()
    await da2.getByTestId('doc-diff').getByText('- version: "2026-01-02-V1.0.0"').waitFor()
    await da2.getByTestId('doc-versions').getByRole('button', { name: 'Inclusion proof' }).last().click()
    await expect.poll(() => da2.getByTestId('doc-proof').textContent()).toContain('"kind": "inclusion"')
    await shot(pa, 'documents-diff-proof')
    await pa.close()
    await pb.close()
    expect(browser.errors.join('\n')).toBe('')
  }, 180_000)

  it('ui - the audit log of a 100,000-event vault opens and scrolls to its end', async () => {
    const vault = await makeVault()
    const key = await openKeyFile(await readKeyFile(join(vault.dir, 'device.key')), PASS)
    await fillWithNotes(vault, key.keyPair.secretKey, 99_999)
    await vault.verify({ full: true })
    await vault.close()
    const d = await serve(vault.dir)
    const page = await open(d)
    await nav(page, 'Audit log')
    // 99,999 notes, the genesis, and the checkpoint the vault signs on close (every 1,000 events)
    await expect.poll(() => page.getByTestId('log-total').textContent(), { timeout: 60_000 }).toBe('100,001 events')
    const scroller = page.getByTestId('log-scroller')
    for (const frac of [0.25, 0.5, 0.75, 1]) {
      await scroller.evaluate((el, f) => {
        el.scrollTop = (el.scrollHeight - el.clientHeight) * f
      }, frac)
      await page.waitForTimeout(50)
    }
    const lastRow = page.locator('[data-index="100000"]')
    await expect.poll(() => lastRow.textContent(), { timeout: 20_000 }).toMatch(/^100001/)
    await expect.poll(() => page.locator('[data-index="99990"]').textContent()).toMatch(/audit\.note.*✓ verified/)
    // Only a window of rows is in the page, not 100,000.
    expect(await page.locator('.vrow').count()).toBeLessThan(80)
    await shot(page, 'audit-log-100k')
    // Long work shows progress: a full check of the 100,001 events.
    await nav(page, 'Health')
    await page.getByRole('button', { name: 'Run full check' }).click()
    await page.getByText(/of 100,001 events verified/).waitFor({ timeout: 30_000 })
    await shot(page, 'health-full-check')
    await page.getByText('Full check finished.').waitFor({ timeout: 120_000 })
    await page.close()
    expect(browser.errors.join('\n')).toBe('')
  }, 180_000)

  it("ui - a device whose check fails is seen as failed on another device's Devices screen, without a reload", async () => {
    const t = await threeMembers()
    const { alice, bob } = t
    await alice.append('audit.note', { text: 'an event bob will hold' })
    const url = `${couch.root}/devices`
    await couch.request('PUT', '/devices', undefined, ADMIN)
    for (const v of t.all) await v.close()
    for (const dir of [alice.dir, bob.dir]) {
      const r = spawnSync(
        process.execPath,
        [CLI, 'sync', 'couch', '--dir', dir, '--url', url, '--user', ADMIN.username, '--admin'],
        { env: { ...process.env, TRESOR_PASSPHRASE: PASS, TRESOR_COUCH_PASSWORD: ADMIN.password }, encoding: 'utf8' }
      )
      expect(r.status, r.stderr).toBe(0)
    }
    const da = await serve(alice.dir, ['--sync'])
    const page = await open(da)
    await nav(page, 'Devices')
    const bobRow = page.locator(`tr[data-key="${bob.device}"]`)
    await bobRow.getByText('never reported').waitFor()
    await page
      .locator(`tr[data-key="${alice.device}"]`)
      .getByText(/this device/)
      .waitFor()
    await shot(page, 'devices')
    // bob's copy of alice's note rots on disk; bob's daemon starts, its check fails, and it says so
    await withRawDb(bob.dir, async (raw) => {
      const doc = await raw.get(`ev!${alice.device}!000000000002`)
      await raw.put({ ...doc, raw: String(doc.raw).replace('an event', 'AN EVENT') })
    })
    const dbob = await serve(bob.dir, ['--sync'])
    await bobRow.getByText(/READ-ONLY/).waitFor({ timeout: 30_000 })
    await page
      .getByTestId('devices-alert')
      .getByText(/bob's device/)
      .waitFor()
    expect(await bobRow.getByText(/FAILED/).count()).toBe(1)
    await shot(page, 'devices-failed')
    // bob's own page says READ-ONLY too; alice's vault is untouched
    const pb = await open(dbob)
    await pb.getByTestId('read-only-banner').waitFor()
    await pb.close()
    await page.close()
    expect(browser.errors.join('\n')).toBe('')
  }, 120_000)

  it('ui - a tampered vault shows the READ-ONLY banner with the reason', async () => {
    const vault = await makeVault({ notes: 3 })
    const { dir, device } = vault
    await vault.close()
    await withRawDb(dir, async (raw) => {
      const doc = await raw.get(`ev!${device}!000000000003`)
      await raw.put({ ...doc, raw: String(doc.raw).replace('note 1', 'note X') })
    })
    const d = await serve(dir)
    const page = await open(d)
    const banner = page.getByTestId('read-only-banner')
    await banner.waitFor()
    expect(await banner.textContent()).toMatch(/READ-ONLY.*REWRITTEN/)
    await shot(page, 'read-only')
    await page.close()
  }, 60_000)

  it('ui - a damaged database: the banner says so, Health → Recover with a bundle file rebuilds it, the notice clears and the log is whole again', async () => {
    const vault = await makeVault({ notes: 3 })
    const { dir } = vault
    await vault.close()
    const bundle = join(await tempDir(), 'all.bundle')
    expect(
      spawnSync(process.execPath, [CLI, 'bundle', 'export', '--dir', dir, '--out', bundle], {
        env: { ...process.env, TRESOR_PASSPHRASE: PASS }
      }).status
    ).toBe(0)
    // the events now sit in a table; zero it
    for (const f of readdirSync(join(dir, 'events.db')))
      if (f.endsWith('.ldb'))
        writeFileSync(join(dir, 'events.db', f), Buffer.alloc(statSync(join(dir, 'events.db', f)).size))
    const d = await serve(dir)
    const page = await open(d)
    const banner = page.getByTestId('read-only-banner')
    await banner.waitFor()
    expect(await banner.textContent()).toMatch(/damaged/)
    await nav(page, 'Health')
    const form = page.getByTestId('recover')
    await form.getByLabel('Device key passphrase').fill(PASS)
    await form.getByLabel('Bundle file (optional)').setInputFiles(bundle)
    await shot(page, 'recover-damaged')
    await form.getByRole('button', { name: 'Recover' }).click()
    const result = page.getByTestId('recovery-result')
    await result.waitFor({ timeout: 30_000 })
    expect(await result.textContent()).toMatch(/from the bundle.*Nothing the last verified check knew is missing/)
    await banner.waitFor({ state: 'detached', timeout: 30_000 })
    await shot(page, 'recover-done')
    await nav(page, 'Audit log')
    await page.getByText('4 events').waitFor()
    // the badges follow the check the recovery ran (pushed to the page): wait for the fourth, then none is missing
    await page.getByText('✓ verified').nth(3).waitFor()
    expect(await page.getByText('✓ verified').count()).toBe(4)
    await shot(page, 'recover-log')
    await page.close()
  }, 90_000)

  it("ui - another member's forked key: the vault stays healthy, Members marks the key frozen, the audit log badges its events from the fork on", async () => {
    const bob = nacl.sign.keyPair()
    const bobKey = Buffer.from(bob.publicKey).toString('hex')
    const vault = await makeVault({ notes: 1, members: [{ name: 'bob', roles: ['operator'], keys: [bobKey] }] })
    const { signEvent } = await import('../core/envelope.js')
    const { eventDocId } = await import('../core/store.js')
    const note = (seq: number, prev: string, text: string) =>
      signEvent(
        {
          v: 2,
          vault: vault.vaultId,
          author: bobKey,
          seq,
          prev,
          ts: new Date().toISOString(),
          type: 'audit.note',
          payload: { text },
          deps: []
        },
        bob.secretKey
      )
    const b1 = note(1, vault.vaultId, 'bob on site')
    const [b2, b2x] = [note(2, b1.id, 'all fine'), note(2, b1.id, 'all fine, says the copy')]
    for (const batch of [[b1, b2], [b2x]])
      await vault.ingest(batch.map((d) => ({ docId: eventDocId(bobKey, d.event.seq), raw: d.raw })))
    const dir = vault.dir
    await vault.close()
    const d = await serve(dir)
    const page = await open(d)
    await page.getByRole('heading', { name: 'Health' }).waitFor()
    expect(await page.getByTestId('read-only-banner').count()).toBe(0)
    await nav(page, 'Members & keys')
    await page.getByText('forked at #2: frozen').waitFor()
    await shot(page, 'members-forked')
    await nav(page, 'Audit log')
    await page
      .getByText(/forked key/)
      .first()
      .waitFor()
    await shot(page, 'audit-log-forked')
    expect(browser.errors.join('\n')).toBe('')
    await page.close()
  }, 60_000)

  it("ui - a member's key that showed a witness two histories: every device's Devices screen says so, naming the key and the device that reported it", async () => {
    const { alice, bob, bob2, carol } = await threeMembers()
    for (let i = 0; i < 4; i++) await alice.append('audit.note', { text: `n ${i}` })
    // alice's key, held by an attacker, shows bob's witness another history at the size of her next checkpoint
    const key = await stolenKey(alice)
    const origin = feedOrigin(alice.vaultId, alice.device)
    const size = alice.heads()[alice.device]!.length
    const lie = signNote(formatCheckpoint({ origin, size, root: leafHash(new TextEncoder().encode('elsewhere')) }), [
      { name: origin, secretKey: key.keyPair.secretKey }
    ])
    const witness = new VaultWitness(bob)
    expect((await (await witness.open()).addCheckpoint(formatAddCheckpoint(0, [], lie))).status).toBe(200)
    await makeCheckpoint(alice)
    await carry(alice, bob)
    expect(await witness.pass()).toEqual({ cosigned: 0, splitViews: 1 })
    await carry(bob, carol)
    for (const v of [alice, bob, bob2, carol]) await v.close()
    const d = await serve(carol.dir)
    const page = await open(d)
    await nav(page, 'Devices')
    const alert = page.getByTestId('split-view')
    await alert.waitFor()
    expect(await alert.innerText()).toMatch(
      new RegExp(`alice's device ${alice.device.slice(0, 8)}… showed two histories.*reported by bob's device`)
    )
    await page.locator(`tr[data-key="${alice.device}"]`).getByText('showed a split view').waitFor()
    await shot(page, 'devices-split-view')
    expect(browser.errors.join('\n')).toBe('')
    await page.close()
  }, 60_000)

  it('ui - every screen at 1280×800 and 800×600, light and dark: nothing overflows sideways, and the narrow navigation folds behind a menu', async () => {
    const t = await streamingVaults()
    const store = await TelemetryStore.open(t.alice)
    await store.ingest([...boilerLines(200, 'matrix'), '{"broken": '])
    await store.close()
    await propose(
      t.alice,
      { kind: 'vault.settings', args: { settings: { telemetryBudgetKB: 2048 } } },
      'room for a day offline'
    )
    const dir = t.alice.dir
    await t.alice.close()
    await t.bob.close()
    const d = await serve(dir)
    const page = await open(d)
    await page.getByRole('heading', { name: 'Health' }).waitFor()
    const screens = [
      'Health',
      'Inbox',
      'Audit log',
      'Members & keys',
      'Devices',
      'Flags & gates',
      'Registers',
      'Documents',
      'Telemetry',
      'Sync'
    ]
    const go = async (label: string) => {
      const toggle = page.locator('.nav-toggle')
      if (await toggle.isVisible()) {
        if ((await toggle.getAttribute('aria-expanded')) !== 'true') await toggle.click()
      }
      await nav(page, label)
    }
    const overflow: string[] = []
    const a11y: string[] = []
    for (const [width, height] of [
      [1280, 800],
      [800, 600]
    ] as const) {
      await page.setViewportSize({ width, height })
      for (const scheme of ['light', 'dark'] as const) {
        await page.emulateMedia({ colorScheme: scheme })
        for (const label of [...screens, 'proposal']) {
          if (label === 'proposal') {
            await go('Inbox')
            await page.getByRole('button', { name: 'change a setting' }).first().click()
            await page.getByTestId('changes').waitFor()
          } else {
            await go(label)
            await page.locator('main .panel').first().waitFor()
          }
          const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
          if (wide > 0) overflow.push(`${label} at ${width}×${height} (${scheme}): ${wide}px too wide`)
          if (width === 1280 || scheme === 'light')
            for (const p of await accessibilityProblems(page)) a11y.push(`${label} ${width} ${scheme}: ${p}`)
          await shot(page, `matrix/${label.replace(/[^a-z]+/gi, '-').toLowerCase()}-${width}x${height}-${scheme}`)
        }
      }
      if (width === 800) {
        // narrow: the menu folds the list away after a choice and names the screen it is on
        expect(await page.locator('nav ul').isVisible()).toBe(false)
        expect(await page.locator('.nav-toggle').textContent()).toMatch(/Inbox/)
      }
    }
    // the audit log's event sheet, open over the list
    await page.setViewportSize({ width: 1280, height: 800 })
    await page.emulateMedia({ colorScheme: 'light' })
    await go('Audit log')
    await page
      .getByRole('table', { name: 'Audit log entries' })
      .getByRole('button', { name: 'gov.approve' })
      .first()
      .click()
    const sheet = page.getByRole('dialog', { name: /Event gov.approve/ })
    await sheet.waitFor()
    for (const p of await accessibilityProblems(page)) a11y.push(`event sheet: ${p}`)
    await shot(page, 'matrix/audit-log-event-1280x800-light')
    // Escape puts it away; the proposer's name is a link to their row in Members
    await page.keyboard.press('Escape')
    await sheet.waitFor({ state: 'detached' })
    await page
      .getByRole('table', { name: 'Audit log entries' })
      .getByRole('button', { name: 'gov.approve' })
      .first()
      .click()
    await sheet.getByRole('button', { name: 'alice', exact: true }).click()
    await page.getByRole('heading', { name: 'Members and keys' }).waitFor()
    expect(await page.locator('tr[aria-current="true"] td').first().textContent()).toMatch(/^alice/)
    expect(overflow).toEqual([])
    expect(a11y).toEqual([])
    await page.close()
    expect(browser.errors.join('\n')).toBe('')
  }, 120_000)

  it('ui - the three jobs through the UI only: founding with a co-founder, an offline approval session by bundle files between two daemons, review before → after with confirmation, "ready for you to commit" with a notification; an invalid setting is refused before signing', async () => {
    const root = await tempDir()
    const [da, db] = [await serve(join(root, 'alice')), await serve(join(root, 'bob'))]
    // Notifications are the browser's own; the page records what it was asked to show.
    await browser.context.grantPermissions(['notifications'])
    await browser.context.addInitScript(() => {
      const Real = window.Notification
      const shown: string[] = []
      ;(window as unknown as { shown: string[] }).shown = shown
      class Recorded extends Real {
        constructor(title: string, options?: NotificationOptions) {
          super(title, options)
          shown.push(`${title}: ${options?.body ?? ''}`)
        }
      }
      Object.defineProperty(window, 'Notification', { value: Recorded })
    })

    // bob's device makes its key and hands the public key over (copy button)
    const pb = await open(db)
    await pb.getByRole('heading', { name: 'Set up this device' }).waitFor()
    await pb.getByRole('tab', { name: 'Join a vault' }).click()
    const keyForm = pb.getByRole('form', { name: "Make this device's key" })
    await keyForm.getByLabel('Your member name').fill('bob')
    await keyForm.getByLabel(/Passphrase for the key/).fill(PASS)
    await keyForm.getByLabel('Repeat the passphrase').fill(PASS)
    await keyForm.getByRole('button', { name: 'Make the key' }).click()
    const bobKey = (await pb.getByTestId('device-key').textContent())!.trim()
    expect(bobKey).toMatch(/^[0-9a-f]{64}$/)
    await shot(pb, 'onboarding-key')

    // alice founds the vault with bob as co-founder
    const pa = await open(da)
    await pa.getByRole('heading', { name: 'Set up this device' }).waitFor()
    await shot(pa, 'onboarding')
    const form = pa.getByRole('form', { name: 'Create a vault' })
    await form.getByLabel('Vault name').fill('Plant 7')
    await form.getByLabel('Your member name').fill('alice')
    const cofounder = form.getByRole('group', { name: 'Co-founder 1' })
    await cofounder.getByLabel('Name').fill('bob')
    await cofounder.getByLabel(/Public key/).fill(bobKey)
    await form.getByLabel(/Passphrase for this device/).fill(PASS)
    await form.getByLabel('Repeat the passphrase').fill(PASS)
    expect(await form.getByTestId('founding-policy').textContent()).toMatch(/2 founding members/)
    await shot(pa, 'onboarding-founding')
    await form.getByRole('button', { name: 'Create the vault' }).click()
    await pa.getByRole('heading', { name: 'Health' }).waitFor({ timeout: 30_000 })
    await pa.getByText('Signing key unlocked').waitFor()

    // an invalid setting is refused before anything is signed
    await nav(pa, 'Flags & gates')
    const setting = pa.getByRole('form', { name: 'Propose a setting' })
    await setting.getByLabel(/New value/).fill('8')
    await setting.getByText('telemetryBudgetKB must be between 16 KiB and 1,024 GiB').waitFor()
    expect(await setting.getByRole('button', { name: 'Sign the proposal' }).isDisabled()).toBe(true)
    await setting.getByLabel(/New value/).fill('2048')
    await setting.getByText('512 MiB → 2 MiB').waitFor()
    await shot(pa, 'settings')

    // alice proposes; her inbox says it waits on bob
    await pa.getByTestId('flag-finance_enabled').getByRole('button', { name: 'Propose on: finance_enabled' }).click()
    const draft = pa.getByRole('form', { name: 'New proposal' })
    await draft.getByLabel(/Reason/).fill('ledger tests and audit proof exist')
    await draft.getByRole('button', { name: 'Sign the proposal' }).click()
    await expect.poll(() => pa.getByTestId('proposal-status').textContent()).toBe('open')
    await nav(pa, 'Inbox')
    await pa.getByTestId('waiting-list').getByText('waiting on bob').waitFor()
    await pa.getByRole('button', { name: 'Notify me of new items' }).click()
    await pa.getByRole('button', { name: 'Notifications on' }).waitFor()

    // the bundle for bob goes out as a file…
    const carry = async (from: Page, to: string, name: string): Promise<string> => {
      await nav(from, 'Sync')
      const out = from.getByRole('form', { name: 'Export a bundle' })
      await out.getByLabel('Export for').selectOption(to)
      await out.getByRole('button', { name: 'Sign the bundle' }).click()
      const link = from.getByTestId('bundle-ready').getByRole('link')
      const [download] = await Promise.all([from.waitForEvent('download'), link.click()])
      const file = join(root, name)
      await download.saveAs(file)
      return file
    }
    const forBob = await carry(pa, 'bob', 'for-bob.bundle')
    expect(await pa.getByTestId('bundle-ready').textContent()).toMatch(
      /everything: nothing is known yet of what bob's device holds/
    )
    await shot(pa, 'sync-bundles')

    // …and bob's offline device joins from it
    await pb.getByRole('form', { name: 'Join from a bundle' }).getByLabel('Bundle file').setInputFiles(forBob)
    await pb.getByRole('form', { name: 'Join from a bundle' }).getByLabel('Device key passphrase').fill(PASS)
    await pb.getByRole('form', { name: 'Join from a bundle' }).getByRole('button', { name: 'Join' }).click()
    await pb.getByRole('heading', { name: 'Health' }).waitFor({ timeout: 30_000 })

    // bob reviews what it changes, and approves after confirming what he signs
    await nav(pb, 'Inbox')
    await pb.getByTestId('inbox-list').getByRole('button', { name: 'switch finance_enabled on' }).click()
    await pb
      .getByTestId('changes')
      .getByRole('row', { name: /finance_enabled off on/ })
      .waitFor()
    await pb.getByRole('button', { name: 'Approve…' }).click()
    await shot(pb, 'proposal-confirm')
    await pb.getByRole('button', { name: 'Sign the approval' }).click()
    await pb.getByText('nothing: ready to commit').waitFor()
    const forAlice = await carry(pb, 'alice', 'for-alice.bundle')
    expect(await pb.getByTestId('bundle-ready').textContent()).toMatch(
      /^1 event\(s\), what alice's device is not known to hold/
    )

    // alice imports it: the summary names bob's approval, and her inbox (title, nav, a notification) says commit
    await nav(pa, 'Sync')
    await pa.getByLabel(/Import a bundle/).setInputFiles(forAlice)
    await expect
      .poll(() => pa.getByTestId('bundle-imported').textContent())
      .toMatch(/1 new event\(s\) from bob.*bob approved: switch finance_enabled on/)
    await shot(pa, 'sync-imported')
    await nav(pa, 'Inbox')
    await pa.getByTestId('commit-list').getByRole('button', { name: 'switch finance_enabled on' }).waitFor()
    await expect.poll(() => pa.title()).toBe('(1) Tresor')
    await expect
      .poll(() => pa.evaluate(() => (window as unknown as { shown: string[] }).shown))
      .toEqual(['Tresor: switch finance_enabled on is ready for you to commit'])
    await shot(pa, 'inbox-ready-to-commit')
    await pa.getByTestId('commit-list').getByRole('button', { name: 'switch finance_enabled on' }).click()
    await pa.getByRole('button', { name: 'Commit…' }).click()
    await pa.getByRole('button', { name: 'Sign the commit' }).click()
    await expect.poll(() => pa.getByTestId('proposal-status').textContent()).toBe('committed')
    await expect.poll(() => pa.title()).toBe('Tresor')
    await pb.close()
    await pa.close()
    expect(browser.errors.join('\n')).toBe('')
  }, 120_000)
})
