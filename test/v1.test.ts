/**
 * `/v1` against a real daemon (issue 18): the OpenAPI 3.1 document it serves is valid (a maintained validator), and
 * a client built from that document alone calls every operation it lists: each request is checked against the
 * document's parameter and body schemas before it is sent, each answer against the document's response schema.
 * Beside that: a module whose flag is off answers 404 naming the flag, a read-only token reads and signs nothing,
 * lists page and answer 304 to their ETag, bad arguments are problems (RFC 9457), and `/api` still answers.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Validator } from '@seriousme/openapi-schema-validator'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import { threeMembers } from './support/members.js'
import { startDaemon, type Daemon } from './support/daemon.js'
import { carry, cleanupDirs, PASS } from './helpers.js'
import { approve, commit, propose } from '../core/governance/calls.js'
import { registryOf } from '../core/api.js'
import { syncDomain } from '../sync/methods.js'
import { pathParams, V1_ROUTES } from '../core/v1.js'

let daemon: Daemon | null = null
afterAll(async () => {
  await daemon?.stop()
  await cleanupDirs()
})

type Schema = Record<string, unknown>
interface Operation {
  operationId: string
  parameters: { name: string; in: 'path' | 'query'; required: boolean; schema: Schema }[]
  requestBody?: { content: { 'application/json': { schema: Schema } } }
  responses: Record<string, { content?: Record<string, { schema: Schema }> }>
}

describe('/v1', () => {
  it('v1 - every route calls a method of the registry (core or sync), a GET only what a read-only token may call, and path parameters are arguments', () => {
    const registry = registryOf([syncDomain({ live: () => null }) as never])
    for (const r of V1_ROUTES) {
      expect(registry.has(r.method), r.method).toBe(true)
      if (r.verb === 'GET') expect(registry.readOnly(r.method), r.method).toBe(true)
      for (const p of pathParams(r.path)) expect(Object.keys(r.args.properties), `${r.path} ${p}`).toContain(p)
    }
    // the document's operation ids are unique
    expect(new Set(V1_ROUTES.map((r) => r.id ?? r.method)).size).toBe(V1_ROUTES.length)
  })

  it('v1 - the OpenAPI document is valid, and a client built from it alone calls every operation with requests and answers that fit it; a flag-off module is 404 naming the flag; a read-only token cannot sign; lists page with ETags', async () => {
    const { alice, bob } = await threeMembers()
    // finance on (governed), streaming left off; a proposal open on alice's device
    const on = await propose(alice, { kind: 'flag.set', args: { flag: 'finance_enabled', value: true } }, 'ledger')
    await carry(alice, bob)
    await approve(bob, on.id)
    await commit(bob, on.id)
    await carry(bob, alice)
    const open = await propose(alice, { kind: 'vault.settings', args: { settings: { checkpointInterval: 200 } } }, 'r')
    const note = await alice.append('audit.note', { text: 'proved' })
    const dir = alice.dir
    await alice.close()
    await bob.close()
    daemon = await startDaemon(dir, [], { TRESOR_PASSPHRASE: PASS })
    const d = daemon
    const reader = (await readFile(join(dir, 'reader-token'), 'utf8')).trim()
    const get = (path: string, token = d.token, headers: Record<string, string> = {}) =>
      fetch(`${d.url}/v1${path}`, { headers: { Authorization: `Bearer ${token}`, ...headers } })
    const checkpoint = async () => {
      const r = await fetch(`${d.url}/api/proof.checkpoint`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${d.token}` }
      })
      return ((await r.json()) as { value: { id: string } }).value.id
    }
    const cp1 = await checkpoint()
    await fetch(`${d.url}/api/log.appendNote`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${d.token}` },
      body: JSON.stringify({ text: 'between the checkpoints' })
    })
    const cp2 = await checkpoint()

    const res = await get('/openapi.json')
    expect(res.status).toBe(200)
    const doc = (await res.json()) as {
      openapi: string
      components: { schemas: Record<string, Schema> }
      paths: Record<string, Record<string, Operation>>
    }
    const verdict = await new Validator().validate(doc as never)
    expect(verdict.errors ?? []).toEqual([])
    expect(verdict.valid).toBe(true)
    expect(doc.openapi).toBe('3.1.0')
    expect((await fetch(`${d.url}/v1/openapi.json`)).status).toBe(401)

    // the client: every schema from the document, its $refs resolved against its components
    const ajv = new Ajv2020({ strict: false, allErrors: true })
    addFormats.default(ajv)
    const deref = (s: unknown): unknown => {
      if (Array.isArray(s)) return s.map(deref)
      if (typeof s !== 'object' || s === null) return s
      const ref = (s as { $ref?: string }).$ref
      if (ref) return deref(doc.components.schemas[ref.split('/').pop()!])
      return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, deref(v)]))
    }
    const check = (schema: Schema, value: unknown, what: string) => {
      const ok = ajv.validate(deref(schema) as Schema, value)
      expect(ok ? [] : ajv.errors, what).toEqual([])
    }
    // what the client sends, by operation: the only knowledge it has beyond the document
    const samples: Record<string, { path?: Record<string, string>; query?: Record<string, string>; body?: unknown }> = {
      gov_proposals: { query: { status: 'open' } },
      gov_show: { path: { proposal: open.id.slice(0, 12) } },
      gov_propose: {
        body: { action: { kind: 'vault.settings', args: { settings: { checkpointInterval: 300 } } }, reason: 'v1' }
      },
      gov_approve: { path: { proposal: open.id } },
      gov_commit: { path: { proposal: open.id } },
      gov_reject: { path: { proposal: open.id.slice(0, 10) }, body: { reason: 'no' } },
      gov_withdraw: { path: { proposal: open.id } },
      gov_inbox: {},
      vault_members: {},
      log_list: { query: { type: 'audit.note' } },
      proof_event: { path: { id: note.id } },
      ledger_balances: {},
      telemetry_streams: {},
      documents_index: {},
      devices_list: {},
      sync_status: {},
      governance_flags: {},
      governance_policy: {},
      finance_companies: {},
      network_nodes: {},
      proof_consistency: { query: { from: cp1, to: cp2 } },
      telemetry_readings: { path: { stream: 'boiler.temp' } }
    }
    const called: string[] = []
    const statuses: Record<string, number> = {}
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [verb, op] of Object.entries(ops)) {
        const sample = samples[op.operationId]
        expect(sample, `a sample for ${op.operationId}`).toBeDefined()
        let url = path
        const query = new URLSearchParams()
        for (const p of op.parameters) {
          const v = p.in === 'path' ? sample!.path?.[p.name] : sample!.query?.[p.name]
          if (v === undefined) {
            expect(p.required, `${op.operationId} ${p.name}`).toBe(false)
            continue
          }
          check(p.schema, v, `${op.operationId} parameter ${p.name}`)
          if (p.in === 'path') url = url.replace(`{${p.name}}`, encodeURIComponent(v))
          else query.set(p.name, v)
        }
        if (op.requestBody)
          check(op.requestBody.content['application/json'].schema, sample!.body, `${op.operationId} body`)
        const r = await fetch(`${d.url}/v1${url}${query.size ? `?${query}` : ''}`, {
          method: verb.toUpperCase(),
          headers: { Authorization: `Bearer ${d.token}`, 'Content-Type': 'application/json' },
          body: verb === 'post' ? JSON.stringify(sample!.body ?? {}) : undefined
        })
        const spec = op.responses[String(r.status)]
        expect(spec, `${op.operationId} answered ${r.status}, which the document does not list`).toBeDefined()
        const type = (r.headers.get('content-type') ?? '').split(';')[0]!
        const body = await r.json()
        check(spec!.content![type]!.schema, body, `${op.operationId} answer (${r.status})`)
        called.push(op.operationId)
        statuses[op.operationId] = r.status
      }
    }
    expect(called.sort()).toEqual(Object.keys(samples).sort())
    // the ones that succeed here did; a governance refusal is a 403 problem
    expect(statuses).toMatchObject({
      gov_proposals: 200,
      gov_show: 200,
      gov_propose: 200,
      gov_approve: 403, // alice proposed it
      gov_withdraw: 200,
      log_list: 200,
      proof_event: 200,
      ledger_balances: 200,
      telemetry_streams: 404, // streaming_enabled is off
      documents_index: 200,
      devices_list: 200,
      sync_status: 200,
      governance_flags: 200,
      governance_policy: 200,
      finance_companies: 200,
      network_nodes: 404, // network_enabled is off
      proof_consistency: 200,
      telemetry_readings: 404
    })
    const flags = (await (await get('/governance/flags')).json()) as { items: { flag: string; on: boolean }[] }
    expect(flags.items.find((f) => f.flag === 'finance_enabled')).toMatchObject({
      on: true,
      gate: { criterion: 'Ledger tests and audit proof exist' }
    })
    expect(flags.items.find((f) => f.flag === 'network_enabled')).toMatchObject({ on: false })
    const off = await (await get('/stream/streams')).json()
    expect(off).toMatchObject({
      status: 404,
      code: 'NOT_FOUND',
      detail: 'the stream module is off: flag streaming_enabled is not on'
    })

    // the read-only token: reads, never signs
    expect((await get('/governance/proposals', reader)).status).toBe(200)
    const refused = await fetch(`${d.url}/v1/governance/proposals`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${reader}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(samples.gov_propose!.body)
    })
    expect(refused.status).toBe(403)
    expect(refused.headers.get('content-type')).toBe('application/problem+json')
    expect(await refused.json()).toMatchObject({ code: 'NOT_ALLOWED', status: 403 })

    // pages and ETags
    const all = await get('/governance/proposals')
    const etag = all.headers.get('etag')!
    const page = (await all.json()) as { items: unknown[]; total: number }
    expect(page.total).toBeGreaterThanOrEqual(3)
    expect((await get('/governance/proposals', d.token, { 'If-None-Match': etag })).status).toBe(304)
    const one = (await (await get('/governance/proposals?limit=1&offset=1')).json()) as {
      items: unknown[]
      limit: number
    }
    expect([one.items.length, one.limit]).toEqual([1, 1])

    // bad arguments are problems, with the reason
    expect(await (await get('/governance/proposals?status=bogus')).json()).toMatchObject({
      status: 400,
      code: 'BAD_ARGUMENT'
    })
    expect(await (await get('/governance/proposals?colour=red')).json()).toMatchObject({
      status: 400,
      detail: 'colour is not an argument of GET /v1/governance/proposals'
    })
    expect(await (await get('/governance/proposals?limit=5000')).json()).toMatchObject({ status: 400 })
    expect((await get('/nowhere')).status).toBe(404)

    // /api is untouched
    const api = await fetch(`${d.url}/api/gov.inbox`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${d.token}` }
    })
    expect(((await api.json()) as { ok: boolean }).ok).toBe(true)
  }, 120_000)
})
