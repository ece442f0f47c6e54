import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Server } from 'node:http'
import { createHandlers } from '../core/api.js'
import type { Vault } from '../core/vault.js'
import type { HostEvent } from '../core/host.js'
import { startHttpHost } from '../edge/http-host.js'
import { cleanupDirs, makeVault, tempDir } from './helpers.js'

const TOKEN = 'a'.repeat(64)
let vault: Vault, server: Server, base: string

beforeAll(async () => {
  vault = await makeVault({ notes: 2 })
  const staticDir = join(await tempDir(), 'ui')
  await mkdir(staticDir, { recursive: true })
  await writeFile(join(staticDir, 'index.html'), '<!doctype html><title>Tresor</title>')
  await mkdir(join(staticDir, 'assets'))
  await writeFile(join(staticDir, 'assets', 'app.js'), 'console.log(1)')
  // a trailing separator, as a URL-derived folder has one
  ;({ server, url: base } = await startHttpHost({
    handlers: createHandlers(vault),
    token: TOKEN,
    staticDir: staticDir + '/'
  }))
})
afterAll(async () => {
  await new Promise((r) => server.close(r))
  await vault.close()
  await cleanupDirs()
})

const call = (
  method: string,
  body: unknown = {},
  headers: Record<string, string> = { Authorization: `Bearer ${TOKEN}` }
) =>
  fetch(`${base}/api/${method}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body)
  })

describe('edge http host', () => {
  it('http - listens on loopback only', () => {
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
  })

  it('http - the typed API answers with the IPC envelope', async () => {
    const res = await call('vault.status')
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({
      ok: true,
      value: { vaultId: vault.vaultId, events: 3, health: { state: 'ok' } }
    })
  })

  it('http - a call without the token, or with another, is refused', async () => {
    expect((await call('vault.status', {}, {})).status).toBe(401)
    expect((await call('vault.status', {}, { Authorization: `Bearer ${'b'.repeat(64)}` })).status).toBe(401)
  })

  it('http - a call from another origin is refused even with the token', async () => {
    const res = await call('vault.status', {}, { Authorization: `Bearer ${TOKEN}`, Origin: 'http://evil.example' })
    expect(res.status).toBe(403)
  })

  it('http - unknown methods, bad JSON and oversized bodies get clear errors', async () => {
    expect(await (await call('vault.destroy')).json()).toMatchObject({ ok: false, error: { code: 'UNKNOWN_METHOD' } })
    expect(await (await call('log.list', '{not json')).json()).toMatchObject({
      ok: false,
      error: { code: 'BAD_ARGUMENT' }
    })
    expect((await call('log.appendNote', { text: 'x'.repeat(70_000) })).status).toBe(413)
    expect((await fetch(`${base}/api/vault.status`)).status).toBe(405)
  })

  it('http - serves the UI with the strict CSP and nothing outside its folder', async () => {
    const res = await fetch(`${base}/`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'")
    expect(await res.text()).toContain('<title>Tresor</title>')
    const asset = await fetch(`${base}/assets/app.js`)
    expect(asset.status).toBe(200)
    expect(asset.headers.get('content-type')).toMatch(/javascript/)
    for (const path of ['/../vault.json', '/%2e%2e/vault.json', '/..%2fvault.json'])
      expect((await fetch(`${base}${path}`)).status).toBe(404)
  })
})

describe('edge http host: the event stream', () => {
  it('http - GET /events streams what changed (coalesced bursts) to a caller with the token, from this origin only', async () => {
    const events = (listener: (e: HostEvent) => void) =>
      vault.onChange((change) => listener({ topic: 'vault', change }))
    const staticDir = await tempDir()
    const {
      server: s,
      url,
      endStreams
    } = await startHttpHost({ handlers: createHandlers(vault), token: TOKEN, staticDir, events })
    try {
      expect((await fetch(`${url}/events`)).status).toBe(401)
      expect((await fetch(`${url}/events`, { headers: { Authorization: `Bearer ${'b'.repeat(64)}` } })).status).toBe(
        401
      )
      const auth = { Authorization: `Bearer ${TOKEN}` }
      expect((await fetch(`${url}/events`, { headers: { ...auth, Origin: 'http://evil.example' } })).status).toBe(403)
      expect((await fetch(`${url}/events`, { method: 'POST', headers: auth })).status).toBe(405)
      const res = await fetch(`${url}/events`, { headers: auth })
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
      const reader = res.body!.getReader()
      const utf8 = new TextDecoder()
      let text = ''
      const read = async (until: RegExp) => {
        while (!until.test(text)) text += utf8.decode((await reader.read()).value)
      }
      await read(/: tresor events\n\n/)
      // a burst of appends is one message naming the change, not one per append
      await Promise.all(Array.from({ length: 20 }, (_, i) => vault.append('audit.note', { text: `burst ${i}` })))
      await read(/data: .*\n\n/)
      await new Promise((r) => setTimeout(r, 200))
      const messages = text.split('\n\n').filter((m) => m.startsWith('data: '))
      expect(messages.length).toBeLessThanOrEqual(3)
      expect(JSON.parse(messages[0]!.slice(6))).toEqual({ events: [{ topic: 'vault', kind: 'append' }] })
      // the host's shutdown ends the stream (the reader sees its end)
      endStreams()
      while (!(await reader.read()).done);
    } finally {
      await new Promise((r) => s.close(r))
    }
  })
})
