/**
 * Hostile input: a client, a file or a producer that sends what no honest one
 * would. Each case is refused with its reason; nothing is signed that nobody
 * sent, nothing hangs, nothing grows without bound.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { request } from 'node:http'
import type { Server } from 'node:http'
import { createHandlers } from '../core/api.js'
import { TelemetryStore } from '../core/telemetry/store.js'
import { checkKdf, KDF_BOUNDS } from '../core/secret-box.js'
import { readKeyFile } from '../core/keys.js'
import { canonicalize } from '../core/canonical.js'
import { startHttpHost } from '../edge/http-host.js'
import { cleanupDirs, codeOf, makeVault, PASS, tempDir } from './helpers.js'
import { boilerLines, streamingVaults } from './support/telemetry-vault.js'

const BIN = fileURLToPath(new URL('../edge/bin/tresor.mjs', import.meta.url))
const TOKEN = 'a'.repeat(64)
const INGEST = 'b'.repeat(64)

async function host(
  vault: Awaited<ReturnType<typeof makeVault>>,
  extra: Partial<Parameters<typeof startHttpHost>[0]> = {}
) {
  const staticDir = await tempDir()
  await writeFile(join(staticDir, 'index.html'), '<!doctype html>')
  return startHttpHost({ handlers: createHandlers(vault), token: TOKEN, staticDir, ...extra })
}

const post = (url: string, body: ArrayLike<number> | string, auth = TOKEN) =>
  fetch(url, {
    method: 'POST',
    headers: { Authorization: `Bearer ${auth}`, 'Content-Type': 'application/json' },
    body: typeof body === 'string' ? body : new Uint8Array(body)
  })

const close = (server: Server) => new Promise((r) => server.close(r))

/** A fresh vault behind an HTTP host for one test; both closed after it. */
async function withHost(
  fn: (vault: Awaited<ReturnType<typeof makeVault>>, url: string) => Promise<void>
): Promise<void> {
  const vault = await makeVault()
  const { server, url } = await host(vault)
  try {
    await fn(vault, url)
  } finally {
    await close(server)
    await vault.close()
  }
}

