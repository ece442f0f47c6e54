/**
 * CouchDB credentials at rest: sealed with the device passphrase (scrypt +
 * secretbox, the same scheme as the device key), bound to the server URL and
 * user name. Never logged, never synced.
 */
import { join } from 'node:path'
import { openSecret, sealSecret, type SealedSecret } from '../core/secret-box.js'
import { readJsonFileIfExists, writeJsonFile } from '../core/files.js'
import { MALFORMED } from '../core/errors.js'
import type { Credentials } from './remote.js'

export const CREDENTIALS_FILE = 'couch-credentials.json'

interface CredentialsFile extends SealedSecret { format: 'tresor-couch-credentials'; v: 1; url: string; username: string }

const header = (url: string, username: string) => ({ format: 'tresor-couch-credentials', v: 1, url, username })

export async function saveCredentials(dir: string, url: string, credentials: Credentials, passphrase: string): Promise<void> {
  const sealed = await sealSecret(passphrase, new TextEncoder().encode(credentials.password), header(url, credentials.username))
  const file: CredentialsFile = { format: 'tresor-couch-credentials', v: 1, url, username: credentials.username, ...sealed }
  await writeJsonFile(join(dir, CREDENTIALS_FILE), file)
}

/** The stored credentials for `url`, or null when none are stored for it. KEY_AUTH_FAILED on a wrong passphrase. */
export async function loadCredentials(dir: string, url: string, passphrase: string): Promise<Credentials | null> {
  const file = await readJsonFileIfExists(join(dir, CREDENTIALS_FILE), 64 * 1024, 4) as unknown as CredentialsFile | null
  if (!file) return null
  if (file.format !== 'tresor-couch-credentials' || file.v !== 1) throw MALFORMED(`${CREDENTIALS_FILE} is not a Tresor credentials file`)
  if (file.url !== url) return null
  const password = await openSecret(passphrase, file, header(file.url, file.username))
  return { username: file.username, password: new TextDecoder().decode(password) }
}
