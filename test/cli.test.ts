import { afterAll, describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cleanupDirs, makeVault, PASS, tempDir, withRawDb } from './helpers.js'
import { eventDocId } from '../core/store.js'

const BIN = fileURLToPath(new URL('../edge/bin/tresor.mjs', import.meta.url))

function tresor(args: string[], opts: { cwd?: string; env?: Record<string, string | undefined> } = {}) {
  const env: Record<string, string | undefined> = { ...process.env, TRESOR_PASSPHRASE: PASS, ...opts.env }
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k]
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: opts.cwd,
    env: env as NodeJS.ProcessEnv,
    encoding: 'utf8',
    timeout: 60_000
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout) }
}

describe('cli', () => {
  afterAll(cleanupDirs)

  it('cli - keygen, init with a second member, status, log, note: every command speaks --json', async () => {
    const root = await tempDir()
    const bob = tresor(['keygen', '--dir', join(root, 'bob'), '--name', 'bob', '--json'])
    expect(bob.code).toBe(0)
    const bobKey = bob.json().publicKey as string
    expect(bobKey).toMatch(/^[0-9a-f]{64}$/)
    const dir = join(root, 'alice')
    const init = tresor([
      'init',
      '--dir',
      dir,
      '--vault',
      'Ops',
      '--name',
      'alice',
      '--roles',
      'operator,auditor',
      '--member',
      `bob:chain:${bobKey}`,
      '--json'
    ])
    expect(init.code, init.stderr).toBe(0)
    expect(init.json()).toMatchObject({ name: 'Ops', health: { state: 'ok' }, events: 1 })
    expect(tresor(['note', '--dir', dir, '--text', 'first shift', '--json']).json()).toMatchObject({ seq: 2 })
    const status = tresor(['status', '--dir', dir, '--json'])
    expect(status.code).toBe(0)
    expect(status.json()).toMatchObject({ events: 2, health: { state: 'ok' }, lastCheck: { mode: 'incremental' } })
    const log = tresor(['log', '--dir', dir, '--json']).json()
    expect(log.entries.map((e: { type: string }) => e.type)).toEqual(['vault.genesis', 'audit.note'])
    expect(log.entries[0].payload.members[1]).toEqual({ name: 'bob', roles: ['chain'], keys: [bobKey] })
    expect(tresor(['status', '--dir', dir]).stdout).toMatch(/health\s+OK/)
  })

  it('cli - usage errors exit 2 with one line on stderr', async () => {
    for (const args of [
      [],
      ['bogus'],
      ['status'],
      ['status', '--dir'],
      ['status', '--nope', 'x'],
      ['init', '--dir', 'x']
    ]) {
      const r = tresor(args)
      expect(r.code, args.join(' ')).toBe(2)
    }
    expect(tresor(['inbx']).stderr).toBe('tresor: unknown command "inbx": did you mean inbox? (try tresor help)\n')
    expect(tresor(['verfy']).stderr).toMatch(/did you mean verify\?/)
    const r = tresor(['status', '--wat'])
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/^tresor: unknown option --wat/)
  })

  it('cli - a setting that could never take effect is refused before signing (exit 2, the reason); a known one is signed', async () => {
    const v = await makeVault({ notes: 0, members: [{ name: 'bob', roles: ['operator'], keys: ['b0'.repeat(32)] }] })
    const dir = v.dir
    await v.close()
    for (const [set, reason] of [
      ['telemetryBudgetGB=10', /telemetryBudgetGB is not a setting of this vault/],
      ['telemetryBatchMax=many', /telemetryBatchMax is a whole number of readings, not "many"/],
      ['telemetryBudgetKB=8', /telemetryBudgetKB must be between 16 KiB and 1,024 GiB/]
    ] as const) {
      const r = tresor(['propose', 'settings', '--dir', dir, '--set', set, '--reason', 'x'])
      expect(r.code, set + r.stderr).toBe(2)
      expect(r.stderr).toMatch(reason)
    }
    expect(tresor(['status', '--dir', dir, '--json']).json().events).toBe(1) // nothing was signed
    const ok = tresor([
      'propose',
      'settings',
      '--dir',
      dir,
      '--set',
      'telemetryBudgetKB=2048',
      '--reason',
      'x',
      '--json'
    ])
    expect(ok.code, ok.stderr).toBe(0)
    expect(ok.json().action).toEqual({ kind: 'vault.settings', args: { settings: { telemetryBudgetKB: 2048 } } })
  })

  it('cli - a wrong passphrase is a clear error, exit 1', async () => {
    const dir = await tempDir()
    expect(tresor(['init', '--dir', dir, '--vault', 'V', '--name', 'a', '--roles', 'operator']).code).toBe(0)
    const r = tresor(['note', '--dir', dir, '--text', 'x'], { env: { TRESOR_PASSPHRASE: 'wrong' } })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/wrong passphrase/)
    const noPass = tresor(['note', '--dir', dir, '--text', 'x'], { env: { TRESOR_PASSPHRASE: undefined } })
    expect(noPass.code).toBe(2)
    expect(noPass.stderr).toMatch(/TRESOR_PASSPHRASE/)
  })

  it('cli - a tampered vault fails verify and status with exit 3 and names the event', async () => {
    const dir = await tempDir()
    tresor(['init', '--dir', dir, '--vault', 'V', '--name', 'a', '--roles', 'operator'])
    tresor(['note', '--dir', dir, '--text', 'original'])
    const device = JSON.parse(await readFile(join(dir, 'vault.json'), 'utf8')).device as string
    await withRawDb(join(dir), async (db) => {
      const doc = await db.get(eventDocId(device, 2))
      await db.put({ ...doc, raw: (doc.raw as string).replace('original', 'forged') } as never)
    })
    const status = tresor(['status', '--dir', dir])
    expect(status.code).toBe(3)
    expect(status.stdout).toMatch(/READ-ONLY/)
    expect(status.stderr.trim().split('\n')).toHaveLength(1) // every non-zero exit says so on stderr
    const verify = tresor(['verify', '--dir', dir, '--full', '--json'])
    expect(verify.code).toBe(3)
    expect(verify.json().issues[0]).toMatchObject({ code: 'REWRITTEN', docId: eventDocId(device, 2) })
    const note = tresor(['note', '--dir', dir, '--text', 'more'])
    expect(note.code).toBe(3)
    expect(note.stderr).toMatch(/READ-ONLY/)
  })

  it('cli - export to YAML verifies standalone; a tampered, truncated or reordered export does not', async () => {
    const dir = await tempDir()
    tresor(['init', '--dir', dir, '--vault', 'V', '--name', 'a', '--roles', 'operator'])
    for (const t of ['one', 'two', 'three']) tresor(['note', '--dir', dir, '--text', t])
    const file = join(dir, 'audit.yaml')
    expect(tresor(['export', '--dir', dir, '--format', 'yaml', '--out', file]).code).toBe(0)
    const elsewhere = await tempDir() // no vault there: the file alone is enough
    const ok = tresor(['verify', '--file', file, '--json'], { cwd: elsewhere, env: { TRESOR_PASSPHRASE: undefined } })
    expect(ok.code, ok.stderr).toBe(0)
    expect(ok.json()).toMatchObject({ ok: true, total: 4 })
    const text = await readFile(file, 'utf8')
    const docs = text.split('\n---\n')
    const variants: Record<string, string> = {
      tampered: text.replace('"text":"two"', '"text":"TWO"'),
      truncated: docs.slice(0, -1).join('\n---\n') + '\n',
      reordered: [...docs.slice(0, 2), docs[3], docs[2], ...docs.slice(4)].join('\n---\n')
    }
    for (const [name, body] of Object.entries(variants)) {
      const f = join(elsewhere, `${name}.yaml`)
      await writeFile(f, body)
      const r = tresor(['verify', '--file', f, '--json'], { cwd: elsewhere })
      expect(r.code, name).toBe(3)
      expect(r.json().ok, name).toBe(false)
    }
    await writeFile(join(elsewhere, 'junk.yaml'), 'just: [a, yaml, file]\n')
    expect(tresor(['verify', '--file', join(elsewhere, 'junk.yaml')]).code).toBe(1)
  })

  it('cli - demo creates a verified vault from a clean directory', async () => {
    const cwd = await tempDir()
    const r = tresor(['demo', '--dir', './demo', '--json'], { cwd })
    expect(r.code, r.stderr).toBe(0)
    expect(r.json()).toMatchObject({
      status: { health: { state: 'ok' }, events: 8 },
      report: { ok: true, mode: 'full' }
    })
    expect(tresor(['demo', '--dir', './demo', '--json'], { cwd }).json().status.events).toBe(9)
  })

  it('cli - three members on three directories: propose, approve and commit a flag change through bundle files', async () => {
    const root = await tempDir()
    const d = (n: string) => join(root, n)
    const bob = tresor(['keygen', '--dir', d('bob'), '--name', 'bob']).stdout.trim()
    const carol = tresor(['keygen', '--dir', d('carol'), '--name', 'carol']).stdout.trim()
    expect(
      tresor([
        'init',
        '--dir',
        d('alice'),
        '--vault',
        'Ops',
        '--name',
        'alice',
        '--roles',
        'operator',
        '--member',
        `bob:chain,operator:${bob}`,
        '--member',
        `carol:auditor:${carol}`
      ]).code
    ).toBe(0)
    const proposed = tresor([
      'propose',
      'flag',
      '--dir',
      d('alice'),
      '--flag',
      'corepay_enabled',
      '--on',
      '--reason',
      'payment simulation passed',
      '--json'
    ]).json()
    expect(proposed.missing).toEqual([
      'needs 1 approval(s) from members other than the proposer',
      'needs 1 more approval(s) from role operator',
      'needs 1 more approval(s) from role chain'
    ])
    const id = proposed.id as string
    expect(tresor(['approve', id, '--dir', d('alice'), '--yes']).stderr).toMatch(
      /you proposed this; another member must approve/
    )
    expect(tresor(['bundle', 'export', '--dir', d('alice'), '--out', d('a1.bundle')]).code).toBe(0)
    for (const who of ['bob', 'carol'])
      expect(tresor(['join', '--dir', d(who), '--bundle', d('a1.bundle')]).code).toBe(0)
    expect(
      tresor(['inbox', '--dir', d('bob'), '--json'])
        .json()
        .toSign.map((p: { id: string; canApprove: string[] }) => [p.id, p.canApprove])
    ).toEqual([[id, ['bob', 'carol']]])
    // an id prefix is read in either case; what is not an id says so
    expect(tresor(['show', id.slice(0, 10).toUpperCase(), '--dir', d('bob'), '--json']).json().id).toBe(id)
    expect(tresor(['show', 'NOT-AN-ID', '--dir', d('bob')]).stderr).toMatch(
      /its first 8 or more characters \(0-9, a-f\), not "NOT-AN-ID"/
    )
    // without a terminal to ask on, a step is signed only with --yes; the summary says what it would sign
    const unasked = tresor(['approve', id.slice(0, 10), '--dir', d('bob')])
    expect(unasked.code).toBe(2)
    expect(unasked.stderr).toMatch(/switch corepay_enabled on\n    corepay_enabled: off → on/)
    expect(unasked.stderr).toMatch(/add --yes to sign without being asked/)
    expect(tresor(['commit', id.slice(0, 10), '--dir', d('carol'), '--yes']).stderr).toMatch(
      /needs 1 approval\(s\) from members other than the proposer/
    )
    expect(tresor(['approve', id.slice(0, 10), '--dir', d('bob'), '--json', '--yes']).json()).toMatchObject({
      missing: [],
      approvals: [{ member: 'bob' }]
    })
    await writeFile(d('carol-status.json'), tresor(['status', '--dir', d('carol'), '--json']).stdout)
    expect(
      tresor([
        'bundle',
        'export',
        '--dir',
        d('bob'),
        '--out',
        d('b1.bundle'),
        '--since',
        d('carol-status.json'),
        '--json'
      ]).json().events
    ).toBe(1)
    const imported = tresor(['bundle', 'import', '--dir', d('carol'), '--file', d('b1.bundle')])
    expect(imported.stdout).toBe(
      'admitted 1 event(s), 0 already here (from bob)\n  bob approved: switch corepay_enabled on\n'
    )
    // an output file is never written over
    const again = tresor(['bundle', 'export', '--dir', d('bob'), '--out', d('b1.bundle')])
    expect([again.code, again.stderr]).toEqual([
      1,
      `tresor: ${d('b1.bundle')} exists already: nothing was written; choose another --out, or move that file away\n`
    ])
    expect(tresor(['commit', id, '--dir', d('carol'), '--json', '--yes']).json().status).toBe('committed')
    expect(tresor(['log', '--dir', d('carol')]).stdout).toMatch(/ bob \([0-9a-f]{8}\)#1  gov\.approve /) // names, not keys
    tresor(['bundle', 'export', '--dir', d('carol'), '--out', d('c1.bundle')])
    for (const who of ['alice', 'bob'])
      expect(tresor(['bundle', 'import', '--dir', d(who), '--file', d('c1.bundle')]).code).toBe(0)
    const hashes = ['alice', 'bob', 'carol'].map(
      (who) => tresor(['members', '--dir', d(who), '--json']).json().stateHash
    )
    expect(new Set(hashes).size).toBe(1)
    const flags = tresor(['flags', '--dir', d('alice'), '--json']).json()
    expect(flags.find((f: { flag: string }) => f.flag === 'corepay_enabled').on).toBe(true)
    expect(tresor(['show', id, '--dir', d('bob')]).stdout).toMatch(/status: committed/)
    const tampered = (await readFile(d('c1.bundle'), 'utf8')).replace(
      'payment simulation passed',
      'payment simulation FAILED'
    )
    await writeFile(d('bad.bundle'), tampered)
    const refused = tresor(['bundle', 'import', '--dir', d('bob'), '--file', d('bad.bundle')])
    expect(refused.code).toBe(3)
    expect(refused.stderr).toMatch(/bundle signature does not verify/)
    // ~40 CLI processes, each compiling TypeScript at start (issue 19): room for a loaded machine
  }, 180_000)
})
