/**
 * ZIP archives for the tests, written byte by byte (APPNOTE 6.3: local headers, central directory, end record), so a
 * test can make exactly the hostile archive it needs: any name bytes, a symlink's mode, stated sizes that lie, a
 * broken central directory. Stored or deflated entries; no ZIP64.
 */
import { crc32, deflateRawSync } from 'node:zlib'

export interface ZipEntrySpec {
  name: string | Buffer
  data: Buffer | string
  deflate?: boolean
  /** Unix mode (e.g. 0o120777 for a symlink); the entry is then "made by" Unix. */
  mode?: number
  /** Set the UTF-8 flag (bit 11); default: when the name is a string. */
  utf8?: boolean
  /** A stated uncompressed size other than the real one. */
  statedSize?: number
}

export function makeZip(entries: ZipEntrySpec[]): Buffer {
  const locals: Buffer[] = []
  const centrals: Buffer[] = []
  let offset = 0
  for (const e of entries) {
    const name = typeof e.name === 'string' ? Buffer.from(e.name, 'utf8') : e.name
    const data = typeof e.data === 'string' ? Buffer.from(e.data, 'utf8') : e.data
    const body = e.deflate ? deflateRawSync(data) : data
    const flags = (e.utf8 ?? typeof e.name === 'string') ? 0x0800 : 0
    const method = e.deflate ? 8 : 0
    const crc = crc32(data) >>> 0
    const size = e.statedSize ?? data.length
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0)
    local.writeUInt16LE(20, 4)
    local.writeUInt16LE(flags, 6)
    local.writeUInt16LE(method, 8)
    local.writeUInt32LE(crc, 14)
    local.writeUInt32LE(body.length, 18)
    local.writeUInt32LE(size, 22)
    local.writeUInt16LE(name.length, 26)
    locals.push(local, name, body)
    const central = Buffer.alloc(46)
    central.writeUInt32LE(0x02014b50, 0)
    central.writeUInt16LE(e.mode !== undefined ? (3 << 8) | 20 : 20, 4)
    central.writeUInt16LE(20, 6)
    central.writeUInt16LE(flags, 8)
    central.writeUInt16LE(method, 10)
    central.writeUInt32LE(crc, 16)
    central.writeUInt32LE(body.length, 20)
    central.writeUInt32LE(size, 24)
    central.writeUInt16LE(name.length, 28)
    central.writeUInt32LE(e.mode !== undefined ? (e.mode << 16) >>> 0 : 0, 38)
    central.writeUInt32LE(offset, 42)
    centrals.push(central, name)
    offset += 30 + name.length + body.length
  }
  const cd = Buffer.concat(centrals)
  const many = entries.length > 0xffff
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0)
  end.writeUInt16LE(many ? 0xffff : entries.length, 8)
  end.writeUInt16LE(many ? 0xffff : entries.length, 10)
  end.writeUInt32LE(cd.length, 12)
  end.writeUInt32LE(offset, 16)
  if (!many) return Buffer.concat([...locals, cd, end])
  // more entries than the end record counts: the ZIP64 end record and its locator say how many
  const z64 = Buffer.alloc(56)
  z64.writeUInt32LE(0x06064b50, 0)
  z64.writeBigUInt64LE(44n, 4)
  z64.writeUInt16LE(45, 12)
  z64.writeUInt16LE(45, 14)
  z64.writeBigUInt64LE(BigInt(entries.length), 24)
  z64.writeBigUInt64LE(BigInt(entries.length), 32)
  z64.writeBigUInt64LE(BigInt(cd.length), 40)
  z64.writeBigUInt64LE(BigInt(offset), 48)
  const locator = Buffer.alloc(20)
  locator.writeUInt32LE(0x07064b50, 0)
  locator.writeBigUInt64LE(BigInt(offset + cd.length), 8)
  locator.writeUInt32LE(1, 16)
  return Buffer.concat([...locals, cd, z64, locator, end])
}
