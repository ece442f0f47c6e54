/**
 * Where this vault folder lives: the machine, the path and the identity of
 * its vault file. A folder copied to a second laptop (restored from a backup
 * of the first) holds the same device key as the original; if both sign, the
 * key forks and the other devices freeze it. So when a vault opens somewhere
 * other than where it last lived, the vault says so — before anything is
 * signed — and asks: moved (confirm, and this becomes its home) or copied (the
 * copy should get a device key of its own). `device-home.json`, format
 * tresor-device-home v1; a folder without one (older, or first opened here)
 * takes this place as its home.
 */
import { hostname } from 'node:os'
import { realpath, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { readJsonFileIfExists, writeJsonFile } from './files.js'

export const HOME_FILE = 'device-home.json'

export interface Home {
  host: string
  dir: string
  /** Inode and device of vault.json: a copy has new ones even at the same path. */
  file: string
}

/** Where the vault opened from, when that is not where it last lived (null: at home). */
export interface Moved {
  from: Home
  now: Home
}

async function here(dir: string, vaultFile: string): Promise<Home> {
  const s = await stat(join(dir, vaultFile))
  return { host: hostname(), dir: await realpath(dir), file: `${s.dev}:${s.ino}` }
}

/** Compare the folder with its recorded home; record one where there is none. */
export async function checkHome(dir: string, vaultFile: string): Promise<Moved | null> {
  const now = await here(dir, vaultFile)
  const raw = (await readJsonFileIfExists(join(dir, HOME_FILE), 4096, 2).catch(() => null)) as {
    format?: unknown
    v?: unknown
    host?: unknown
    dir?: unknown
    file?: unknown
  } | null
  if (raw?.format !== 'tresor-device-home' || raw.v !== 1) {
    await writeJsonFile(join(dir, HOME_FILE), { format: 'tresor-device-home', v: 1, ...now })
    return null
  }
  const from = { host: String(raw.host), dir: String(raw.dir), file: String(raw.file) }
  return from.host === now.host && from.dir === now.dir && from.file === now.file ? null : { from, now }
}

/** The person says this folder was moved, not copied: it lives here now. */
export async function confirmHome(dir: string, vaultFile: string): Promise<void> {
  await writeJsonFile(join(dir, HOME_FILE), { format: 'tresor-device-home', v: 1, ...(await here(dir, vaultFile)) })
}
