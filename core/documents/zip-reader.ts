/**
 * Reading a ZIP archive someone handed over, as hostile input (yauzl, one
 * entry at a time). The archive is refused whole, with the reason, when its
 * central directory does not read, it holds more entries than `maxEntries`,
 * or it would expand past `maxTotalBytes`. An entry is refused (kept out,
 * with its reason; the rest goes on) when its name is not UTF-8, is absolute,
 * climbs out with `..`, holds a backslash, a control character or a drive
 * letter; when it is a symlink or another special file; when it is encrypted
 * or compressed by a method other than deflate; when it is larger than
 * `maxEntryBytes` or expands more than `maxRatio` times (a zip bomb); when its
 * bytes do not match its stated size or CRC-32. Nothing is written anywhere:
 * the caller gets each accepted entry's bytes and decides.
 */
import type { Entry, ZipFile } from 'yauzl'
import { lazyPackage } from '../lazy.js'
import { MALFORMED, OVERSIZED } from '../errors.js'

const yauzl = lazyPackage<typeof import('yauzl')>('yauzl')
const zlib = lazyPackage<typeof import('node:zlib')>('node:zlib')

export interface ZipLimits {
  maxEntries: number
  maxEntryBytes: number
  maxTotalBytes: number
  /** Largest uncompressed/compressed ratio for an entry above 64 KiB. */
  maxRatio: number
}

export const DEFAULT_ZIP_LIMITS: ZipLimits = Object.freeze({
  maxEntries: 10_000,
  maxEntryBytes: 16 * 1024 * 1024,
  maxTotalBytes: 256 * 1024 * 1024,
  maxRatio: 100
})

export interface ZipEntryRefused {
  /** The name as it reads (non-UTF-8 bytes shown as hex). */
  name: string
  reason: string
}

const UTF8 = new TextDecoder('utf-8', { fatal: true })
const S_IFMT = 0o170000
const S_IFREG = 0o100000
const S_IFDIR = 0o040000

/** Why a path from an archive cannot be a document path, or null when it can. */
export function pathProblem(name: string): string | null {
  if (name === '' || name.length > 1024) return 'the name is empty or longer than 1,024 characters'
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'the name holds control characters'
  if (name.includes('\\')) return 'the name holds a backslash'
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return 'the name is an absolute path'
  if (name.split('/').some((p) => p === '..')) return 'the name climbs out of the archive (..)'
  if (name.split('/').some((p) => p === '.' || (p === '' && !name.endsWith('/'))))
    return 'the name has empty or "." parts'
  return null
}

function open(file: string | Buffer): Promise<ZipFile> {
  const options = { lazyEntries: true, decodeStrings: false, validateEntrySizes: true, autoClose: true }
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, z?: ZipFile) =>
      err || !z ? reject(MALFORMED(`not a ZIP archive that reads: ${err?.message ?? 'no archive'}`)) : resolve(z)
    if (typeof file === 'string') yauzl().open(file, options, done)
    else yauzl().fromBuffer(file, options, done)
  })
}

function readAll(z: ZipFile, entry: Entry, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    z.openReadStream(entry, (err, stream) => {
      if (err || !stream) return reject(err ?? new Error('no stream'))
      const chunks: Buffer[] = []
      let n = 0
      stream.on('data', (c: Buffer) => {
        n += c.length
        if (n > max) stream.destroy(new Error(`it expands past ${max} bytes`))
        else chunks.push(c)
      })
      stream.on('error', reject)
      stream.on('end', () => resolve(Buffer.concat(chunks)))
    })
  )
}

/**
 * Read `file` (a path, or the archive's bytes), calling `onEntry` with each accepted file entry (directories are
 * skipped). Throws MALFORMED or OVERSIZED when the archive as a whole is refused; returns the refused entries.
 */
export async function readZip(
  file: string | Buffer,
  onEntry: (path: string, bytes: Buffer) => Promise<void> | void,
  limits: ZipLimits = DEFAULT_ZIP_LIMITS
): Promise<{ entries: number; refused: ZipEntryRefused[] }> {
  const z = await open(file)
  if (z.entryCount > limits.maxEntries) {
    z.close()
    throw OVERSIZED(`the archive lists ${z.entryCount} entries; at most ${limits.maxEntries} are read`)
  }
  const refused: ZipEntryRefused[] = []
  const names = new Set<string>()
  let total = 0
  let entries = 0
  await new Promise<void>((resolve, reject) => {
    const fail = (err: Error) => {
      z.close()
      reject(err)
    }
    z.on('error', (err: Error) => fail(MALFORMED(`the archive does not read: ${err.message}`)))
    z.on('end', () => resolve())
    z.on('entry', (entry: Entry) => {
      void (async () => {
        const raw = entry.fileName as unknown as Buffer
        let name: string
        try {
          name = UTF8.decode(raw)
        } catch {
          refused.push({ name: `hex:${raw.toString('hex').slice(0, 200)}`, reason: 'the name is not UTF-8' })
          return
        }
        const problem = pathProblem(name) ?? (names.has(name) ? 'a second entry of the same name' : null)
        if (problem) return refused.push({ name: name.slice(0, 200), reason: problem })
        names.add(name)
        const type = (entry.externalFileAttributes >>> 16) & S_IFMT
        const madeOnUnix = entry.versionMadeBy >>> 8 === 3
        if (name.endsWith('/') || (madeOnUnix && type === S_IFDIR)) return // a folder
        if (madeOnUnix && type !== 0 && type !== S_IFREG)
          return refused.push({ name, reason: type === 0o120000 ? 'it is a symlink' : 'it is not a regular file' })
        if ((entry.generalPurposeBitFlag & 1) !== 0) return refused.push({ name, reason: 'it is encrypted' })
        if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8)
          return refused.push({ name, reason: `compression method ${entry.compressionMethod} is not read` })
        if (entry.uncompressedSize > limits.maxEntryBytes)
          return refused.push({
            name,
            reason: `it is ${entry.uncompressedSize} bytes; at most ${limits.maxEntryBytes}`
          })
        if (entry.uncompressedSize > 65_536 && entry.uncompressedSize > limits.maxRatio * entry.compressedSize)
          return refused.push({
            name,
            reason: `it expands ${Math.round(entry.uncompressedSize / Math.max(1, entry.compressedSize))} times (a zip bomb?)`
          })
        total += entry.uncompressedSize
        if (total > limits.maxTotalBytes)
          throw OVERSIZED(`the archive expands past ${limits.maxTotalBytes} bytes: nothing of it is taken`)
        let bytes: Buffer
        try {
          bytes = await readAll(z, entry, Math.min(limits.maxEntryBytes, entry.uncompressedSize))
        } catch (err) {
          return refused.push({ name, reason: `its data does not read: ${(err as Error).message}` })
        }
        if (bytes.length !== entry.uncompressedSize || zlib().crc32(bytes) >>> 0 !== entry.crc32 >>> 0)
          return refused.push({ name, reason: 'its bytes do not match its stated size and CRC-32' })
        entries++
        await onEntry(name, bytes)
      })().then(
        () => z.readEntry(),
        (err: Error) => fail(err)
      )
    })
    z.readEntry()
  })
  return { entries, refused }
}
