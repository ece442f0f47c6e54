/**
 * `/api` is frozen (issue 18): every method of `POST /api/<method>` — core's and sync's host extension — is called
 * over HTTP against a real host, and the shape of its request and of its answer (the envelope, every field's name and
 * JSON type, an error's code) is pinned in `test/fixtures/api-v0.json`. A change to any shape, a method gone, or a
 * method added without its pin fails here; extensions belong under `/v1`. Rebuild the pin only for a deliberate,
 * documented break: `TRESOR_PIN_API=1 npx vitest run test/api-frozen.test.ts`.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { readFileSync, writeFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Server } from 'node:http'
import { openHost } from '../core/host.js'
import { startHttpHost } from '../edge/http-host.js'
import { syncDomain } from '../sync/methods.js'
import { JOINERS } from '../sync/join.js'
import { threeMembers } from './support/members.js'
import { cleanupDirs, PASS, tempDir } from './helpers.js'
import { makeZip } from './support/zip.js'

const PIN = new URL('./fixtures/api-v0.json', import.meta.url)
const TOKEN = 'f'.repeat(64)

const union = (xs: unknown[]) =>
  [...new Set(xs.map((x) => JSON.stringify(shapeOf(x))))].sort().map((s) => JSON.parse(s) as unknown)

/**
 * A JSON value's shape: objects by sorted keys, arrays by the distinct shapes of their items, scalars by type; a
 * record keyed by ids or keys (64 hex characters: proposals, feeds) by the distinct shapes of its values.
 */
function shapeOf(v: unknown): unknown {
  if (v === null) return 'null'
  if (Array.isArray(v)) return union(v)
  const keys = typeof v === 'object' ? Object.keys(v) : []
  if (keys.length > 0 && keys.every((k) => /^[0-9a-f]{64}$/.test(k)))
    return { '<hex64>': union(Object.values(v as object)) }
  if (typeof v === 'object')
    return Object.fromEntries(
      Object.keys(v as object)
        .sort()
        .map((k) => [k, shapeOf((v as Record<string, unknown>)[k])])
    )
  return typeof v
}

/** An answer's shape: the envelope's, with an error's code kept as it is (the code is part of the contract). */
const answerShape = (a: { ok: boolean; error?: { code: string } }) =>
  a.ok ? shapeOf(a) : { ...(shapeOf(a) as object), code: a.error?.code }

type Ctx = Record<string, string>
type Call = [method: string, args: (ctx: Ctx) => Record<string, unknown>, keep?: (value: never, ctx: Ctx) => void]

let server: Server | null = null
let close: (() => Promise<void>) | null = null
afterAll(async () => {
  if (server) await new Promise((r) => server!.close(r))
  await close?.()
  await cleanupDirs()
})

