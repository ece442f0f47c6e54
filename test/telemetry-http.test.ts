import { afterAll, describe, expect, it } from 'vitest'
import { readFile, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Vault } from '../core/vault.js'
import { TelemetryStore } from '../core/telemetry/store.js'
import { createHandlers } from '../core/api.js'
import { startHttpHost } from '../edge/http-host.js'
import { cleanupDirs, PASS, tempDir } from './helpers.js'
import { boilerLines, streamingVaults } from './support/telemetry-vault.js'
import { startDaemon } from './support/daemon.js'

const post = (url: string, token: string, body: string, extra: Record<string, string> = {}) =>
  fetch(url, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/x-ndjson', ...extra },
    body
  })

describe('telemetry over HTTP', () => {
  afterAll(cleanupDirs)

  it('http ingest - SIGKILL right after the acknowledgement loses nothing: every acknowledged reading is there after a restart', async () => {
    // nothing sealed before the kill: the WAL alone carries them
    const t = await streamingVaults({ settings: { telemetryBatchMax: 10_000, telemetryBatchMs: 600_000 } })
    const dir = t.alice.dir
    await t.alice.close()
    await t.bob.close()
    const daemon = await startDaemon(dir, [], { TRESOR_PASSPHRASE: PASS })
    const url = `${daemon.url}/ingest`
    const token = (await readFile(join(dir, 'ingest-token'), 'utf8')).trim()
    // The daemon answers at once and opens the vault in the background: wait for it.
    for (let i = 0; i < 200; i++) {
      const res = await fetch(`${daemon.url}/api/onboard.status`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${daemon.token}` }
      })
      if (((await res.json()) as { value: { hasVault: boolean } }).value.hasVault) break
      await new Promise((r) => setTimeout(r, 50))
    }
    const acked: string[] = []
    try {
      for (let round = 0; round < 5; round++) {
        const lines = boilerLines(200, `kill${round}`)
        const res = await post(url, token, lines.join('\n'))
        expect(res.status).toBe(200)
        const body = (await res.json()) as { value: { admitted: number } }
        expect(body.value.admitted).toBe(200)
        acked.push(...lines.map((l) => JSON.parse(l).id as string))
      }
    } finally {
      await daemon.stop('SIGKILL')
    }
    const vault = await Vault.open({ dir })
    await vault.unlock(PASS)
    const store = await TelemetryStore.open(vault)
    try {
      const held = new Set((await store.streamReadings('boiler.temp')).map((r) => r.id))
      expect(acked.filter((id) => !held.has(id))).toEqual([])
      expect(held.size).toBe(1000)
      expect(store.head.seq).toBe(1) // sealed on reopen, from the WAL
      expect((await store.verifyAll()).problems).toEqual([])
    } finally {
      await store.close()
      await vault.close()
    }
  })

  it('http ingest - only the ingest token opens it; a full budget answers 503 with Retry-After and takes nothing; receipts per line', async () => {
    const t = await streamingVaults({ settings: { telemetryBudgetKB: 16 } })
    const store = await TelemetryStore.open(t.alice)
    const staticDir = join(await tempDir(), 'ui')
    await mkdir(staticDir, { recursive: true })
    await writeFile(join(staticDir, 'index.html'), '<!doctype html>')
    const apiToken = 'a'.repeat(64),
      ingestToken = 'b'.repeat(64)
    const { server, url } = await startHttpHost({
      handlers: createHandlers(t.alice, { telemetry: store }),
      token: apiToken,
      staticDir,
      ingest: { store, token: ingestToken }
    })
    try {
      const lines = boilerLines(3, 'h')
      expect((await post(`${url}/ingest`, apiToken, lines.join('\n'))).status).toBe(401)
      expect(
        (await post(`${url}/ingest`, ingestToken, lines.join('\n'), { Origin: 'http://evil.example' })).status
      ).toBe(403)
      expect(
        (
          await fetch(`${url}/api/vault.status`, {
            method: 'POST',
            headers: { Authorization: `Bearer ${ingestToken}` }
          })
        ).status
      ).toBe(401)
      const res = await post(`${url}/ingest`, ingestToken, [lines[0], 'nope', lines[0], lines[1]].join('\n'))
      expect(res.status).toBe(200)
      const { value } = (await res.json()) as { value: { receipts: { decision: string; code?: string }[] } }
      expect(value.receipts.map((r) => `${r.decision}${r.code ? ` ${r.code}` : ''}`)).toEqual([
        'ADMIT',
        'QUARANTINE MALFORMED',
        'DUPLICATE DUPLICATE',
        'ADMIT'
      ])
      const big = await post(`${url}/ingest`, ingestToken, 'x'.repeat(9 * 1024 * 1024))
      expect(big.status).toBe(413)
      expect(((await big.json()) as { error: { code: string } }).error.code).toBe('OVERSIZED')
      let status = 200,
        i = 0
      while (status === 200)
        status = (await post(`${url}/ingest`, ingestToken, boilerLines(50, `fill${i++}`).join('\n'))).status
      const full = await post(`${url}/ingest`, ingestToken, boilerLines(1, 'late').join('\n'))
      expect(full.status).toBe(503)
      expect(full.headers.get('retry-after')).toBe('1')
      expect(((await full.json()) as { error: { code: string } }).error.code).toBe('BACKPRESSURE')
      expect((await store.streamReadings('boiler.temp')).some((r) => r.id === 'late-0')).toBe(false)
      // refused before the body is read
      expect((await post(`${url}/ingest`, ingestToken, 'x'.repeat(9 * 1024 * 1024))).status).toBe(503)
    } finally {
      await new Promise((r) => server.close(r))
      await store.close()
      await t.alice.close()
      await t.bob.close()
    }
  })
})
