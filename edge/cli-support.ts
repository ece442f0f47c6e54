/** Helpers every CLI command shares: output, progress, opening the vault. */
import { stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { ALREADY_EXISTS, NOT_FOUND, Vault, VAULT_FILE, VaultError, writeFileExclusive } from '../core/index.js'
import { required, type ParsedArgs } from './args.js'
import { getPassphrase } from './passphrase.js'

export type Out = { json: boolean; print: (human: string, data: unknown) => void }

export function progress(label: string): ((done: number, total: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined
  let last = 0
  return (done, total) => {
    const now = Date.now()
    if (now - last < 100 && done < total) return
    last = now
    process.stderr.write(`\r${label} ${done}/${total}${done >= total ? '\n' : ''}`)
  }
}

export function dirOf(args: ParsedArgs): string {
  return resolve(required(args, 'dir'))
}

export async function openVault(args: ParsedArgs, full = false): Promise<Vault> {
  const dir = dirOf(args)
  const exists = await stat(join(dir, VAULT_FILE)).then(
    () => true,
    () => false
  )
  if (!exists) throw NOT_FOUND(`no vault in ${dir} (create one with tresor init)`)
  return Vault.open({ dir, full, onProgress: progress('verifying') })
}

/** Open the vault and unlock its device key (for commands that sign). */
export async function openUnlocked(args: ParsedArgs): Promise<Vault> {
  const vault = await openVault(args)
  try {
    await vault.unlock(await getPassphrase('Device key passphrase: '))
  } catch (err) {
    await vault.close()
    throw err
  }
  return vault
}

/** Run `fn` on the open vault and always close it. */
export async function withVault<T>(vault: Vault, fn: (vault: Vault) => Promise<T>): Promise<T> {
  try {
    return await fn(vault)
  } finally {
    await vault.close()
  }
}

/** Said when an output file is there already: the CLI never writes over a file. */
export function fileExists(path: string): Error {
  return ALREADY_EXISTS(`${path} exists already: nothing was written; choose another --out, or move that file away`)
}

/** Refuse before work starts when `path` exists (for output written as a stream). */
export async function refuseExisting(path: string): Promise<void> {
  if (
    await stat(path).then(
      () => true,
      () => false
    )
  )
    throw fileExists(path)
}

/** Write a new file, durably, never over one that is there (ALREADY_EXISTS, saying so). */
export async function writeNewFile(path: string, text: string): Promise<void> {
  try {
    await writeFileExclusive(path, text)
  } catch (err) {
    if (err instanceof VaultError && err.code === 'ALREADY_EXISTS') throw fileExists(path)
    throw err
  }
}
