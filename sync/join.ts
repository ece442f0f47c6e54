/**
 * Setting up a new device from a server the vault already syncs with: find
 * the vault's genesis (an event that hashes to its own vault id), adopt it
 * (the device key in the folder, or a new one), then run one full sync round
 * through the ingestion gate, and keep the credentials sealed. Used by the
 * hosts' onboarding (desktop and edge) and the CLI.
 */
import {
  BAD_ARGUMENT,
  decodeEvent,
  EVENT_PREFIX,
  GENESIS_TYPE,
  idRange,
  NOT_FOUND,
  Vault,
  type DecodedEvent,
  type Joiners,
  type JoinFromCouch,
  type JoinFromGit
} from '../core/index.js'
import { CouchSync } from './couch-sync.js'
import { saveCredentials } from './credentials.js'
import { joinFromGit } from './git-mirror.js'
import { reaching, remoteDb } from './remote.js'

export const joinFromCouch: JoinFromCouch = async ({ dir, url, user, password, passphrase }) => {
  const credentials = user ? { username: user, password } : undefined
  const remote = remoteDb(url, credentials)
  let genesis: DecodedEvent | null = null
  try {
    const ids = await remote.allDocs(idRange(EVENT_PREFIX))
    const firsts = ids.rows.filter((r) => r.id.endsWith('!000000000001')).map((r) => r.id)
    const docs = await remote.allDocs({ keys: firsts, include_docs: true })
    const found = new Map<string, DecodedEvent>()
    for (const row of docs.rows) {
      try {
        const d = decodeEvent(String((row.doc as { raw?: unknown } | undefined)?.raw), null)
        if (d.event.type === GENESIS_TYPE && d.event.vault === null) found.set(d.id, d)
      } catch {
        /* not a genesis; the gate will judge the rest */
      }
    }
    if (found.size === 0) throw NOT_FOUND('the database holds no vault genesis event')
    if (found.size > 1)
      throw BAD_ARGUMENT(`the database holds ${found.size} different vaults: give the URL of one vault's database`)
    genesis = [...found.values()][0]!
  } finally {
    // closing an HTTP client: the join result or its error is already decided
    await remote.close().catch(() => undefined)
  }
  const vault = await Vault.adopt({ dir, genesis, passphrase })
  const sync = await CouchSync.open(vault, { url, credentials })
  try {
    await sync.syncOnce()
  } finally {
    await sync.close()
  }
  if (credentials) await saveCredentials(dir, url, credentials, passphrase)
  await vault.boot({ full: true })
  return vault
}

export const joinGit: JoinFromGit = async ({ dir, url, token, passphrase }) => {
  const { vault } = await joinFromGit({
    dir,
    url,
    token,
    passphrase,
    adopt: (raw) => Vault.adopt({ dir, genesis: decodeEvent(raw, null), passphrase })
  })
  await saveCredentials(dir, url, { username: 'token', password: token }, passphrase, 'git')
  return vault
}

export const JOINERS: Joiners = {
  couch: (a) => reaching(a.url, () => joinFromCouch(a)),
  git: (a) => reaching(a.url, () => joinGit(a))
}
