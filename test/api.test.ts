import { afterAll, describe, expect, it } from 'vitest'
import { createHandlers } from '../core/api.js'
import { Vault } from '../core/vault.js'
import { openHost } from '../core/host.js'
import { join } from 'node:path'
import { cleanupDirs, codeOf, makeVault, PASS, tempDir, withRawDb } from './helpers.js'

describe('core api for the UI', () => {
  afterAll(cleanupDirs)

  it('api - the audit log pages in time order with filters, facets and a verification badge per event, and follows new appends', async () => {
    const vault = await makeVault({ notes: 30 })
    const api = createHandlers(vault)
    const all = await api['log.list']({ limit: 10 })
    expect(all.total).toBe(31)
    expect(all.entries[0]).toMatchObject({ type: 'vault.genesis', seq: 1 })
    expect(all.types).toEqual(['audit.note', 'vault.genesis'])
    expect(all.authors).toEqual([vault.device])
    const page = await api['log.list']({ offset: 25, limit: 10, type: 'audit.note' })
    expect(page).toMatchObject({ total: 30 })
    expect(page.entries.map((e) => e.seq)).toEqual([27, 28, 29, 30, 31])
    // Signed here after the boot check: part of a feed the vault holds as verified.
    await vault.append('audit.note', { text: 'late' })
    const late = await api['log.list']({ offset: 31, limit: 5 })
    expect(late.entries.map((e) => [e.seq, e.badge])).toEqual([[32, 'verified']])
    const mid = all.entries[5]!
    const window = await api['log.list']({ from: mid.ts, to: mid.ts })
    expect(window.entries.map((e) => e.id)).toContain(mid.id)
    expect((await api['log.get']({ author: vault.device, seq: 2 })).payload).toEqual({ text: 'note 0' })
    expect(await codeOf(api['log.get']({ author: vault.device, seq: 999 }))).toBe('NOT_FOUND')
    expect(await codeOf(api['log.list']({ limit: 5000 }))).toBe('BAD_ARGUMENT')
    await vault.close()
  })

  it('api - a rewritten event carries the failed badge in a READ-ONLY vault', async () => {
    const vault = await makeVault({ notes: 3 })
    const dir = vault.dir
    await vault.close()
    await withRawDb(dir, async (db) => {
      const doc = await db.get(`ev!${vault.device}!000000000003`)
      await db.put({ ...doc, raw: String(doc.raw).replace('note 1', 'note X') })
    })
    const v = await Vault.open({ dir })
    const res = await createHandlers(v)['log.list']({})
    expect(v.health.state).toBe('read-only')
    expect(res.entries.find((e) => e.seq === 3)!.badge).toBe('failed')
    await v.close()
  })

  it('api - bundles move through the API; a non-bundle is refused with the reason', async () => {
    const a = await makeVault({ notes: 2 })
    const api = createHandlers(a)
    const { text, events } = await api['bundle.export']({})
    expect(events).toBe(3)
    expect(await api['bundle.import']({ text })).toMatchObject({ admitted: 0, duplicates: 3 })
    expect(await codeOf(api['bundle.import']({ text: '[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]' }))).toBe(
      'TOO_DEEP'
    )
    expect(await codeOf(api['bundle.export']({ since: { x: -1 } }))).toBe('BAD_ARGUMENT')
    await a.close()
  })

  it('api - the device key locks itself after the auto-lock time without signing', async () => {
    const vault = await makeVault()
    vault.lock()
    const api = createHandlers(vault, { autoLockMs: 50 })
    await api['vault.unlock']({ passphrase: PASS })
    expect(vault.unlocked).toBe(true)
    await new Promise((r) => setTimeout(r, 120))
    expect(vault.unlocked).toBe(false)
    expect(await codeOf(api['log.appendNote']({ text: 'x' }))).toBe('LOCKED')
    await vault.close()
  })

  it('host - an empty folder is onboarding: vault methods answer NOT_FOUND until a vault is created; create twice is refused', async () => {
    const dir = join(await tempDir(), 'fresh')
    const host = openHost({ dir })
    const h = host.handlers
    expect(await h['onboard.status']({})).toMatchObject({ hasVault: false, deviceKey: null, error: null })
    expect(await codeOf(h['vault.status']({}))).toBe('NOT_FOUND')
    const bob = { name: 'bob', roles: ['operator'], key: 'b0'.repeat(32) }
    expect(
      await codeOf(
        h['onboard.create']({
          vaultName: 'Ops',
          memberName: 'alice',
          roles: ['operator'],
          cofounders: [bob],
          passphrase: 'short'
        })
      )
    ).toBe('BAD_ARGUMENT')
    // founded alone, a vault could never change: a co-founder is required, and their key must be a key
    await expect(
      h['onboard.create']({
        vaultName: 'Ops',
        memberName: 'alice',
        roles: ['operator'],
        cofounders: [],
        passphrase: PASS
      })
    ).rejects.toThrow(/name at least one co-founder .*every change needs two distinct members/)
    await expect(
      h['onboard.create']({
        vaultName: 'Ops',
        memberName: 'alice',
        roles: ['operator'],
        cofounders: [{ ...bob, key: 'not-a-key' }],
        passphrase: PASS
      })
    ).rejects.toThrow(/co-founder 1's public key is 64 hex characters/)
    expect(await h['onboard.status']({})).toMatchObject({ hasVault: false })
    const created = await h['onboard.create']({
      vaultName: 'Ops',
      memberName: 'alice',
      roles: ['operator'],
      cofounders: [bob],
      passphrase: PASS
    })
    expect(created).toMatchObject({ hasVault: true, deviceKey: expect.stringMatching(/^[0-9a-f]{64}$/) })
    expect(await h['vault.status']({})).toMatchObject({ name: 'Ops', health: { state: 'ok' } })
    expect(
      await codeOf(
        h['onboard.create']({
          vaultName: 'Again',
          memberName: 'alice',
          roles: ['operator'],
          cofounders: [bob],
          passphrase: PASS
        })
      )
    ).toBe('ALREADY_EXISTS')
    await host.close()
    // Reopened: straight to the vault.
    const again = openHost({ dir })
    expect((await again.handlers['vault.status']({})).name).toBe('Ops')
    await again.close()
  })

  it('host - a second device makes its key, then joins from a bundle exported by a member', async () => {
    const root = await tempDir()
    const founder = openHost({ dir: join(root, 'a') })
    const device = openHost({ dir: join(root, 'b') })
    const { publicKey } = await device.handlers['onboard.keygen']({ name: 'bob', passphrase: PASS })
    await founder.handlers['onboard.create']({
      vaultName: 'Ops',
      memberName: 'alice',
      roles: ['operator'],
      cofounders: [{ name: 'bob', roles: ['operator'], key: publicKey }],
      passphrase: PASS
    })
    expect((await device.handlers['onboard.status']({})).deviceKey).toBe(publicKey)
    const { text } = await founder.handlers['bundle.export']({})
    expect(await codeOf(device.handlers['onboard.join']({ bundle: '{"not":"a bundle"}', passphrase: PASS }))).not.toBe(
      'NO_ERROR'
    )
    expect(await device.handlers['onboard.join']({ bundle: text, passphrase: PASS })).toMatchObject({
      hasVault: true,
      deviceKey: publicKey
    })
    const status = await device.handlers['vault.status']({})
    expect(status).toMatchObject({ name: 'Ops', events: 1, device: publicKey })
    await device.close()
    await founder.close()
  })
})
