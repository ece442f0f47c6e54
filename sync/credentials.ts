/**
 * CouchDB credentials at rest: sealed with the device passphrase (scrypt +
 * secretbox, the same scheme as the device key), bound to the server URL and
 * user name. Never logged, never synced.
 */
import { join } from 'node:path'
import {
  MALFORMED,
  openSecret,
  readJsonFileIfExists,
  sealSecret,
  writeJsonFile,
  type SealedSecret
} from '../core/index.js'
import type { Credentials } from './remote.js'

export const CREDENTIALS_FILE = 'couch-credentials.json'
export const GIT_CREDENTIALS_FILE = 'git-credentials.json'

/** Which service the credentials are for: CouchDB (user + password) or a Git host (token). */
export type CredentialKind = 'couch' | 'git'
const FILES: Record<CredentialKind, string> = { couch: CREDENTIALS_FILE, git: GIT_CREDENTIALS_FILE }

interface CredentialsFile extends SealedSecret {
  format: string
  v: 1
  url: string
  username: string
}

const format = (kind: CredentialKind) => `tresor-${kind}-credentials`
const header = (kind: CredentialKind, url: string, username: string) => ({ format: format(kind), v: 1, url, username })

export async function saveCredentials(
  dir: string,
  url: string,
  credentials: Credentials,
  passphrase: string,
  kind: CredentialKind = 'couch'
): Promise<void> {
  const sealed = await sealSecret(
    passphrase,
    new TextEncoder().encode(credentials.password),
    header(kind, url, credentials.username)
  )
  const file: CredentialsFile = { format: format(kind), v: 1, url, username: credentials.username, ...sealed }
  await writeJsonFile(join(dir, FILES[kind]), file)
}

/** The stored credentials for `url`, or null when none are stored for it. KEY_AUTH_FAILED on a wrong passphrase. */
export async function loadCredentials(
  dir: string,
  url: string,
  passphrase: string,
  kind: CredentialKind = 'couch'
): Promise<Credentials | null> {
  const file = (await readJsonFileIfExists(join(dir, FILES[kind]), 64 * 1024, 4)) as unknown as CredentialsFile | null
  if (!file) return null
  if (file.format !== format(kind) || file.v !== 1) throw MALFORMED(`${FILES[kind]} is not a Tresor credentials file`)
  if (file.url !== url) return null
  const password = await openSecret(passphrase, file, header(kind, file.url, file.username))
  return { username: file.username, password: new TextDecoder().decode(password) }
}
