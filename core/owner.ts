/**
 * One process per vault. `owner.lock` in the vault folder names the process
 * that has the vault open (pid, what it is, since when); another process that
 * tries to open it is told exactly that, before it touches a file (the
 * append journal above all: a second opener must never race the owner's
 * acknowledged appends). A lock whose process is gone (a crash) is taken
 * over. Within one process the lock is shared (tests reopen vaults).
 */
import { readFile, unlink } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { IN_USE, VaultError } from './errors.js'
import { writeFileExclusive } from './files.js'

export const OWNER_FILE = 'owner.lock'

interface OwnerRecord {
  pid: number
  role: string
  host: string
  since: string
}

/** Per lock path: how many opens in this process share it. */
const held = new Map<string, number>()

function alive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** What this process is, for the message another opener gets: `tresor serve`, `tresor status`, … */
function whoAmI(): string {
  const [, script, command] = process.argv
  return script && /tresor(\.mjs)?$/.test(script)
    ? `tresor ${command ?? ''}`.trim()
    : `another process (${script ?? 'node'})`
}

/** Become the vault's owner (or share it within this process). Throws IN_USE naming the process that has it. */
export async function acquireOwner(dir: string, role: string = whoAmI()): Promise<() => Promise<void>> {
  const path = join(dir, OWNER_FILE)
  const mine = held.get(path)
  if (mine) {
    held.set(path, mine + 1)
    return release(path)
  }
  const record: OwnerRecord = { pid: process.pid, role, host: hostname(), since: new Date().toISOString() }
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFileExclusive(path, JSON.stringify(record) + '\n') // atomic, and fails if the lock exists
      held.set(path, 1)
      return release(path)
    } catch (err) {
      if (!(err instanceof VaultError) || err.code !== 'ALREADY_EXISTS') throw err
    }
    const other = await readFile(path, 'utf8').then(
      (t) => JSON.parse(t) as OwnerRecord,
      () => null
    )
    if (other && (other.host !== hostname() || alive(other.pid))) {
      throw IN_USE(
        `the vault in ${dir} is open in ${other.role} (pid ${other.pid}, since ${other.since}): stop it first, or work through it`
      )
    }
    await unlink(path).catch(() => undefined) // its process is gone: a crash left it
  }
  throw IN_USE(`could not take ${path}: another process is opening the vault at the same moment`)
}

function release(path: string): () => Promise<void> {
  let done = false
  return async () => {
    if (done) return
    done = true
    const count = held.get(path) ?? 0
    if (count === 0) return
    if (count > 1) {
      held.set(path, count - 1)
      return
    }
    held.delete(path)
    // the lock may already be gone (taken over after a crash): nothing to release
    await unlink(path).catch(() => undefined)
  }
}
