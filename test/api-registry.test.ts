/**
 * The API registry: every method is declared once, in its domain file, with
 * its metadata; the method list, the auto-lock behaviour and each transport's
 * argument limit are derived from it, so nothing can drift.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Server } from 'node:http'
import {
  AUTO_LOCK_METHODS,
  createHandlers,
  dispatch,
  METHOD_META,
  METHODS,
  maxArgBytes,
  registryOf,
  type Handlers,
  type Method
} from '../core/api.js'
import { syncDomain } from '../sync/methods.js'
import { openHost } from '../core/host.js'
import type { Vault } from '../core/vault.js'
import { createIpcHandler } from '../main/ipc-handlers.js'
import { isRendererUrl } from '../main/window-options.js'
import { startHttpHost } from '../edge/http-host.js'
import { cleanupDirs, makeVault, PASS, tempDir } from './helpers.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
let vault: Vault

beforeAll(async () => {
  vault = await makeVault({ notes: 1 })
})
afterAll(async () => {
  await vault.close()
  await cleanupDirs()
})

describe('api registry', () => {
  it('registry - every method has metadata and a handler, and nothing else is offered', () => {
    const handlers = createHandlers(vault)
    expect(Object.keys(handlers).sort()).toEqual([...METHODS].sort())
    for (const m of METHODS) {
      const meta = METHOD_META[m]
      expect(meta, m).toBeDefined()
      expect(typeof meta.signs, m).toBe('boolean')
      expect(typeof meta.writes, m).toBe('boolean')
      expect(Number.isSafeInteger(meta.maxArgBytes) && meta.maxArgBytes >= 1024, m).toBe(true)
      expect(typeof handlers[m], m).toBe('function')
    }
    expect(Object.getPrototypeOf(METHOD_META)).toBeNull() // `constructor`, `toString` are not methods
    expect(METHODS).not.toContain('constructor')
  })

  it("registry - the methods marked as the host's are answered by the host, the others by the open vault", async () => {
    const dir = await tempDir()
    const host = openHost({ dir })
    try {
      const hosted = METHODS.filter((m) => METHOD_META[m].host)
      expect(hosted.sort()).toEqual([
        'onboard.create',
        'onboard.join',
        'onboard.joinCouch',
        'onboard.joinGit',
        'onboard.keygen',
        'onboard.status',
        'vault.recover'
      ])
      // no vault yet: the host answers onboarding itself, and vault calls say there is no vault
      expect(await host.handlers['onboard.status']({})).toMatchObject({ hasVault: false })
      await expect(host.handlers['vault.status']({})).rejects.toMatchObject({ code: 'NOT_FOUND' })
    } finally {
      await host.close()
    }
  })

  it('registry - every call that uses the key restarts the auto-lock timer (bundle.export and telemetry.prove included), and a read does not', async () => {
    expect(AUTO_LOCK_METHODS).toEqual(
      expect.arrayContaining([
        'vault.unlock',
        'vault.verify',
        'log.appendNote',
        'gov.propose',
        'gov.approve',
        'gov.commit',
        'bundle.export',
        'telemetry.prove'
      ])
    )
    expect(AUTO_LOCK_METHODS).not.toContain('vault.status')
    const LOCK_MS = 300
    const handlers = createHandlers(vault, { autoLockMs: LOCK_MS }) as unknown as Record<
      Method,
      (a: unknown) => Promise<unknown>
    >
    for (const m of AUTO_LOCK_METHODS) {
      if (m === 'vault.unlock') continue
      await handlers['vault.unlock']({ passphrase: PASS })
      await sleep(LOCK_MS * 0.6)
      await handlers[m]({}).catch(() => undefined) // arguments or not, the call used (or tried) the key
      await sleep(LOCK_MS * 0.6)
      expect(vault.unlocked, `${m} restarts the timer`).toBe(true)
    }
    await handlers['vault.unlock']({ passphrase: PASS })
    await sleep(LOCK_MS * 0.6)
    await handlers['vault.status']({})
    await sleep(LOCK_MS * 0.6)
    expect(vault.unlocked, 'a read does not keep the key open').toBe(false)
  })

  it('registry - each transport takes its argument limit from the method: a bundle may be megabytes, a note not', async () => {
    expect(maxArgBytes('bundle.import')).toBeGreaterThan(40 * 1024 * 1024)
    expect(maxArgBytes('vault.recover')).toBe(maxArgBytes('bundle.import'))
    expect(maxArgBytes('log.appendNote')).toBe(64 * 1024)
    const big = { text: JSON.stringify({ format: 'not-a-bundle', pad: 'x'.repeat(200 * 1024) }) }
    const renderer = pathToFileURL('/opt/Tresor/resources/app/out/renderer/index.html').href
    const ipc = createIpcHandler(createHandlers(vault), (url) => isRendererUrl(renderer, url))
    const viaIpc = await ipc({ senderFrame: { url: renderer } }, 'bundle.import', big)
    expect(viaIpc).toMatchObject({ ok: false })
    expect((viaIpc as { error: { code: string } }).error.code).not.toBe('OVERSIZED') // it reached the bundle check
    expect(
      await ipc({ senderFrame: { url: renderer } }, 'log.appendNote', { text: 'x'.repeat(200 * 1024) })
    ).toMatchObject({ ok: false, error: { code: 'OVERSIZED' } })
    const staticDir = await tempDir()
    await writeFile(join(staticDir, 'index.html'), '<!doctype html>')
    const token = 'c'.repeat(64)
    const { server, url } = await startHttpHost({ handlers: createHandlers(vault) as Handlers, token, staticDir })
    try {
      const post = (method: string, body: unknown) =>
        fetch(`${url}/api/${method}`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${token}` },
          body: JSON.stringify(body)
        })
      const viaHttp = await post('bundle.import', big)
      expect(viaHttp.status).toBe(200)
      expect(((await viaHttp.json()) as { error: { code: string } }).error.code).not.toBe('OVERSIZED')
      expect((await post('log.appendNote', { text: 'x'.repeat(200 * 1024) })).status).toBe(413)
    } finally {
      ;(server as Server).closeAllConnections()
      await new Promise((r) => (server as Server).close(r))
    }
  })

  it("registry - a host extension (sync's methods) is served, sized and auto-locked from its own metadata; core alone does not know it, and it may not shadow a core method", async () => {
    const handlers = createHandlers(vault, { autoLockMs: 0 }, [syncDomain()])
    const registry = registryOf([syncDomain()])
    expect(METHODS).not.toContain('sync.quarantine') // core's contract knows nothing of sync
    expect(registry.has('sync.quarantine') && registry.has('vault.status')).toBe(true)
    expect(registry.meta['sync.couch']).toMatchObject({ signs: true, writes: true })
    expect(await handlers['sync.quarantine']({})).toEqual([])
    // core's registry alone refuses it
    await expect(dispatch(handlers, 'sync.quarantine', {})).rejects.toMatchObject({ code: 'UNKNOWN_METHOD' })
    expect(await dispatch(handlers, 'sync.quarantine', {}, registry)).toEqual([])
    await expect(handlers['sync.couch']({ url: 'file:///etc/passwd' } as never)).rejects.toMatchObject({
      code: 'BAD_ARGUMENT'
    })
    const renderer = pathToFileURL('/opt/Tresor/resources/app/out/renderer/index.html').href
    const ipc = createIpcHandler(handlers, (url) => isRendererUrl(renderer, url), registry)
    expect(await ipc({ senderFrame: { url: renderer } }, 'sync.quarantine', {})).toEqual({ ok: true, value: [] })
    expect(
      await ipc({ senderFrame: { url: renderer } }, 'sync.git', {
        url: 'http://127.0.0.1:1/x.git',
        token: 'x'.repeat(100 * 1024)
      })
    ).toMatchObject({ ok: false, error: { code: 'OVERSIZED' } })
    const shadow = {
      meta: { 'vault.status': { signs: false, writes: false, maxArgBytes: 1024 } },
      build: () => ({ 'vault.status': async () => null })
    }
    expect(() => registryOf([shadow])).toThrow(/already registered/)
    expect(() => createHandlers(vault, {}, [shadow])).toThrow(/already registered/)
  })
})
