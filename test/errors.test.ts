/** Error codes and exit statuses: one table in core, the same one in the README, and the CLI using it. */
import { afterAll, describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { EXIT_STATUS, exitStatus, NOT_ALLOWED, VaultError } from '../core/errors.js'
import { cleanupDirs, makeVault, PASS } from './helpers.js'

const BIN = fileURLToPath(new URL('../edge/bin/tresor.mjs', import.meta.url))
const tresor = (args: string[]) =>
  spawnSync(process.execPath, [BIN, ...args], {
    env: { ...process.env, TRESOR_PASSPHRASE: PASS },
    encoding: 'utf8',
    timeout: 60_000
  })

describe('errors', () => {
  afterAll(cleanupDirs)

  it("errors - the README's exit-status table is EXIT_STATUS, code for code", () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
    const fromReadme = new Map<string, number>()
    for (const m of readme.matchAll(/^\| `([123])` \| ((?:`[A-Z_]+`(?:, )?)+) \|$/gm)) {
      for (const code of m[2]!.matchAll(/`([A-Z_]+)`/g)) fromReadme.set(code[1]!, Number(m[1]))
    }
    expect(Object.fromEntries(fromReadme)).toEqual({ ...EXIT_STATUS })
    expect(exitStatus(NOT_ALLOWED('x'))).toBe(1)
    expect(exitStatus(new VaultError('BAD_ARGUMENT', 'x'))).toBe(2)
    expect(exitStatus(new Error('not ours'))).toBe(1)
  })

  it('errors - a governance refusal exits 1 with NOT_ALLOWED, not 2 (the command was asked rightly)', async () => {
    const v = await makeVault({ members: [{ name: 'bob', roles: ['operator'], keys: ['b0'.repeat(32)] }] })
    const dir = v.dir
    await v.close()
    const proposed = tresor([
      'propose',
      'flag',
      '--dir',
      dir,
      '--flag',
      'finance_enabled',
      '--on',
      '--reason',
      'r',
      '--json'
    ])
    expect(proposed.status, proposed.stderr).toBe(0)
    const own = tresor(['approve', JSON.parse(proposed.stdout).id, '--dir', dir, '--json', '--yes'])
    expect(own.status).toBe(1)
    expect(JSON.parse(own.stdout)).toMatchObject({
      error: { code: 'NOT_ALLOWED', message: 'you proposed this; another member must approve' }
    })
    expect(own.stderr.trim().split('\n')).toEqual(['tresor: you proposed this; another member must approve'])
  })
})
