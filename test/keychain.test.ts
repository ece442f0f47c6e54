import { afterAll, describe, expect, it } from 'vitest'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Keychain, KEYCHAIN_FILE, type SafeStorageLike } from '../main/keychain.js'
import { unlockFromKeychain, withKeychain } from '../main/desktop-host.js'
import { createHandlers } from '../core/api.js'
import { cleanupDirs, makeVault, PASS } from './helpers.js'

/** A stand-in for Electron's safeStorage: a real (reversible) transform and a chosen backend. */
function fakeSafeStorage(backend: string, available = true): SafeStorageLike {
  return {
    isEncryptionAvailable: () => available,
    getSelectedStorageBackend: () => backend,
    encryptString: (s) => Buffer.from([...Buffer.from(s)].map((b) => b ^ 0x5a)),
    decryptString: (b) => Buffer.from([...b].map((x) => x ^ 0x5a)).toString()
  }
}

describe('desktop keychain', () => {
  afterAll(cleanupDirs)

  it('keychain - on Linux the basic_text backend is refused; nothing is written', async () => {
    const vault = await makeVault()
    const kc = new Keychain(vault.dir, fakeSafeStorage('basic_text'), 'linux')
    expect(kc.available()).toMatchObject({ ok: false, reason: expect.stringMatching(/basic_text.*not remembered/) })
    const api = withKeychain(createHandlers(vault), kc)
    await expect(api['vault.unlock']({ passphrase: PASS, remember: true })).rejects.toThrow(/basic_text/)
    expect(await kc.has()).toBe(false)
    expect((await api['vault.status']({})).keychain).toMatchObject({ ok: false, remembered: false })
    expect(new Keychain(vault.dir, fakeSafeStorage('gnome_libsecret', false), 'linux').available().ok).toBe(false)
    await vault.close()
  })

  it('keychain - a remembered passphrase is sealed at rest, unlocks once at start, and is forgotten on request or when it stops working', async () => {
    const vault = await makeVault()
    vault.lock()
    const kc = new Keychain(vault.dir, fakeSafeStorage('gnome_libsecret'), 'linux')
    const api = withKeychain(createHandlers(vault), kc)
    await api['vault.unlock']({ passphrase: PASS, remember: true })
    const sealed = await readFile(join(vault.dir, KEYCHAIN_FILE))
    expect(sealed.includes(Buffer.from(PASS))).toBe(false)
    expect((await api['vault.status']({})).keychain).toEqual({ ok: true, remembered: true })
    vault.lock()
    expect(await unlockFromKeychain(api, kc)).toBe(true)
    expect(vault.unlocked).toBe(true)
    await api['vault.lock']({ forget: true })
    expect(await kc.has()).toBe(false)
    expect(await unlockFromKeychain(api, kc)).toBe(false)
    await kc.remember('not the passphrase')
    expect(await unlockFromKeychain(api, kc)).toBe(false)
    expect(await kc.has()).toBe(false) // a passphrase that no longer opens the key is dropped
    await vault.close()
  })
})
