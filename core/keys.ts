/**
 * Device keys: a tweetnacl Ed25519 keypair per device, the secret half stored
 * only inside an encrypted key file. Never log a secret key; it is key material.
 */
import { open } from 'node:fs/promises'
import { constants } from 'node:fs'
import { writeFileExclusive } from './files.js'
import { fromHex, toHex } from './bytes.js'
import { generateKeyPair, type KeyPair } from './ed25519.js'
import { ALREADY_EXISTS, KEY_AUTH_FAILED, MALFORMED, NOT_FOUND, OVERSIZED } from './errors.js'
import { openSecret, sealSecret, type SealedSecret } from './secret-box.js'
import { parseBounded } from './canonical.js'

export const KEY_FILE_FORMAT = 'tresor-device-key'
export const KEY_FILE_VERSION = 1

export interface KeyFile extends SealedSecret {
  format: typeof KEY_FILE_FORMAT
  v: typeof KEY_FILE_VERSION
  name: string
  publicKey: string
}

export interface DeviceKey {
  name: string
  publicKey: string
  keyPair: KeyPair
}

function header(file: Pick<KeyFile, 'format' | 'v' | 'name' | 'publicKey'>) {
  return { format: file.format, v: file.v, name: file.name, publicKey: file.publicKey }
}

/** Create a new keypair and its encrypted key file content. */
export async function createKeyFile(
  name: string,
  passphrase: string,
  kdf?: { N: number; r: number; p: number }
): Promise<{ file: KeyFile; key: DeviceKey }> {
  if (typeof name !== 'string' || name.trim() === '' || name.length > 128)
    throw MALFORMED('a device name (1-128 characters) is required')
  const keyPair = generateKeyPair()
  const publicKey = toHex(keyPair.publicKey)
  const head = { format: KEY_FILE_FORMAT, v: KEY_FILE_VERSION, name, publicKey } as const
  const sealed = await sealSecret(passphrase, keyPair.secretKey, head, kdf)
  return { file: { ...head, ...sealed }, key: { name, publicKey, keyPair } }
}

/** Decrypt a key file; KEY_AUTH_FAILED for a wrong passphrase or any alteration. */
export async function openKeyFile(file: KeyFile, passphrase: string): Promise<DeviceKey> {
  if (file?.format !== KEY_FILE_FORMAT || file.v !== KEY_FILE_VERSION)
    throw MALFORMED('not a Tresor v1 device key file')
  if (typeof file.name !== 'string' || fromHex(file.publicKey, 32) === null)
    throw MALFORMED('key file has no valid name or public key')
  const secretKey = await openSecret(passphrase, file, header(file))
  if (secretKey.length !== 64 || toHex(secretKey.subarray(32)) !== file.publicKey) {
    secretKey.fill(0)
    throw KEY_AUTH_FAILED('key file public key does not match its secret key')
  }
  return { name: file.name, publicKey: file.publicKey, keyPair: { publicKey: secretKey.slice(32), secretKey } }
}

/**
 * Create the key file; ALREADY_EXISTS if one is there (also when another process won a race to create it). Never
 * overwrites.
 */
export async function writeKeyFile(path: string, file: KeyFile): Promise<void> {
  try {
    await writeFileExclusive(path, JSON.stringify(file, null, 2) + '\n')
  } catch (err) {
    if ((err as { code?: string }).code === 'ALREADY_EXISTS')
      throw ALREADY_EXISTS(`a key file already exists at ${path}; refusing to overwrite it`)
    throw err
  }
}

const MAX_KEY_FILE = 16 * 1024

/** Read a key file: a regular file of at most 16 KiB (a FIFO or device in its place is refused, never waited on). */
export async function readKeyFile(path: string): Promise<KeyFile> {
  let fh
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw NOT_FOUND(`no device key at ${path}`)
    if (code === 'ELOOP') throw MALFORMED(`${path} is a symbolic link, not a key file`)
    throw NOT_FOUND(`no readable device key at ${path} (${code ?? (err as Error).message})`)
  }
  try {
    const st = await fh.stat()
    if (!st.isFile()) throw MALFORMED(`${path} is not a regular file, so it is not a key file`)
    if (st.size > MAX_KEY_FILE) throw OVERSIZED('key file is too large to be a Tresor key file')
    const text = await fh.readFile('utf8')
    if (text.length > MAX_KEY_FILE) throw OVERSIZED('key file is too large to be a Tresor key file')
    return parseBounded(text, MAX_KEY_FILE, 4) as unknown as KeyFile
  } finally {
    await fh.close()
  }
}
