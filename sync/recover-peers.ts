/**
 * The peers' part of a recovery (`tresor recover`, the Health screen's
 * Recover): the vault's genesis when nothing local holds it any more, and
 * one round with each peer afterwards to bring back what the local copies
 * lost. Peers are the CouchDB server and the Git mirror this vault already
 * syncs with (their URLs and sealed credentials are in its folder), or the
 * ones the CLI's flags name. Everything they give passes the gate.
 */
import { eventDocId, readJsonFileIfExists, type RecoveryPeers, type Vault, type VaultConfig } from '../core/index.js'
import { CouchSync } from './couch-sync.js'
import { loadCredentials } from './credentials.js'
import { GIT_STATE_FILE, genesisFromGit, syncGit } from './git-mirror.js'
import { remoteDb, type Credentials } from './remote.js'
import { loadSyncState } from './sync-state.js'
import { join } from 'node:path'

export interface Peers {
  couch?: { url: string; credentials?: Credentials }
  git?: { url: string; token: string }
}

/** The peers this vault's folder says it syncs with, credentials unsealed with the device key's passphrase. */
export async function storedPeers(dir: string, passphrase: string): Promise<Peers> {
  const peers: Peers = {}
  const couchUrl = (await loadSyncState(dir).catch(() => null))?.url
  if (couchUrl)
    peers.couch = {
      url: couchUrl,
      credentials: (await loadCredentials(dir, couchUrl, passphrase).catch(() => null)) ?? undefined
    }
  const gitUrl = (
    (await readJsonFileIfExists(join(dir, GIT_STATE_FILE), 16 * 1024 * 1024, 6).catch(() => null)) as {
      url?: unknown
    } | null
  )?.url
  if (typeof gitUrl === 'string') {
    const stored = await loadCredentials(dir, gitUrl, passphrase, 'git').catch(() => null)
    if (stored) peers.git = { url: gitUrl, token: stored.password }
  }
  return peers
}

/** The text of the vault's genesis as a peer holds it (the caller checks it hashes to the vault id). */
export async function genesisFromPeers(dir: string, config: VaultConfig, peers: Peers): Promise<string | null> {
  if (peers.couch) {
    const remote = remoteDb(peers.couch.url, peers.couch.credentials)
    try {
      const doc = (await remote.get(eventDocId(config.genesisAuthor, 1)).catch(() => null)) as { raw?: unknown } | null
      if (typeof doc?.raw === 'string') return doc.raw
    } finally {
      await remote.close().catch(() => undefined) // closing an HTTP client: what the peer gave is already decided
    }
  }
  if (peers.git) return genesisFromGit({ dir, ...peers.git, vaultId: config.vaultId }).catch(() => null)
  return null
}

/**
 * One round with each peer; one line per peer saying what came back (a peer that fails says why, the others still run).
 */
export async function catchUpFromPeers(vault: Vault, peers: Peers, passphrase: string): Promise<string[]> {
  const lines: string[] = []
  if (peers.couch) {
    try {
      const sync = await CouchSync.open(vault, peers.couch)
      try {
        const round = await sync.syncOnce()
        lines.push(
          `from CouchDB: pulled ${round.pulled}, admitted ${round.admitted}, waiting ${round.waiting}, quarantined ${round.quarantined}`
        )
      } finally {
        await sync.close()
      }
    } catch (err) {
      lines.push(`from CouchDB: not reached: ${(err as Error).message}`)
    }
  }
  if (peers.git) {
    try {
      if (!vault.unlocked) await vault.unlock(passphrase)
      const round = await syncGit(vault, peers.git)
      lines.push(
        `from the Git mirror: read ${round.read}, admitted ${round.admitted}, quarantined ${round.quarantined}`
      )
    } catch (err) {
      lines.push(`from the Git mirror: not reached: ${(err as Error).message}`)
    }
  }
  return lines
}

/** What a host hands core's recovery: the peers in the vault's folder. */
export const STORED_PEERS: RecoveryPeers = {
  genesis: async (dir, config, passphrase) => genesisFromPeers(dir, config, await storedPeers(dir, passphrase)),
  catchUp: async (vault, passphrase) => catchUpFromPeers(vault, await storedPeers(vault.dir, passphrase), passphrase)
}
