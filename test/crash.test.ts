import { afterAll, describe, expect, it } from 'vitest'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Vault } from '../core/vault.js'
import { cleanupDirs, makeVault, PASS } from './helpers.js'

const LOOP = fileURLToPath(new URL('./support/append-loop.ts', import.meta.url))

/** Run the append loop until it has acknowledged `count` appends, then SIGKILL it mid-stream. */
function appendThenKill(dir: string, count: number): Promise<Map<number, string>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', LOOP, dir, PASS], { stdio: ['ignore', 'pipe', 'pipe'] })
    const acked = new Map<number, string>()
    let buf = ''
    let stderr = ''
    child.stderr.on('data', (c) => {
      stderr += c
    })
    child.stdout.on('data', (chunk) => {
      buf += chunk
      const lines = buf.split('\n')
      buf = lines.pop()!
      for (const line of lines) {
        const [seq, id] = line.split(' ')
        acked.set(Number(seq), id!)
      }
      if (acked.size >= count && !child.killed) child.kill('SIGKILL')
    })
    child.on('exit', (code, signal) =>
      signal === 'SIGKILL' ? resolve(acked) : reject(new Error(`child exited ${code}: ${stderr}`))
    )
  })
}

describe('crash', () => {
  afterAll(cleanupDirs)

  it('crash - SIGKILL in the middle of appends: the log verifies and every acknowledged append is there', async () => {
    const vault = await makeVault({ notes: 1 })
    const { dir, device } = vault
    await vault.close()
    for (const round of [150, 90]) {
      const acked = await appendThenKill(dir, round)
      expect(acked.size).toBeGreaterThanOrEqual(round)
      const v = await Vault.open({ dir })
      expect(v.health.state).toBe('ok')
      const full = await v.verify({ full: true })
      expect(full.ok).toBe(true)
      for (const [seq, id] of acked) expect((await v.store.get(device, seq))?.id).toBe(id)
      expect(full.feeds[device]!.length).toBeGreaterThanOrEqual(Math.max(...acked.keys()))
      await v.close()
    }
  })
})

describe('journal', () => {
  it('journal - an entry that does not verify is not applied and the vault says so', async () => {
    const { appendFile } = await import('node:fs/promises')
    const { join } = await import('node:path')
    const vault = await makeVault({ notes: 1 })
    const { dir } = vault
    await vault.close()
    await appendFile(join(dir, 'append.journal'), '{"author":"forged"}\n')
    const v = await Vault.open({ dir })
    expect(v.health.state).toBe('read-only')
    expect(v.health.reason).toMatch(/append journal holds 1 entr/)
    expect(v.health.report!.total).toBe(2)
    await v.close()
  })

  it('journal - an open after a clean close leaves the empty journal untouched; a torn tail is still cleared', async () => {
    const { appendFile, readFile, stat, utimes } = await import('node:fs/promises')
    const { join } = await import('node:path')
    const vault = await makeVault({ notes: 2 })
    const { dir } = vault
    await vault.close()
    const file = join(dir, 'append.journal')
    const header = await readFile(file, 'utf8')
    const past = new Date('2026-01-01T00:00:00Z')
    await utimes(file, past, past)
    await (await Vault.open({ dir })).close()
    // nothing written: no truncate, no rewrite of the header, no disk sync on every open (slow flash pays for each)
    expect((await stat(file)).mtime).toEqual(past)
    // an append cut short leaves bytes without a newline: the next open clears them before anything lands after them
    await appendFile(file, '{"author":"torn')
    const v = await Vault.open({ dir })
    expect(v.health.state).toBe('ok')
    expect(await readFile(file, 'utf8')).toBe(header)
    await v.unlock(PASS)
    await v.append('audit.note', { text: 'after the torn write' })
    await v.close()
    const again = await Vault.open({ dir })
    expect(again.health.state).toBe('ok')
    expect((await again.verify({ full: true })).total).toBe(4)
    await again.close()
  })

  it('journal - appends made together share the disk sync and all land in order', async () => {
    const vault = await makeVault()
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => vault.append('audit.note', { text: `burst ${i}` }))
    )
    expect(results.map((d) => d.event.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 2))
    const report = await vault.verify({ full: true })
    expect(report).toMatchObject({ ok: true, total: 51 })
    await vault.close()
  })
})
