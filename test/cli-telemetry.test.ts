import { afterAll, describe, expect, it } from 'vitest'
import { spawn, spawnSync } from 'node:child_process'
import { Vault } from '../core/vault.js'
import { TelemetryStore } from '../core/telemetry/store.js'
import { fileURLToPath } from 'node:url'
import { cleanupDirs, PASS } from './helpers.js'
import { boilerLines, streamingVaults } from './support/telemetry-vault.js'

const BIN = fileURLToPath(new URL('../edge/bin/tresor.mjs', import.meta.url))

function tresor(args: string[], opts: { input?: string; passphrase?: boolean } = {}) {
  const env: NodeJS.ProcessEnv = { ...process.env }
  if (opts.passphrase === false) delete env.TRESOR_PASSPHRASE
  else env.TRESOR_PASSPHRASE = PASS
  const r = spawnSync(process.execPath, [BIN, ...args], { env, input: opts.input, encoding: 'utf8', timeout: 60_000 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout) }
}

describe('cli telemetry', () => {
  afterAll(cleanupDirs)

  it('cli - ingest from stdin (sealed later when locked), streams, replay in order, a verified proof, telemetry verify and status', async () => {
    const t = await streamingVaults()
    const dir = t.alice.dir
    await t.alice.close()
    await t.bob.close()
    const now = Date.now()
    const lines = boilerLines(30, 'cli', now).reverse() // out of order on purpose
    const locked = tresor(['ingest', '--dir', dir], {
      input: [...lines, 'not json', lines[0]].join('\n') + '\n',
      passphrase: false
    })
    expect(locked.code, locked.stderr).toBe(4) // something was quarantined (input partly refused: exit 4)
    expect(locked.stdout).toMatch(
      /admitted 30, duplicates 1, quarantined 1 \(on disk in the WAL; the next unlocked run .* seals them\)/
    )
    expect(locked.stdout).toMatch(/line 31: QUARANTINE MALFORMED not a JSON reading/)
    const streams = tresor(['streams', '--dir', dir, '--window', '1h', '--json'])
    expect(streams.code, streams.stderr).toBe(0)
    expect(streams.json().find((m: { stream: string }) => m.stream === 'boiler.temp')).toMatchObject({
      total: 30,
      window: { count: 30, receipts: { ADMIT: 30, DUPLICATE: 1 } }
    })
    const replay = tresor(['replay', '--dir', dir, '--stream', 'boiler.temp', '--speed', '1000'])
    expect(replay.code, replay.stderr).toBe(0)
    expect(
      replay.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).id)
    ).toEqual(Array.from({ length: 30 }, (_, i) => `cli-${i}`))
    expect(replay.stderr).toMatch(/replayed 30 reading\(s\) of boiler.temp at 1000x/)
    const proof = tresor(['telemetry', 'prove', '--dir', dir, '--stream', 'boiler.temp', '--id', 'cli-7', '--json'])
    expect(proof.code, proof.stderr).toBe(0)
    expect(JSON.parse(proof.json().reading).id).toBe('cli-7')
    expect(tresor(['telemetry', 'verify', '--dir', dir]).stdout).toMatch(
      /1 batch\(es\), 30 reading\(s\): every signature, root and chain link verifies/
    )
    expect(tresor(['telemetry', 'status', '--dir', dir, '--json']).json()).toMatchObject({
      enabled: true,
      sealedSeq: 1,
      forwardedSeq: 0,
      full: false
    })
    expect(tresor(['telemetry', 'quarantine', '--dir', dir]).stdout).toMatch(/MALFORMED .* from stdin/)
    expect(tresor(['streams', '--dir', dir, '--window', 'soon']).code).toBe(2)
  })

  it('cli - propose stream builds a streams register entry; a bad field type is refused with the reason', async () => {
    const t = await streamingVaults()
    const dir = t.alice.dir
    await t.alice.close()
    await t.bob.close()
    const ok = tresor([
      'propose',
      'stream',
      '--dir',
      dir,
      '--stream',
      'press.force',
      '--schema',
      '2',
      '--field',
      'kn:number:kN',
      '--field',
      'tool:string?',
      '--reason',
      'press line',
      '--json'
    ])
    expect(ok.code, ok.stderr).toBe(0)
    expect(ok.json().action).toEqual({
      kind: 'register.append',
      args: {
        register: 'streams',
        entry: {
          id: 'press.force:2',
          stream: 'press.force',
          version: 2,
          fields: { kn: { type: 'number', required: true, unit: 'kN' }, tool: { type: 'string', required: false } }
        }
      }
    })
    const bad = tresor([
      'propose',
      'stream',
      '--dir',
      dir,
      '--stream',
      'press.force',
      '--schema',
      '3',
      '--field',
      'kn:float',
      '--reason',
      'x'
    ])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/field kn: type is one of number, integer, string, boolean/)
  })

  it('cli - ingest blocks while the disk budget is full: it says so, claims nothing, and takes nothing', async () => {
    const t = await streamingVaults({ settings: { telemetryBudgetKB: 16 } })
    const store = await TelemetryStore.open(t.alice)
    let i = 0
    while (
      (await store.ingest(boilerLines(50, `fill${i++}`)).then(
        () => 'ok',
        (e: Error) => e.message
      )) === 'ok'
    ) {
      /* fill the budget */
    }
    await store.close()
    const dir = t.alice.dir
    await t.alice.close()
    await t.bob.close()
    const child = spawn(process.execPath, [BIN, 'ingest', '--dir', dir], {
      env: { ...process.env, TRESOR_PASSPHRASE: PASS },
      stdio: ['pipe', 'pipe', 'pipe']
    })
    let stderr = '',
      stdout = ''
    child.stderr.on('data', (c) => {
      stderr += c
    })
    child.stdout.on('data', (c) => {
      stdout += c
    })
    child.stdin.end(boilerLines(5, 'blocked').join('\n') + '\n')
    for (let k = 0; k < 200 && !/budget is full; waiting/.test(stderr); k++) await new Promise((r) => setTimeout(r, 50))
    expect(stderr).toMatch(/telemetry disk budget is full; waiting for room/)
    await new Promise((r) => setTimeout(r, 1500))
    expect(child.exitCode).toBe(null) // still waiting, not dropping
    child.kill('SIGKILL')
    await new Promise((r) => child.once('exit', r))
    expect(stdout).toBe('')
    const v = await Vault.open({ dir })
    const s = await TelemetryStore.open(v)
    expect((await s.streamReadings('boiler.temp')).some((r) => r.id.startsWith('blocked'))).toBe(false)
    await s.close()
    await v.close()
  })
})
