/** Small local files beside the database (config, verified point, alarm), written atomically and durably. */
import { link, open, readFile, rename, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { parseBounded, type Json } from './canonical.js'
import { ALREADY_EXISTS, NOT_FOUND } from './errors.js'

/** Write `text` to `path` (created 0600 with `flag`) and fsync it. */
async function writeSynced(path: string, text: string | Uint8Array, flag: 'w' | 'wx'): Promise<void> {
  const fh = await open(path, flag, 0o600)
  try {
    await fh.writeFile(text)
    await fh.sync()
  } finally {
    await fh.close()
  }
}

async function syncDir(path: string): Promise<void> {
  const dir = await open(dirname(path), 'r')
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
}

/**
 * Write to a temporary file, fsync it, rename it over `path`, fsync the folder. With `folders`, the folder is added
 * to it instead, for the caller to sync once for many files (`syncFolders`) before it acknowledges any of them.
 */
export async function writeFileAtomic(path: string, text: string | Uint8Array, folders?: Set<string>): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`
  await writeSynced(tmp, text, 'w')
  await rename(tmp, path)
  if (folders) folders.add(dirname(path))
  else await syncDir(path)
}

/** Sync the folders files were renamed into (see writeFileAtomic). */
export async function syncFolders(folders: Set<string>): Promise<void> {
  for (const f of folders) await syncDir(join(f, 'x'))
  folders.clear()
}

/**
 * Create `path` with `text`, durably, only if nothing is there: written to a
 * temporary file and fsync'd, then hard-linked into place (atomic, and it
 * fails if the name exists), so of two processes racing, exactly one wins and
 * the other gets ALREADY_EXISTS; nothing is ever overwritten.
 */
export async function writeFileExclusive(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`
  await writeSynced(tmp, text, 'wx')
  try {
    await link(tmp, path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST')
      throw ALREADY_EXISTS(`${path} already exists; refusing to overwrite it`)
    throw err
  } finally {
    await rm(tmp, { force: true })
  }
  await syncDir(path)
}

export async function writeJsonFile(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n')
}

/** Read a small JSON file with size and depth limits; NOT_FOUND if absent. */
export async function readJsonFile(path: string, maxBytes: number, maxDepth = 8): Promise<Json> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch {
    throw NOT_FOUND(`${path} does not exist`)
  }
  return parseBounded(text, maxBytes, maxDepth)
}

export async function readJsonFileIfExists(path: string, maxBytes: number, maxDepth = 8): Promise<Json | null> {
  return readJsonFile(path, maxBytes, maxDepth).catch((err: { code?: string }) =>
    err.code === 'NOT_FOUND' ? null : Promise.reject(err)
  )
}

export async function removeFile(path: string): Promise<void> {
  await rm(path, { force: true })
}
