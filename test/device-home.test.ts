/**
 * A vault folder copied to another place holds the original's device key: if
 * both sign, the key forks. The copy says so when it opens, before anything is
 * signed; a folder that was moved is confirmed once and is at home again.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { cp, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { Vault } from '../core/vault.js'
import { createHandlers } from '../core/api.js'
import { cleanupDirs, makeVault, tempDir } from './helpers.js'

describe('device home', () => {
  afterAll(cleanupDirs)

  it('home - a copied folder says where it was copied from; a moved one, once confirmed, is at home; the original never warns', async () => {
    const v = await makeVault({ notes: 1 })
    const original = v.dir
    expect(createHandlers(v)['vault.status']).toBeDefined()
    expect((await createHandlers(v)['vault.status']({})).moved).toBeNull()
    await v.close()
    expect(JSON.parse(await readFile(join(original, 'device-home.json'), 'utf8'))).toMatchObject({
      format: 'tresor-device-home',
      v: 1
    })
    const copy = join(await tempDir(), 'restored')
    await cp(original, copy, { recursive: true })
    const c = await Vault.open({ dir: copy })
    try {
      const status = await createHandlers(c)['vault.status']({})
      expect(status.moved).toMatchObject({ fromDir: expect.stringContaining(original.split('/').at(-1)!) })
      // the person says it was moved: the warning ends, and stays ended
      expect((await createHandlers(c)['vault.confirmHome']({})).moved).toBeNull()
    } finally {
      await c.close()
    }
    const again = await Vault.open({ dir: copy })
    expect(again.moved).toBeNull()
    await again.close()
    const back = await Vault.open({ dir: original })
    expect(back.moved).toBeNull() // the original never moved
    await back.close()
    // an older folder without a home takes its first place as home
    await rm(join(copy, 'device-home.json'))
    const older = await Vault.open({ dir: copy })
    expect(older.moved).toBeNull()
    await older.close()
  })
})