describe('hostile input', () => {
  afterAll(cleanupDirs)

  it('http - a body that is not valid UTF-8 is refused (400), never signed as U+FFFD', async () => {
    await withHost(async (vault, url) => {
      const before = vault.heads()
      // {"text":"caf\xE9"}: Latin-1 é, not UTF-8
      const body = Buffer.concat([Buffer.from('{"text":"caf'), Buffer.from([0xe9]), Buffer.from('"}')])
      const res = await post(`${url}/api/log.appendNote`, body)
      expect(res.status).toBe(400)
      expect(await res.json()).toMatchObject({
        ok: false,
        error: { code: 'BAD_ARGUMENT', message: expect.stringMatching(/UTF-8/) }
      })
      expect(vault.heads()).toEqual(before)
      // a well-formed é is signed as sent
      const ok = await post(`${url}/api/log.appendNote`, JSON.stringify({ text: 'café' }))
      expect(await ok.json()).toMatchObject({ ok: true })
      const listed = await (
        await post(`${url}/api/log.list`, JSON.stringify({ type: 'audit.note', payloads: true }))
      ).json()
      expect(JSON.stringify(listed)).toContain('café')
      expect(JSON.stringify(listed)).not.toContain('\ufffd')
    })
  })

  it('http - a lone surrogate (valid JSON escape, not Unicode) is refused with its reason and nothing is appended', async () => {
    await withHost(async (vault, url) => {
      const before = vault.heads()
      const res = await post(`${url}/api/log.appendNote`, '{"text":"half \\ud800 a pair"}')
      const body = (await res.json()) as { ok: boolean; error: { code: string; message: string } }
      expect(body).toMatchObject({ ok: false, error: { code: 'MALFORMED' } })
      expect(body.error.message).toMatch(/surrogate/)
      expect(vault.heads()).toEqual(before)
      expect(() => canonicalize({ ['\udc00']: 1 })).toThrow(/surrogate/)
    })
  })

  it('http - a bad percent-encoding in the API path is 400, not 500', async () => {
    await withHost(async (vault, url) => {
      const res = await post(`${url}/api/%ZZ`, '{}')
      expect(res.status).toBe(400)
      expect(await res.json()).toMatchObject({ ok: false, error: { code: 'BAD_ARGUMENT' } })
      expect((await post(`${url}/%E0%A4%A`, '')).status).toBeLessThan(500)
    })
  })

  it('ingest - bodies beyond the intake memory budget are told 503 + Retry-After, the ones taken are sealed, nothing is half-taken', async () => {
    const t = await streamingVaults()
    await t.bob.close()
    const store = await TelemetryStore.open(t.alice)
    const staticDir = await tempDir()
    const { server, url } = await startHttpHost({
      handlers: createHandlers(t.alice, { telemetry: store }),
      token: TOKEN,
      staticDir,
      ingest: { store, token: INGEST },
      ingestMemory: 256 * 1024
    })
    try {
      const bodies = Array.from({ length: 8 }, (_, i) => boilerLines(1500, `flood${i}`).join('\n')) // ~180 KiB each
      // Each request is held open (the body sent, the response not read) until all have been sent.
      const answers = await Promise.all(
        bodies.map(
          (b) =>
            new Promise<{ status: number; retry?: string; admitted?: number }>((resolve, reject) => {
              const req = request(
                `${url}/ingest`,
                {
                  method: 'POST',
                  headers: { Authorization: `Bearer ${INGEST}`, 'Content-Length': Buffer.byteLength(b) }
                },
                (res) => {
                  let text = ''
                  res.on('data', (c) => {
                    text += c
                  })
                  res.on('end', () =>
                    resolve({
                      status: res.statusCode!,
                      retry: res.headers['retry-after'] as string | undefined,
                      admitted:
                        res.statusCode === 200
                          ? (JSON.parse(text) as { value: { admitted: number } }).value.admitted
                          : undefined
                    })
                  )
                }
              )
              req.on('error', reject)
              req.end(b)
            })
        )
      )
      const taken = answers.filter((a) => a.status === 200)
      const busy = answers.filter((a) => a.status === 503)
      expect(taken.length).toBeGreaterThan(0)
      expect(busy.length).toBeGreaterThan(0)
      expect(taken.length + busy.length).toBe(bodies.length)
      for (const b of busy) expect(b.retry).toBe('1')
      for (const a of taken) expect(a.admitted).toBe(1500)
      await store.flush()
      expect((await store.streamReadings('boiler.temp')).length).toBe(taken.length * 1500)
      // once the flood is over, a retry is taken
      const again = await fetch(`${url}/ingest`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${INGEST}` },
        body: boilerLines(10, 'later').join('\n')
      })
      expect(again.status).toBe(200)
    } finally {
      await close(server)
      await store.close()
      await t.alice.close()
    }
  })

  it('telemetry - fields named constructor, __proto__, toString or valueOf are not in the schema and are refused; a wrong type names what came', async () => {
    const t = await streamingVaults()
    await t.bob.close()
    const store = await TelemetryStore.open(t.alice)
    try {
      const now = new Date().toISOString()
      const line = (id: string, values: string) =>
        `{"id":"${id}","stream":"boiler.temp","ts":"${now}","schema":1,"values":${values}}`
      const result = await store.ingest(
        [
          line('c1', '{"celsius":60,"constructor":1}'),
          line('c2', '{"celsius":60,"__proto__":{"x":1}}'),
          line('c3', '{"celsius":60,"toString":2}'),
          line('c4', '{"celsius":60,"valueOf":3}'),
          line('c5', '{"celsius":{"deg":60}}'),
          line('c6', '{"celsius":"hot"}'),
          line('c7', '{"celsius":61}')
        ].join('\n')
      )
      const by = new Map(result.receipts.map((r) => [r.id, r]))
      for (const id of ['c1', 'c2', 'c3', 'c4'])
        expect(by.get(id), id).toMatchObject({
          decision: 'QUARANTINE',
          code: 'SCHEMA_MISMATCH',
          reason: expect.stringMatching(/is not in schema/)
        })
      expect(by.get('c5')).toMatchObject({
        decision: 'QUARANTINE',
        reason: expect.stringMatching(/must be a number, not an object/)
      })
      expect(by.get('c6')).toMatchObject({
        decision: 'QUARANTINE',
        reason: expect.stringMatching(/must be a number, not text/)
      })
      expect(by.get('c7')).toMatchObject({ decision: 'ADMIT' })
      expect(result.admitted).toBe(1)
    } finally {
      await store.close()
      await t.alice.close()
    }
  })

  it('keys - a key file whose scrypt parameters are each in bounds but together cost gigabytes is refused before any derivation', async () => {
    const salt = 'ab'.repeat(16)
    const t0 = performance.now()
    expect(() => checkKdf({ name: 'scrypt', N: 2 ** 20, r: 32, p: 4, salt })).toThrow(/MiB/)
    expect(() => checkKdf({ name: 'scrypt', N: 2 ** 20, r: 8, p: 4, salt })).toThrow()
    expect(performance.now() - t0).toBeLessThan(1000) // refused by arithmetic, not by running it
    expect(checkKdf({ name: 'scrypt', N: 2 ** 15, r: 8, p: 1, salt })).toMatchObject({ N: 2 ** 15 })
    expect(128 * 2 ** 18 * 8).toBeLessThanOrEqual(KDF_BOUNDS.maxMemory) // the largest N at r=8 still opens
    // a real key file with such parameters: the device says why and stays locked
    const dir = join(await tempDir(), 'v')
    expect(
      spawnSync(process.execPath, [BIN, 'init', '--dir', dir, '--vault', 'V', '--name', 'a', '--roles', 'operator'], {
        env: { ...process.env, TRESOR_PASSPHRASE: PASS },
        encoding: 'utf8'
      }).status
    ).toBe(0)
    const keyPath = join(dir, 'device.key')
    const file = JSON.parse(await readFile(keyPath, 'utf8'))
    const kdfAt = JSON.stringify(file).includes('"kdf"')
    expect(kdfAt).toBe(true)
    const hostile = JSON.stringify(file)
      .replace(/"N":\d+/, `"N":${2 ** 20}`)
      .replace(/"r":\d+/, '"r":32')
      .replace(/"p":\d+/, '"p":4')
    await writeFile(keyPath, hostile)
    const r = spawnSync(process.execPath, [BIN, 'note', '--dir', dir, '--text', 'x'], {
      env: { ...process.env, TRESOR_PASSPHRASE: PASS },
      encoding: 'utf8',
      timeout: 20_000
    })
    expect(r.status).not.toBe(0)
    expect(r.stderr).toMatch(/scrypt/)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
  })

  it('keys - a FIFO (or any non-file) where device.key should be is refused at once, never waited on', async () => {
    const dir = await tempDir()
    const fifo = join(dir, 'device.key')
    execFileSync('mkfifo', [fifo])
    expect(await codeOf(readKeyFile(fifo))).toBe('MALFORMED')
    expect(await codeOf(readKeyFile(dir))).toBe('MALFORMED')
    expect(await codeOf(readKeyFile(join(dir, 'absent.key')))).toBe('NOT_FOUND')
  })

  it('keys - three keygen runs racing on one folder make exactly one key, and all three print that one (no key is silently replaced)', async () => {
    const dir = join(await tempDir(), 'k')
    const run = () =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        const c = spawn(process.execPath, [BIN, 'keygen', '--dir', dir, '--name', 'a', '--json'], {
          env: { ...process.env, TRESOR_PASSPHRASE: PASS }
        })
        let out = '',
          err = ''
        c.stdout.on('data', (d) => {
          out += d
        })
        c.stderr.on('data', (d) => {
          err += d
        })
        c.on('exit', (code) => resolve({ code, out, err }))
      })
    const results = await Promise.all([run(), run(), run()])
    for (const r of results) expect(r.code, r.err).toBe(0)
    const onDisk = (JSON.parse(await readFile(join(dir, 'device.key'), 'utf8')) as { publicKey: string }).publicKey
    expect(results.map((r) => (JSON.parse(r.out) as { publicKey: string }).publicKey)).toEqual([onDisk, onDisk, onDisk])
    expect((await readdir(dir)).filter((f) => f.includes('.tmp-'))).toEqual([])
  })

  it("files - a new vault folder (init or demo) is the user's alone: 0700, and every file in it and in LevelDB's folder 0600, whatever the umask", async () => {
    const dir = join(await tempDir(), 'v')
    const r = spawnSync(
      'sh',
      ['-c', `umask 000; exec "${process.execPath}" "${BIN}" init --dir "${dir}" --vault V --name a --roles operator`],
      { env: { ...process.env, TRESOR_PASSPHRASE: PASS }, encoding: 'utf8' }
    )
    expect(r.status, r.stderr).toBe(0)
    expect((await stat(dir)).mode & 0o777).toBe(0o700)
    for (const f of ['device.key', 'vault.json', 'verified-point.json', 'genesis.event', 'append.journal'])
      expect((await stat(join(dir, f))).mode & 0o777, f).toBe(0o600)
    expect((await stat(join(dir, 'events.db'))).mode & 0o777).toBe(0o700)
    // demo too, and LevelDB's own files (tables appear on the next open)
    const demo = join(await tempDir(), 'demo')
    for (let i = 0; i < 2; i++)
      expect(
        spawnSync('sh', ['-c', `umask 000; exec "${process.execPath}" "${BIN}" demo --dir "${demo}"`], {
          env: { ...process.env, TRESOR_PASSPHRASE: PASS },
          encoding: 'utf8'
        }).status
      ).toBe(0)
    expect((await stat(demo)).mode & 0o777).toBe(0o700)
    const files = await readdir(join(demo, 'events.db'))
    expect(files.some((f) => f.endsWith('.ldb'))).toBe(true)
    for (const f of files) expect((await stat(join(demo, 'events.db', f))).mode & 0o077, f).toBe(0)
    for (const f of await readdir(demo)) expect((await stat(join(demo, f))).mode & 0o077, f).toBe(0)
  })
})
