import { afterAll, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { readFile, writeFile } from 'node:fs/promises'
import { createKeyFile, openKeyFile, readKeyFile, writeKeyFile, type KeyFile } from '../core/keys.js'
import { cleanupDirs, codeOf, FAST_KDF, PASS, tempDir } from './helpers.js'

describe('keys', () => {
  afterAll(cleanupDirs)

  it('keys - a key file opens with its passphrase and holds no secret in clear', async () => {
    const { file, key } = await createKeyFile('laptop', PASS, FAST_KDF)
    const text = JSON.stringify(file)
    expect(text).not.toContain(Buffer.from(key.keyPair.secretKey.subarray(0, 32)).toString('hex'))
    expect(text).not.toContain(Buffer.from(key.keyPair.secretKey).toString('base64').slice(0, 40))
    const opened = await openKeyFile(file, PASS)
    expect(Buffer.from(opened.keyPair.secretKey).equals(Buffer.from(key.keyPair.secretKey))).toBe(true)
    expect(file.kdf).toMatchObject({ name: 'scrypt', N: FAST_KDF.N, r: 8, p: 1 })
  })

  it('keys - a wrong passphrase is KEY_AUTH_FAILED', async () => {
    const { file } = await createKeyFile('laptop', PASS, FAST_KDF)
    expect(await codeOf(openKeyFile(file, 'wrong'))).toBe('KEY_AUTH_FAILED')
  })

  it('keys - any altered field is KEY_AUTH_FAILED', async () => {
    const { file } = await createKeyFile('laptop', PASS, FAST_KDF)
    const other = (await createKeyFile('other', PASS, FAST_KDF)).file
    const flip = (b64: string) => {
      const b = Buffer.from(b64, 'base64')
      b[5]! ^= 1
      return b.toString('base64')
    }
    const altered: KeyFile[] = [
      { ...file, name: 'attacker' },
      { ...file, publicKey: other.publicKey },
      { ...file, box: flip(file.box) },
      { ...file, nonce: flip(file.nonce) },
      { ...file, kdf: { ...file.kdf, salt: other.kdf.salt } },
      { ...file, kdf: { ...file.kdf, r: 9 } }
    ]
    for (const f of altered) expect(await codeOf(openKeyFile(f, PASS))).toBe('KEY_AUTH_FAILED')
  })

  it('keys - KDF parameters outside the bounds are refused before any work', async () => {
    const { file } = await createKeyFile('laptop', PASS, FAST_KDF)
    expect(await codeOf(openKeyFile({ ...file, kdf: { ...file.kdf, N: 2 ** 30 } }, PASS))).toBe('KDF_OUT_OF_BOUNDS')
    expect(await codeOf(openKeyFile({ ...file, kdf: { ...file.kdf, N: 1024 } }, PASS))).toBe('KDF_OUT_OF_BOUNDS')
    expect(await codeOf(openKeyFile({ ...file, kdf: { ...file.kdf, N: 3 * 2 ** 14 } }, PASS))).toBe('KDF_OUT_OF_BOUNDS')
    expect(await codeOf(openKeyFile({ ...file, kdf: { ...file.kdf, p: 64 } }, PASS))).toBe('KDF_OUT_OF_BOUNDS')
    expect(await codeOf(openKeyFile({ ...file, kdf: { ...file.kdf, salt: 'AAAA' } }, PASS))).toBe('KDF_OUT_OF_BOUNDS')
  })

  it('keys - a key file is never overwritten and is private to its owner', async () => {
    const dir = await tempDir()
    const path = join(dir, 'device.key')
    const { file } = await createKeyFile('laptop', PASS, FAST_KDF)
    await writeKeyFile(path, file)
    expect(await codeOf(writeKeyFile(path, (await createKeyFile('x', PASS, FAST_KDF)).file))).toBe('ALREADY_EXISTS')
    expect((await readKeyFile(path)).publicKey).toBe(file.publicKey)
    const { stat } = await import('node:fs/promises')
    expect((await stat(path)).mode & 0o077).toBe(0)
  })

  it('keys - a key file that is not JSON or far too large is a clear error', async () => {
    const dir = await tempDir()
    await writeFile(join(dir, 'a.key'), '{"format":')
    await writeFile(join(dir, 'b.key'), 'x'.repeat(100_000))
    expect(await codeOf(readKeyFile(join(dir, 'a.key')))).toBe('MALFORMED')
    expect(await codeOf(readKeyFile(join(dir, 'b.key')))).toBe('OVERSIZED')
    expect(await codeOf(readKeyFile(join(dir, 'none.key')))).toBe('NOT_FOUND')
    expect(await readFile(join(dir, 'a.key'), 'utf8')).toBe('{"format":')
  })
})
