/**
 * The edge daemon, observed (issue 18): `GET /metrics` (the access token) read by a Prometheus text-format parser,
 * its counters moving with what the daemon does; structured JSON logs with the vault, device and request ids and the
 * governance facts; and across a whole session, not one secret or private value in anything the daemon wrote.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { join } from 'node:path'
import parseProm, { type PromFamily } from 'parse-prometheus-text-format'
import { threeMembers } from './support/members.js'
import { startDaemon, type Daemon } from './support/daemon.js'
import { carry, cleanupDirs, lengths, PASS, tempDir } from './helpers.js'
import { ADMIN, startCouch } from './support/couch.js'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const CLI = fileURLToPath(new URL('../edge/bin/tresor.mjs', import.meta.url))
import { approve, commit, propose } from '../core/governance/calls.js'
import { exportBundle } from '../core/bundle.js'
import { makeZip } from './support/zip.js'

let daemon: Daemon | null = null
afterAll(async () => {
  await daemon?.stop()
  await cleanupDirs()
})

const value = (families: PromFamily[], name: string, labels: Record<string, string> = {}): number => {
  const f = families.find((x) => x.name === name)
  const m = f?.metrics.find((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v))
  return m ? Number(m.value ?? m.count) : 0
}

describe('observability', () => {
  it('observe - /metrics (token only) parses as Prometheus text and its counters move with the daemon; a read-only token reads and signs or changes nothing; logs are JSON with vault, device and request ids and say when a policy changed; no passphrase, token, note or private document anywhere in the output', async () => {
    const { alice, bob } = await threeMembers()
    // a settings change committed on bob's device, to arrive at alice's daemon by bundle
    const p = await propose(alice, { kind: 'vault.settings', args: { settings: { telemetryBatchMax: 500 } } }, 'r')
    await carry(alice, bob)
    await approve(bob, p.id)
    await commit(bob, p.id)
    const fromBob = JSON.stringify(await exportBundle(bob, lengths(alice)))
    const dir = alice.dir
    await alice.close()
    await bob.close()
    daemon = await startDaemon(dir, [], { TRESOR_PASSPHRASE: PASS })
    const d = daemon
    const token = d.token
    const ingestToken = (await readFile(join(dir, 'ingest-token'), 'utf8')).trim()
    const call = async (method: string, args: unknown = {}, headers: Record<string, string> = {}) => {
      const res = await fetch(`${d.url}/api/${method}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}`, ...headers },
        body: JSON.stringify(args)
      })
      return { id: res.headers.get('x-request-id'), body: (await res.json()) as { ok: boolean; value?: unknown } }
    }
    const scrape = async () => {
      const res = await fetch(`${d.url}/metrics`, { headers: { Authorization: `Bearer ${token}` } })
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
      return parseProm(await res.text())
    }
    expect((await fetch(`${d.url}/metrics`)).status).toBe(401)
    expect((await fetch(`${d.url}/metrics`, { headers: { Authorization: 'Bearer nope' } })).status).toBe(401)
    await call('vault.status')
    const before = await scrape()
    const NOTE = 'the note text is a payload, never a log line 7c1e'
    const SECRET = 'salary of alice: 91,234 per year'
    // a session: lock and unlock with the passphrase in a body, a note, a private document, a bundle, a bad call
    expect((await call('vault.lock')).body.ok).toBe(true)
    expect((await call('vault.unlock', { passphrase: PASS })).body.ok).toBe(true)
    const noted = await call('log.appendNote', { text: NOTE }, { 'X-Request-Id': 'req-note-1' })
    expect(noted.id).toBe('req-note-1')
    const zip = makeZip([
      {
        name: 'hr/pay.md',
        data: `---\nid: PAY\nversion: "1"\nlifecycle: ACTIVE\nclassification: PRIVATE\n---\n${SECRET}\n`
      }
    ]).toString('base64')
    expect((await call('documents.migrate', { name: 'hr.zip', zip, reason: 'hr' })).body.ok).toBe(true)
    expect((await call('bundle.import', { text: fromBob })).body.ok).toBe(true)
    expect((await call('no.such.method')).body.ok).toBe(false)
    expect((await call('vault.unlock', { passphrase: 'wrong passphrase' })).body.ok).toBe(false)
    const after = await scrape()
    expect(value(after, 'tresor_api_requests_total', { method: 'log.appendNote', outcome: 'ok' })).toBe(1)
    expect(value(after, 'tresor_api_errors_total', { method: '(unknown)', code: 'UNKNOWN_METHOD' })).toBe(1)
    expect(value(after, 'tresor_api_errors_total', { method: 'vault.unlock' })).toBe(1)
    expect(value(after, 'tresor_api_requests_total', { method: 'vault.status', outcome: 'ok' })).toBe(1)
    // the latency histogram (this parser folds a labelled histogram's series into one: its buckets are what it keeps)
    const hist = after.find((f) => f.name === 'tresor_api_request_duration_seconds')!
    expect(hist.type).toBe('HISTOGRAM')
    expect(Number(hist.metrics[0]!.buckets!['+Inf'])).toBeGreaterThanOrEqual(1)
    // the note, the plan event and the proposal are appended here; bob's approval and commit are taken in
    expect(value(after, 'tresor_events_appended_total', { type: 'audit.note' })).toBe(
      value(before, 'tresor_events_appended_total', { type: 'audit.note' }) + 1
    )
    expect(value(after, 'tresor_events_appended_total', { type: 'doc.plan' })).toBe(1)
    expect(value(after, 'tresor_events_ingested_total')).toBeGreaterThanOrEqual(2)
    expect(value(after, 'tresor_governance_commits_total', { kind: 'vault.settings' })).toBe(1)
    expect(value(after, 'tresor_log_events')).toBeGreaterThan(value(before, 'tresor_log_events'))
    expect(value(after, 'tresor_read_only')).toBe(0)
    expect(value(after, 'tresor_unlocked')).toBe(1)
    expect(value(after, 'tresor_last_check_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 600)
    expect(after.find((f) => f.name === 'tresor_telemetry_backlog_bytes')!.metrics.length).toBe(2)
    // the read-only token reads (the API's reads, the metrics) and signs or changes nothing
    const readerToken = (await readFile(join(dir, 'reader-token'), 'utf8')).trim()
    const asReader = (method: string, args: unknown = {}) =>
      fetch(`${d.url}/api/${method}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${readerToken}` },
        body: JSON.stringify(args)
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as { ok: boolean; error?: { code: string } } }))
    expect((await asReader('gov.proposals')).body.ok).toBe(true)
    expect((await asReader('documents.index')).body.ok).toBe(true)
    for (const [method, args] of [
      ['log.appendNote', { text: 'from a reader' }],
      ['gov.propose', { action: { kind: 'flag.set', args: { flag: 'finance_enabled', value: true } }, reason: 'r' }],
      ['vault.lock', {}],
      ['vault.unlock', { passphrase: 'x' }],
      ['bundle.export', {}],
      ['onboard.status', {}]
    ] as const) {
      const r = await asReader(method, args)
      expect([method, r.status, r.body.error?.code]).toEqual([method, 403, 'NOT_ALLOWED'])
    }
    expect((await fetch(`${d.url}/metrics`, { headers: { Authorization: `Bearer ${readerToken}` } })).status).toBe(200)
    expect((await call('vault.status')).body).toMatchObject({ ok: true, value: { unlocked: true } })
    await d.stop()
    daemon = null
    const output = d.output()
    const logs = output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    const note = logs.find((l) => l.reqId === 'req-note-1')!
    expect(note).toMatchObject({ msg: 'api call', method: 'log.appendNote', ok: true, level: 30, service: 'tresor' })
    expect(note.vault).toMatch(/^[0-9a-f]{64}$/)
    expect(note.device).toMatch(/^[0-9a-f]{64}$/)
    expect(logs.find((l) => l.method === 'vault.unlock' && l.ok === false)).toMatchObject({ code: 'KEY_AUTH_FAILED' })
    expect(logs.find((l) => l.msg === 'policy changed')).toMatchObject({
      kind: 'vault.settings',
      proposal: p.id,
      approvers: ['bob']
    })
    for (const secret of [PASS, token, ingestToken, readerToken, NOTE, SECRET, 'wrong passphrase'])
      expect(output.includes(secret), `the output holds ${secret.slice(0, 12)}…`).toBe(false)
  })

  it('observe - with TRESOR_OTLP_ENDPOINT each API call is a span at that OTLP/HTTP collector (method, request id, outcome, code, vault), none with an argument or token', async () => {
    const bodies: string[] = []
    const collector = createServer((req, res) => {
      let b = ''
      req.on('data', (c: Buffer) => (b += c))
      req.on('end', () => {
        if (req.url === '/v1/traces') bodies.push(b)
        res.writeHead(200, { 'Content-Type': 'application/json' })
        res.end('{}')
      })
    })
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', () => r()))
    const endpoint = `http://127.0.0.1:${(collector.address() as { port: number }).port}`
    try {
      const { alice, bob } = await threeMembers()
      await bob.close()
      const dir = alice.dir
      await alice.close()
      const d = await startDaemon(dir, [], { TRESOR_PASSPHRASE: PASS, TRESOR_OTLP_ENDPOINT: endpoint })
      const call = (method: string, args: unknown, id: string) =>
        fetch(`${d.url}/api/${method}`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${d.token}`, 'X-Request-Id': id },
          body: JSON.stringify(args)
        }).then((r) => r.json())
      const NOTE = 'a traced note is not in its span 4d2a'
      await call('log.appendNote', { text: NOTE }, 'trace-note')
      await call('vault.unlock', { passphrase: 'not it' }, 'trace-unlock')
      await d.stop() // the batch is sent on shutdown
      const all = bodies.join('\n')
      expect(all).not.toContain(NOTE)
      expect(all).not.toContain(PASS)
      expect(all).not.toContain('not it')
      expect(all).not.toContain(d.token)
      const spans = bodies.flatMap((b) =>
        (
          JSON.parse(b) as {
            resourceSpans: {
              scopeSpans: {
                spans: {
                  name: string
                  attributes: { key: string; value: { stringValue?: string } }[]
                  status?: { code?: number }
                }[]
              }[]
            }[]
          }
        ).resourceSpans.flatMap((r) => r.scopeSpans.flatMap((sc) => sc.spans))
      )
      const attrs = (name: string) =>
        Object.fromEntries(spans.find((x) => x.name === name)!.attributes.map((a) => [a.key, a.value.stringValue]))
      expect(attrs('api log.appendNote')).toMatchObject({
        'tresor.method': 'log.appendNote',
        'tresor.request_id': 'trace-note',
        'tresor.outcome': 'ok'
      })
      expect(attrs('api log.appendNote')['tresor.vault']).toMatch(/^[0-9a-f]{64}$/)
      expect(attrs('api vault.unlock')).toMatchObject({
        'tresor.outcome': 'error',
        'tresor.error_code': 'KEY_AUTH_FAILED'
      })
      expect(spans.find((x) => x.name === 'api vault.unlock')!.status?.code).toBe(2) // ERROR
    } finally {
      await new Promise((r) => collector.close(r))
    }
  })

  it('observe - under tresor serve --sync the metrics say the daemon is online and count the events its live sync sends', async () => {
    const couch = await startCouch(join(await tempDir('tresor-couch-'), 'server'))
    try {
      const { alice, bob } = await threeMembers()
      await bob.close()
      const dir = alice.dir
      await alice.close()
      const env = { ...process.env, TRESOR_PASSPHRASE: PASS, TRESOR_COUCH_PASSWORD: ADMIN.password }
      const first = spawnSync(
        process.execPath,
        [CLI, 'sync', 'couch', '--dir', dir, '--url', couch.dbUrl, '--user', ADMIN.username, '--admin'],
        { env, encoding: 'utf8' }
      )
      expect(first.status, first.stderr).toBe(0)
      const d = await startDaemon(dir, ['--sync', '--interval', '1'], { TRESOR_PASSPHRASE: PASS })
      try {
        const scrape = async () => {
          const res = await fetch(`${d.url}/metrics`, { headers: { Authorization: `Bearer ${d.token}` } })
          return parseProm(await res.text())
        }
        await expect.poll(async () => value(await scrape(), 'tresor_sync_online'), { timeout: 20_000 }).toBe(1)
        const before = value(await scrape(), 'tresor_sync_events_total', { direction: 'out' })
        await fetch(`${d.url}/api/log.appendNote`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${d.token}` },
          body: JSON.stringify({ text: 'to the server' })
        })
        await expect
          .poll(async () => value(await scrape(), 'tresor_sync_events_total', { direction: 'out' }), {
            timeout: 20_000
          })
          .toBeGreaterThan(before)
        expect(value(await scrape(), 'tresor_sync_last_success_timestamp_seconds')).toBeGreaterThan(
          Date.now() / 1000 - 60
        )
      } finally {
        await d.stop()
      }
    } finally {
      await couch.stop()
    }
  })
})
