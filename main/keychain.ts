/**
 * Remembering the device passphrase on the desktop, through the OS keychain
 * (Electron's safeStorage). Only where the keychain really protects it: on
 * Linux the `basic_text` backend (a hard-coded key, no keyring) is refused.
 * The sealed passphrase is a file beside the vault, readable by the owner
 * only; it never reaches the renderer. Free of Electron (safeStorage is
 * passed in) so it is tested in Node.
 */
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/** The part of Electron's safeStorage used here. */
export interface SafeStorageLike {
  isEncryptionAvailable(): boolean
  /** Linux only: 'basic_text', 'gnome_libsecret', 'kwallet', … */
  getSelectedStorageBackend?(): string
  encryptString(plain: string): Buffer
  decryptString(sealed: Buffer): string
}

export const KEYCHAIN_FILE = 'passphrase.keychain'

export class Keychain {
  constructor(
    private readonly dir: string,
    private readonly safe: SafeStorageLike,
    private readonly platform: NodeJS.Platform = process.platform
  ) {}

  /** Whether the passphrase may be remembered here, and if not, why. */
  available(): { ok: true } | { ok: false; reason: string } {
    if (!this.safe.isEncryptionAvailable()) return { ok: false, reason: 'no OS keychain is available' }
    if (this.platform === 'linux') {
      const backend = this.safe.getSelectedStorageBackend?.() ?? 'unknown'
      if (backend === 'basic_text' || backend === 'unknown')
        return {
          ok: false,
          reason: `the keychain backend here (${backend}) does not protect secrets: the passphrase is not remembered`
        }
    }
    return { ok: true }
  }

  async remember(passphrase: string): Promise<void> {
    const a = this.available()
    if (!a.ok) throw new Error(a.reason)
    await writeFile(join(this.dir, KEYCHAIN_FILE), this.safe.encryptString(passphrase), { mode: 0o600 })
  }

  /** The remembered passphrase, or null (none, keychain gone, or not decryptable any more). */
  async recall(): Promise<string | null> {
    if (!this.available().ok) return null
    const sealed = await readFile(join(this.dir, KEYCHAIN_FILE)).catch(() => null)
    if (!sealed) return null
    try {
      return this.safe.decryptString(sealed)
    } catch {
      return null
    }
  }

  /** Whether a sealed passphrase is stored (without decrypting it: some keychains prompt on every read). */
  async has(): Promise<boolean> {
    return readFile(join(this.dir, KEYCHAIN_FILE)).then(
      () => true,
      () => false
    )
  }

  async forget(): Promise<void> {
    await rm(join(this.dir, KEYCHAIN_FILE), { force: true })
  }
}
