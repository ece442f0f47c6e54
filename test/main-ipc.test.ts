import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { createHandlers, Vault } from '../core/index.js'
import { createIpcHandler, MAX_ARGS_BYTES, type IpcHandler } from '../main/ipc-handlers.js'
import { openVaultHost } from '../main/vault-host.js'
import { isRendererUrl } from '../main/window-options.js'

const RENDERER = pathToFileURL('/opt/Tresor/resources/app/out/renderer/index.html').href
const trusted = { senderFrame: { url: RENDERER } }

let dir: string
let vault: Vault
let handle: IpcHandler

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tresor-ipc-'))
  vault = await Vault.create({
    dir,
    vaultName: 'T',
    passphrase: 'pw',
    memberName: 'alice',
    roles: ['operator'],
    kdf: { N: 2 ** 14, r: 8, p: 1 }
  })
  handle = createIpcHandler(createHandlers(vault), (url) => isRendererUrl(RENDERER, url))
})

afterAll(async () => {
  await vault?.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('main ipc', () => {
  test('ipc - untrusted sender frame is refused', async () => {
    for (const event of [
      { senderFrame: { url: 'https://evil.example/index.html' } },
      { senderFrame: { url: 'file:///tmp/other.html' } },
      { senderFrame: null }
    ]) {
      const res = await handle(event, 'vault.lock', {})
      expect(res.ok).toBe(false)
    }
    // Refused before dispatch: the lock never ran.
    expect(vault.unlocked).toBe(true)
  })

  test('ipc - unknown method is refused with UNKNOWN_METHOD', async () => {
    for (const method of ['vault.destroy', '__proto__', 'constructor', 42, null]) {
      const res = await handle(trusted, method, {})
      expect(res).toMatchObject({ ok: false, error: { code: 'UNKNOWN_METHOD' } })
    }
  })

  test('ipc - oversized arguments are refused', async () => {
    const before = (await vault.store.db.info()).doc_count
    const res = await handle(trusted, 'log.appendNote', { text: 'x'.repeat(MAX_ARGS_BYTES + 1) })
    expect(res).toMatchObject({ ok: false, error: { code: 'OVERSIZED' } })
    expect((await vault.store.db.info()).doc_count).toBe(before)
  })

  test('ipc - a core VaultError crosses as {type, code, message}', async () => {
    const res = await handle(trusted, 'log.list', { limit: 0 })
    expect(res.ok).toBe(false)
    if (res.ok) return
    expect(Object.getPrototypeOf(res.error)).toBe(Object.prototype)
    expect(Object.keys(res.error).sort()).toEqual(['code', 'message', 'type'])
    expect(res.error).toEqual({ type: 'VaultError', code: 'BAD_ARGUMENT', message: expect.stringContaining('limit') })
  })

  test('ipc - trusted call returns the handler result', async () => {
    const res = await handle(trusted, 'vault.status', {})
    expect(res).toMatchObject({
      ok: true,
      value: { name: 'T', vaultId: vault.vaultId, device: vault.device, health: { state: 'ok' } }
    })
  })

  test('ipc - arguments are never logged', async () => {
    const spies = (['log', 'info', 'warn', 'error', 'debug'] as const).map((m) =>
      vi.spyOn(console, m).mockImplementation(() => {})
    )
    try {
      const res = await handle(trusted, 'vault.unlock', { passphrase: 'not-the-passphrase' })
      expect(res).toMatchObject({ ok: false, error: { code: 'KEY_AUTH_FAILED' } })
      expect(JSON.stringify(res)).not.toContain('not-the-passphrase')
      for (const spy of spies) expect(spy).not.toHaveBeenCalled()
    } finally {
      for (const spy of spies) spy.mockRestore()
    }
  })

  test('ipc - with no vault yet, vault.status answers NOT_FOUND', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'tresor-none-'))
    try {
      const host = openVaultHost(empty)
      const res = await createIpcHandler(host.handlers, () => true)(trusted, 'vault.status', {})
      expect(res).toMatchObject({ ok: false, error: { type: 'VaultError', code: 'NOT_FOUND' } })
      await host.close()
    } finally {
      await rm(empty, { recursive: true, force: true })
    }
  })
})