describe('the frozen /api', () => {
  it('api - every method of POST /api/<method> answers in the shape pinned for it; a method added, removed or changed fails here', async () => {
    const { alice, bob, carol } = await threeMembers()
    const dir = alice.dir
    for (const v of [alice, bob, carol]) await v.close()
    // as `tresor serve` opens it: telemetry kept, joiners and sync's extension
    const host = openHost({ dir, telemetry: true, joiners: JOINERS, extensions: [syncDomain({ live: () => null })] })
    close = () => host.close()
    const staticDir = join(await tempDir(), 'ui')
    await mkdir(staticDir, { recursive: true })
    await writeFile(join(staticDir, 'index.html'), '<!doctype html><title>Tresor</title>')
    const started = await startHttpHost({ handlers: host.handlers, registry: host.registry, token: TOKEN, staticDir })
    server = started.server
    const post = async (method: string, args: unknown) => {
      const res = await fetch(`${started.url}/api/${method}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(args)
      })
      expect(res.status, method).toBe(200)
      return (await res.json()) as { ok: boolean; value?: never; error?: { code: string } }
    }
    const zip = makeZip([{ name: 'docs/a.md', data: '---\nid: A\nversion: "1"\nlifecycle: ACTIVE\n---\nhello\n' }])
    const calls: Call[] = [
      ['onboard.status', () => ({})],
      ['vault.status', () => ({}), (v: { device: string }, c) => void (c.device = v.device)],
      ['vault.members', () => ({})],
      ['vault.unlock', () => ({ passphrase: PASS })],
      ['vault.verify', () => ({ full: true })],
      ['vault.progress', () => ({})],
      ['vault.confirmHome', () => ({})],
      ['log.appendNote', () => ({ text: 'pinned' }), (v: { id: string }, c) => void (c.note = v.id)],
      ['log.list', () => ({ limit: 5 })],
      ['log.get', (c) => ({ author: c.device, seq: 1 })],
      ['log.exportYaml', () => ({})],
      ['devices.list', () => ({})],
      [
        'gov.propose',
        () => ({ action: { kind: 'vault.settings', args: { settings: { checkpointInterval: 500 } } }, reason: 'r' }),
        (v: { id: string }, c) => void (c.p1 = v.id)
      ],
      ['gov.state', () => ({})],
      ['gov.inbox', () => ({})],
      ['gov.proposals', () => ({ status: 'open' })],
      ['gov.show', (c) => ({ proposal: c.p1 })],
      ['gov.approve', (c) => ({ proposal: c.p1 })],
      ['gov.commit', (c) => ({ proposal: c.p1 })],
      ['gov.reject', (c) => ({ proposal: c.p1, reason: 'no' })],
      ['gov.withdraw', (c) => ({ proposal: c.p1 })],
      ['ledger.balances', () => ({})],
      ['proof.checkpoint', () => ({}), (v: { id: string }, c) => void (c.cp1 = v.id)],
      ['log.appendNote', () => ({ text: 'after the first checkpoint' })],
      ['proof.checkpoint', () => ({}), (v: { id: string }, c) => void (c.cp2 = v.id)],
      ['proof.event', (c) => ({ id: c.note })],
      ['proof.consistency', (c) => ({ from: c.cp1, to: c.cp2 })],
      ['proof.tlog', (c) => ({ id: c.note })],
      ['witness.status', () => ({})],
      ['witness.cosign', () => ({})],
      ['bundle.export', () => ({}), (v: { text: string }, c) => void (c.bundle = v.text)],
      ['bundle.import', (c) => ({ text: c.bundle })],
      ['telemetry.status', () => ({})],
      ['telemetry.streams', () => ({})],
      ['telemetry.readings', () => ({ stream: 'boiler.temp' })],
      ['telemetry.quarantine', () => ({})],
      ['telemetry.ingest', () => ({ ndjson: '{"stream":"boiler.temp","ts":"2026-01-01T00:00:00Z"}\n' })],
      ['telemetry.prove', () => ({ stream: 'boiler.temp', id: 'x' })],
      ['telemetry.verify', () => ({})],
      ['documents.plan', () => ({ name: 'a.zip', zip: zip.toString('base64') })],
      [
        'documents.migrate',
        () => ({ name: 'a.zip', zip: zip.toString('base64'), reason: 'r' }),
        (v: { proposal: { id: string }; plan: { files: { digest: string }[] } }, c) => {
          c.migration = v.proposal.id
          c.digest = v.plan.files[0]!.digest
        }
      ],
      ['documents.proposalPlan', (c) => ({ proposal: c.migration })],
      ['documents.index', () => ({})],
      ['documents.get', (c) => ({ digest: c.digest })],
      ['documents.diff', (c) => ({ from: c.digest, to: c.digest })],
      ['documents.rules', () => ({})],
      ['documents.quarantine', () => ({})],
      ['documents.proposeLifecycle', () => ({ doc: 'A', to: 'ARCHIVED', reason: 'r' })],
      [
        'documents.proposeVersion',
        () => ({ doc: 'B', version: '1', content: Buffer.from('b\n').toString('base64'), reason: 'r' })
      ],
      ['onboard.keygen', () => ({ name: 'x', passphrase: PASS })],
      [
        'onboard.create',
        () => ({
          vaultName: 'x',
          memberName: 'x',
          roles: ['operator'],
          passphrase: PASS,
          members: [{ name: 'y', roles: ['operator'], key: 'a'.repeat(64) }]
        })
      ],
      ['onboard.join', () => ({ bundle: '{}', passphrase: PASS })],
      ['onboard.joinCouch', () => ({ url: 'http://127.0.0.1:9/x', password: 'p', passphrase: PASS })],
      ['onboard.joinGit', () => ({ url: 'http://127.0.0.1:9/x.git', token: 't', passphrase: PASS })],
      ['sync.status', () => ({})],
      ['sync.quarantine', () => ({})],
      ['sync.couch', () => ({ url: 'http://127.0.0.1:9/x', user: 'u', password: 'p' })],
      ['sync.git', () => ({ url: 'http://127.0.0.1:9/x.git', token: 't' })],
      ['sync.telemetry', () => ({ url: 'http://127.0.0.1:9/x', user: 'u', password: 'p' })],
      ['vault.lock', () => ({})],
      ['vault.recover', () => ({ passphrase: 'not the passphrase' })]
    ]
    const ctx: Ctx = {}
    const seen: Record<string, { request: unknown; answers: unknown[] }> = {}
    for (const [method, args, keep] of calls) {
      const a = args(ctx)
      const answer = await post(method, a)
      if (answer.ok && keep) keep(answer.value as never, ctx)
      const entry = (seen[method] ??= { request: shapeOf(a), answers: [] })
      entry.answers.push(answerShape(answer))
    }
    // every method is called here: a method added to the registry needs its pin (and belongs under /v1)
    expect(Object.keys(seen).sort()).toEqual(Object.keys(host.registry.meta).sort())
    const pinned = Object.fromEntries(Object.entries(seen).sort(([a], [b]) => (a < b ? -1 : 1)))
    if (process.env.TRESOR_PIN_API === '1')
      writeFileSync(PIN, JSON.stringify({ format: 'tresor-api-pin', v: 0, methods: pinned }, null, 1) + '\n')
    const want = JSON.parse(readFileSync(PIN, 'utf8')) as { methods: Record<string, unknown> }
    for (const [method, got] of Object.entries(pinned)) expect(got, method).toEqual(want.methods[method])
    expect(Object.keys(want.methods).sort()).toEqual(Object.keys(pinned))
  }, 120_000)
})
