/**
 * Content-addressed blobs beside the vault: `blobs/sha256/<first 2 hex>/<digest>`, the bytes verbatim. A blob is
 * written once (a temporary file, fsync'd, renamed into place) and re-checked against its digest every time it is
 * read; one whose bytes do not match is reported, never served.
 */
import { createHash } from 'node:crypto'
import { mkdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../files.js'
import { BAD_ARGUMENT, NOT_FOUND, TAMPERED } from '../errors.js'

export const BLOBS_DIR = 'blobs'

export class BlobStore {
  private readonly writing = new Map<string, Promise<string>>()
  constructor(private readonly dir: string) {}

  private path(digest: string): string {
    if (!/^[0-9a-f]{64}$/.test(digest)) throw BAD_ARGUMENT('a blob is named by its SHA-256 (64 hex characters)')
    return join(this.dir, BLOBS_DIR, 'sha256', digest.slice(0, 2), digest)
  }

  /**
   * Keep `bytes`; returns their digest. Writing what is already kept is a no-op. With `folders`, the blob folders to
   * sync are collected there (`syncFolders`) for one sync of many blobs, done before any of them is acknowledged.
   */
  async put(bytes: Uint8Array, expected?: string, folders?: Set<string>): Promise<string> {
    const digest = createHash('sha256').update(bytes).digest('hex')
    if (expected !== undefined && expected !== digest) throw TAMPERED(`the bytes hash to ${digest}, not ${expected}`)
    // the same bytes put twice at once (a duplicate in one archive) are written once: one temporary file per blob
    const pending = this.writing.get(digest)
    if (pending) return pending
    const write = this.write(digest, bytes, folders).finally(() => this.writing.delete(digest))
    this.writing.set(digest, write)
    return write
  }

  private async write(digest: string, bytes: Uint8Array, folders?: Set<string>): Promise<string> {
    const path = this.path(digest)
    if (await this.has(digest)) return digest
    await mkdir(join(path, '..'), { recursive: true, mode: 0o700 })
    await writeFileAtomic(path, bytes, folders)
    if (folders) folders.add(join(this.dir, BLOBS_DIR, 'sha256')) // a new prefix folder is an entry there
    return digest
  }

  async has(digest: string): Promise<boolean> {
    return stat(this.path(digest)).then(
      () => true,
      () => false
    )
  }

  /** The bytes of `digest`, checked; NOT_FOUND when not kept, TAMPERED when what is kept does not hash to it. */
  async get(digest: string): Promise<Buffer> {
    const bytes = await readFile(this.path(digest)).catch(() => null)
    if (!bytes) throw NOT_FOUND(`no blob ${digest.slice(0, 16)}… here`)
    if (createHash('sha256').update(bytes).digest('hex') !== digest)
      throw TAMPERED(`blob ${digest.slice(0, 16)}… does not hash to its name: it was changed on disk`)
    return bytes
  }
}
