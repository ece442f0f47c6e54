import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Vault, DB_DIR, type MemberSpec } from '../core/vault.js'
import { openDb, type GuardedDb } from '../core/pouch.js'
import { exportBundle, importBundle } from '../core/bundle.js'

/** The cheapest scrypt cost the KDF bounds allow: tests derive keys often. */
export const FAST_KDF = { N: 2 ** 14, r: 8, p: 1 }
export const PASS = 'correct horse battery staple'

const dirs: string[] = []

export async function tempDir(prefix = 'tresor-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  dirs.push(dir)
  return dir
}

export async function cleanupDirs(): Promise<void> {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
}

export async function makeVault(
  opts: { dir?: string; notes?: number; members?: MemberSpec[]; name?: string } = {}
): Promise<Vault> {
  const dir = opts.dir ?? (await tempDir())
  const vault = await Vault.create({
    dir,
    vaultName: opts.name ?? 'Test vault',
    passphrase: PASS,
    memberName: 'alice',
    roles: ['operator'],
    members: opts.members,
    kdf: FAST_KDF
  })
  for (let i = 0; i < (opts.notes ?? 0); i++) await vault.append('audit.note', { text: `note ${i}` })
  return vault
}

/** A raw PouchDB handle on a closed vault's database: the "behind the vault's back" access path. */
export async function withRawDb<T>(dir: string, fn: (db: GuardedDb) => Promise<T>): Promise<T> {
  const db = openDb(join(dir, DB_DIR))
  try {
    return await fn(db)
  } finally {
    await db.close()
  }
}

/** The error code a promise rejects with (a plain error's message when it has none), or NO_ERROR. */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (e) {
    return (e as { code?: string }).code ?? (e as Error).message
  }
  return 'NO_ERROR'
}

/** Each feed's length on a device: what a bundle for it may skip. */
export const lengths = (v: Vault) => Object.fromEntries(Object.entries(v.heads()).map(([a, h]) => [a, h.length]))

/** Carry what `to` lacks from `from` on a "USB stick": a signed bundle file's text. */
export async function carry(from: Vault, to: Vault): Promise<{ admitted: number; duplicates: number }> {
  return importBundle(to, JSON.stringify(await exportBundle(from, lengths(to))))
}
