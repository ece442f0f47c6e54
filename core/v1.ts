/**
 * The versioned public API (issue 18): `/v1/<module>/…`, resource-style endpoints over the registry's methods, one
 * namespace per module, each module behind its feature flag. This table is their one description: each route names
 * the registry method it calls, how its arguments come (path, query or JSON body) with their schema, and its
 * answer's schema (TypeBox, i.e. JSON Schema). The HTTP host validates against it (edge/v1-host.ts) and the OpenAPI
 * 3.1 document is generated from it (`openApiDocument`), so neither can drift from the other; a test calls every
 * route through a client built from the document and validates each answer against it. `/api` stays as it is.
 */
import type { TObject, TSchema } from '@sinclair/typebox'
import { CORE_REGISTRY, type Registry } from './api.js'
import { lazyPackage } from './lazy.js'

// Required when this module loads (on first use of /v1), not with the CLI: the built CLI is one file (edge/start.ts).
const { Type } = lazyPackage<typeof import('@sinclair/typebox')>('@sinclair/typebox')()

export type V1Module =
  'governance' | 'log' | 'proof' | 'finance' | 'network' | 'stream' | 'documents' | 'devices' | 'sync'

/** A module whose flag is off answers 404 naming the flag. */
export const MODULE_FLAGS: Readonly<Partial<Record<V1Module, string>>> = Object.freeze({
  finance: 'finance_enabled',
  network: 'network_enabled',
  stream: 'streaming_enabled'
})

export interface V1Route {
  module: V1Module
  verb: 'GET' | 'POST'
  /** Under `/v1`, with `{name}` path parameters (each a property of `args`). */
  path: string
  /** The registry method it calls. */
  method: string
  /** The operation's id in the OpenAPI document (default: the method's name); unique. */
  id?: string
  /** The part of the method's answer this route answers (a resource inside a larger view). */
  pick?: (value: never) => unknown
  summary: string
  /** The method's arguments: path parameters, then the query (GET) or the JSON body (POST). */
  args: TObject
  /** What a 200 answers (a list route answers a page of these: `{items, total, limit, offset}`). */
  result: TSchema
  /**
   * A list: paged (`limit`, `offset`) and tagged with an ETag. `array`: the method answers an array, the route pages
   * it; `{key}`: the method pages itself (it takes `offset` and `limit` and answers `{[key]: items, total}`).
   */
  list?: 'array' | { key: 'entries' | 'readings' }
}

const Hex = Type.String({ pattern: '^[0-9a-f]{64}$' })
const Time = Type.String({ format: 'date-time' })
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()])
const Json = Type.Unknown()

const Approval = Type.Object({ member: Type.String(), key: Hex, roles: Type.Array(Type.String()), id: Hex })
const Proposal = Type.Object(
  {
    id: Hex,
    proposer: Type.String(),
    action: Type.Object({ kind: Type.String(), args: Type.Record(Type.String(), Json) }),
    reason: Type.String(),
    createdAt: Time,
    expiresAt: Time,
    status: Type.Union(['open', 'committed', 'rejected', 'withdrawn', 'failed'].map((s) => Type.Literal(s))),
    approvals: Type.Array(Approval),
    rejections: Type.Array(Type.Object({ member: Type.String(), reason: Type.String(), id: Hex })),
    closedBy: Nullable(Hex),
    failure: Nullable(Type.String()),
    overridden: Type.Array(Hex),
    supersededBy: Type.Optional(Hex),
    missing: Type.Array(Type.String()),
    expired: Type.Boolean(),
    canApprove: Type.Array(Type.String())
  },
  { $id: 'Proposal' }
)
const Member = Type.Object(
  {
    name: Type.String(),
    roles: Type.Array(Type.String()),
    keys: Type.Array(Hex),
    revokedKeys: Type.Array(Hex),
    active: Type.Boolean()
  },
  { $id: 'Member' }
)
const LogEntry = Type.Object(
  {
    id: Hex,
    author: Hex,
    seq: Type.Integer({ minimum: 1 }),
    ts: Time,
    type: Type.String(),
    badge: Type.String(),
    payload: Type.Optional(Type.Record(Type.String(), Json))
  },
  { $id: 'LogEntry' }
)
const Device = Type.Object(
  {
    member: Type.String(),
    key: Hex,
    keyState: Type.Union([Type.Literal('active'), Type.Literal('revoked'), Type.Literal('removed')]),
    thisDevice: Type.Boolean(),
    forkedAt: Nullable(Type.Integer()),
    lastSeen: Nullable(Time),
    status: Nullable(Type.Record(Type.String(), Json)),
    unreadable: Type.Boolean(),
    behind: Nullable(Type.Integer())
  },
  { $id: 'Device' }
)
const Stream = Type.Object(
  {
    stream: Type.String(),
    total: Type.Integer({ minimum: 0 }),
    window: Type.Object({
      ms: Type.Number(),
      count: Type.Integer({ minimum: 0 }),
      rate: Type.Number(),
      firstTs: Nullable(Time),
      lastTs: Nullable(Time),
      fields: Type.Record(Type.String(), Json),
      last: Nullable(Type.Record(Type.String(), Json)),
      receipts: Type.Record(Type.String(), Type.Integer({ minimum: 0 }))
    })
  },
  { $id: 'Stream' }
)
const DocumentRow = Type.Object(
  {
    id: Type.String(),
    title: Nullable(Type.String()),
    domain: Nullable(Type.String()),
    lifecycle: Nullable(Type.String()),
    class: Type.Union([Type.Literal('MIG_A'), Type.Literal('MIG_B'), Type.Literal('MIG_C')]),
    mode: Nullable(Type.String()),
    classification: Nullable(Type.String()),
    private: Nullable(Type.String()),
    current: Hex,
    versions: Type.Array(
      Type.Object({
        version: Nullable(Type.String()),
        digest: Hex,
        size: Type.Integer({ minimum: 0 }),
        mediaType: Type.String(),
        path: Type.String(),
        class: Type.String(),
        batch: Nullable(Type.String()),
        proposal: Hex,
        event: Hex
      })
    ),
    history: Type.Array(Type.Object({ proposal: Hex, from: Nullable(Type.String()), to: Type.String() }))
  },
  { $id: 'Document' }
)
const SyncStatus = Type.Object(
  {
    url: Nullable(Type.String()),
    user: Nullable(Type.String()),
    online: Type.Boolean(),
    pendingUp: Type.Integer({ minimum: 0 }),
    pendingDown: Type.Integer({ minimum: 0 }),
    quarantine: Type.Integer({ minimum: 0 }),
    lastSuccess: Nullable(Time),
    lastError: Nullable(Type.String()),
    lastRollback: Nullable(Type.Object({ at: Time, message: Type.String() })),
    denied: Type.Array(Type.Object({ id: Type.String(), reason: Type.String() })),
    design: Nullable(Type.String()),
    live: Type.Optional(Nullable(Type.Record(Type.String(), Json)))
  },
  { $id: 'SyncStatus' }
)

const Rule = Type.Object({
  minMembers: Type.Integer({ minimum: 2 }),
  clauses: Type.Array(Type.Object({ role: Type.String(), count: Type.Integer({ minimum: 1 }) }))
})
const Gate = Type.Object({ criterion: Type.String(), ...Rule.properties })
const Flag = Type.Object({ flag: Type.String(), on: Type.Boolean(), gate: Nullable(Gate) }, { $id: 'Flag' })
const Policy = Type.Object(
  { default: Rule, actions: Type.Record(Type.String(), Rule), flags: Type.Record(Type.String(), Gate) },
  { $id: 'Policy' }
)
const Company = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    owners: Type.Array(Type.Object({ owner: Type.String(), shareBp: Type.Integer() }))
  },
  { $id: 'Company' }
)
const NetworkNode = Type.Object(
  { id: Type.String(), parent: Nullable(Type.String()), label: Type.String() },
  { $id: 'NetworkNode' }
)
const Reading = Type.Object(
  { id: Type.String(), stream: Type.String(), ts: Time },
  { $id: 'Reading', additionalProperties: true }
)

/** What the governance view holds, for the routes that answer a part of it. */
interface StateView {
  state: {
    flags: Record<string, boolean>
    policy: { flags: Record<string, unknown> }
    registers: { company: unknown[]; network: unknown[] }
  }
}
const hasOwn = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k)

const none = Type.Object({})
/** A proposal named by its id or 8 or more of its first hex characters (as everywhere else). */
const ProposalRef = Type.String({ pattern: '^[0-9a-f]{8,64}$' })
const proposalId = Type.Object({ proposal: ProposalRef })

export const V1_ROUTES: readonly V1Route[] = Object.freeze([
  {
    module: 'governance',
    verb: 'GET',
    path: '/governance/proposals',
    method: 'gov.proposals',
    summary: 'Proposals (all, or those with a status), each with what its quorum still lacks',
    args: Type.Object({
      status: Type.Optional(
        Type.Union(['open', 'committed', 'rejected', 'withdrawn', 'failed'].map((s) => Type.Literal(s)))
      )
    }),
    result: Proposal,
    list: 'array'
  },
  {
    module: 'governance',
    verb: 'GET',
    path: '/governance/proposals/{proposal}',
    method: 'gov.show',
    summary: 'One proposal (its id, or 8 or more of its first hex characters)',
    args: Type.Object({ proposal: ProposalRef }),
    result: Proposal
  },
  {
    module: 'governance',
    verb: 'POST',
    path: '/governance/proposals',
    method: 'gov.propose',
    summary: 'Sign a proposal (dual authorization: it needs another member to approve)',
    args: Type.Object({
      action: Type.Object({ kind: Type.String(), args: Type.Record(Type.String(), Json) }),
      reason: Type.String({ minLength: 1, maxLength: 1000 }),
      expiresAt: Type.Optional(Time)
    }),
    result: Proposal
  },
  ...(['approve', 'commit', 'withdraw'] as const).map((verb): V1Route => ({
    module: 'governance',
    verb: 'POST',
    path: `/governance/proposals/{proposal}/${verb}`,
    method: `gov.${verb}`,
    summary: `Sign the ${verb === 'approve' ? 'approval' : verb === 'commit' ? 'commit' : 'withdrawal'} of a proposal`,
    args: proposalId,
    result: Proposal
  })),
  {
    module: 'governance',
    verb: 'POST',
    path: '/governance/proposals/{proposal}/reject',
    method: 'gov.reject',
    summary: 'Sign the rejection of a proposal, with the reason',
    args: Type.Object({ proposal: ProposalRef, reason: Type.String({ minLength: 1, maxLength: 1000 }) }),
    result: Proposal
  },
  {
    module: 'governance',
    verb: 'GET',
    path: '/governance/inbox',
    method: 'gov.inbox',
    summary: 'What needs this device’s member: to sign, ready to commit, their own waiting',
    args: none,
    result: Type.Object({ toSign: Type.Array(Proposal), toCommit: Type.Array(Proposal), waiting: Type.Array(Proposal) })
  },
  {
    module: 'governance',
    verb: 'GET',
    path: '/governance/members',
    method: 'vault.members',
    summary: 'Members, their roles and device keys',
    args: none,
    result: Member,
    list: 'array'
  },
  {
    module: 'governance',
    verb: 'GET',
    path: '/governance/flags',
    method: 'gov.state',
    id: 'governance_flags',
    summary: 'Feature flags, on or off, with the gate a proposal to switch each must pass',
    args: none,
    result: Flag,
    list: 'array',
    pick: (v: StateView) =>
      Object.entries(v.state.flags)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([flag, on]) => ({
          flag,
          on,
          gate: hasOwn(v.state.policy.flags, flag) ? v.state.policy.flags[flag] : null
        }))
  },
  {
    module: 'governance',
    verb: 'GET',
    path: '/governance/policy',
    method: 'gov.state',
    id: 'governance_policy',
    summary: 'Who must approve what: the default rule, per-action rules and the flag gates',
    args: none,
    result: Policy,
    pick: (v: StateView) => v.state.policy
  },
  {
    module: 'finance',
    verb: 'GET',
    path: '/finance/companies',
    method: 'gov.state',
    id: 'finance_companies',
    summary: 'The company register: companies and their owners’ shares (basis points)',
    args: none,
    result: Company,
    list: 'array',
    pick: (v: StateView) => v.state.registers.company
  },
  {
    module: 'network',
    verb: 'GET',
    path: '/network/nodes',
    method: 'gov.state',
    id: 'network_nodes',
    summary: 'The network register: each node and its parent',
    args: none,
    result: NetworkNode,
    list: 'array',
    pick: (v: StateView) => v.state.registers.network
  },
  {
    module: 'log',
    verb: 'GET',
    path: '/log/events',
    method: 'log.list',
    summary: 'The log, newest last, filtered by type, author and time',
    args: Type.Object({
      type: Type.Optional(Type.String({ maxLength: 64 })),
      author: Type.Optional(Hex),
      from: Type.Optional(Time),
      to: Type.Optional(Time)
    }),
    result: LogEntry,
    list: { key: 'entries' }
  },
  {
    module: 'proof',
    verb: 'GET',
    path: '/proof/events/{id}',
    method: 'proof.event',
    summary: 'The inclusion proof of an event in the latest checkpoint that covers it (verify offline)',
    args: Type.Object({ id: Hex }),
    result: Type.Object(
      { format: Type.String(), v: Type.Integer(), kind: Type.Literal('inclusion') },
      {
        additionalProperties: true
      }
    )
  },
  {
    module: 'proof',
    verb: 'GET',
    path: '/proof/consistency',
    method: 'proof.consistency',
    summary: 'The proof that a later checkpoint extends an earlier one (feeds only grew)',
    args: Type.Object({ from: Hex, to: Hex }),
    result: Type.Object(
      { format: Type.String(), v: Type.Integer(), kind: Type.Literal('consistency') },
      {
        additionalProperties: true
      }
    )
  },
  {
    module: 'finance',
    verb: 'GET',
    path: '/finance/ledger',
    method: 'ledger.balances',
    summary: 'Ledger entries and balances per account and currency (minor units)',
    args: none,
    result: Type.Object({
      entries: Type.Array(Type.Record(Type.String(), Json)),
      balances: Type.Record(Type.String(), Type.Record(Type.String(), Type.Integer()))
    })
  },
  {
    module: 'stream',
    verb: 'GET',
    path: '/stream/streams',
    method: 'telemetry.streams',
    summary: 'Telemetry streams with their rate, statistics and receipts over a window',
    args: Type.Object({ windowMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 30 * 86_400_000 })) }),
    result: Stream,
    list: 'array'
  },
  {
    module: 'stream',
    verb: 'GET',
    path: '/stream/streams/{stream}/readings',
    method: 'telemetry.readings',
    summary: 'A stream’s readings in timestamp order, between two times',
    args: Type.Object({
      stream: Type.String({ pattern: '^[a-z0-9][a-z0-9_.-]{0,63}$' }),
      from: Type.Optional(Time),
      to: Type.Optional(Time)
    }),
    result: Reading,
    list: { key: 'readings' }
  },
  {
    module: 'documents',
    verb: 'GET',
    path: '/documents',
    method: 'documents.index',
    summary: 'The documents register: every document, its versions, lifecycle and history',
    args: none,
    result: Type.Object({
      documents: Type.Array(DocumentRow),
      index: Type.Array(Type.Record(Type.String(), Json)),
      waiting: Type.Array(Type.String()),
      notApplied: Type.Array(Type.Record(Type.String(), Json))
    })
  },
  {
    module: 'devices',
    verb: 'GET',
    path: '/devices',
    method: 'devices.list',
    summary: 'Every member’s devices as their own signed statuses say',
    args: none,
    result: Device,
    list: 'array'
  },
  {
    module: 'sync',
    verb: 'GET',
    path: '/sync/status',
    method: 'sync.status',
    summary: 'CouchDB sync: online, backlogs, last success and error, refused pushes, rollback',
    args: none,
    result: SyncStatus
  }
])

/** The page parameters every list route takes, and the page it answers. */
export const PAGE_LIMIT = { dflt: 100, max: 1000 }
const page = (item: TSchema) =>
  Type.Object({
    items: Type.Array(item),
    total: Type.Integer({ minimum: 0 }),
    limit: Type.Integer({ minimum: 1 }),
    offset: Type.Integer({ minimum: 0 })
  })

/** The schema a route's 200 answer has. */
export const answerSchema = (r: V1Route): TSchema => (r.list ? page(r.result) : r.result)

/** RFC 9457 problem details, the shape of every /v1 error. */
export const Problem = Type.Object({
  type: Type.String(),
  title: Type.String(),
  status: Type.Integer(),
  detail: Type.String(),
  code: Type.String()
})

/** Path parameter names of a route, in order. */
export const pathParams = (path: string): string[] => [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!)

/** Strip TypeBox's symbol-keyed metadata (JSON.stringify drops symbols) and hoist the named schemas. */
function plain(t: TSchema, components: Record<string, unknown>): unknown {
  const json = JSON.parse(JSON.stringify(t)) as Record<string, unknown>
  const hoist = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(hoist)
    if (typeof v !== 'object' || v === null) return v
    const o = v as Record<string, unknown>
    const out = Object.fromEntries(Object.entries(o).map(([k, x]) => [k, hoist(x)]))
    if (typeof o.$id === 'string') {
      const { $id, ...rest } = out
      components[$id as string] = rest
      return { $ref: `#/components/schemas/${String($id)}` }
    }
    return out
  }
  return hoist(json)
}

/** The OpenAPI 3.1 document of /v1, from the route table and the registry (which routes a reader may call). */
export function openApiDocument(version: string, registry: Registry = CORE_REGISTRY): Record<string, unknown> {
  const components: Record<string, unknown> = {}
  const paths: Record<string, Record<string, unknown>> = {}
  const problem = plain(Problem, components)
  const problemResponse = (description: string) => ({
    description,
    content: { 'application/problem+json': { schema: problem } }
  })
  for (const r of V1_ROUTES) {
    const inPath = new Set(pathParams(r.path))
    const props = r.args.properties as Record<string, TSchema>
    const required = new Set(r.args.required ?? [])
    const parameters: unknown[] = [...inPath].map((name) => ({
      name,
      in: 'path',
      required: true,
      schema: plain(props[name]!, components)
    }))
    if (r.verb === 'GET') {
      for (const [name, schema] of Object.entries(props))
        if (!inPath.has(name))
          parameters.push({ name, in: 'query', required: required.has(name), schema: plain(schema, components) })
      if (r.list)
        parameters.push(
          {
            name: 'limit',
            in: 'query',
            required: false,
            schema: { type: 'integer', minimum: 1, maximum: PAGE_LIMIT.max, default: PAGE_LIMIT.dflt }
          },
          { name: 'offset', in: 'query', required: false, schema: { type: 'integer', minimum: 0, default: 0 } }
        )
    }
    const bodyProps = Object.fromEntries(Object.entries(props).filter(([n]) => !inPath.has(n)))
    const body =
      r.verb === 'POST' && Object.keys(bodyProps).length > 0
        ? {
            requestBody: {
              required: true,
              content: {
                'application/json': {
                  schema: plain(Type.Object(bodyProps, { additionalProperties: false }), components) as Record<
                    string,
                    unknown
                  >
                }
              }
            }
          }
        : {}
    if (body.requestBody) {
      const schema = body.requestBody.content['application/json'].schema
      const req = (r.args.required ?? []).filter((n) => !inPath.has(n))
      if (req.length > 0) schema.required = req
      else delete schema.required
    }
    const readOnly = registry.has(r.method) && registry.readOnly(r.method)
    ;(paths[r.path] ??= {})[r.verb.toLowerCase()] = {
      operationId: r.id ?? r.method.replace('.', '_'),
      tags: [r.module],
      summary: r.summary,
      ...(MODULE_FLAGS[r.module]
        ? { description: `Answers 404 while the flag ${MODULE_FLAGS[r.module]} is off.` }
        : {}),
      security: readOnly ? [{ access: [] }, { reader: [] }] : [{ access: [] }],
      parameters,
      ...body,
      responses: {
        '200': {
          description: r.list ? 'A page of the list' : 'The answer',
          ...(r.list ? { headers: { ETag: { schema: { type: 'string' } } } } : {}),
          content: { 'application/json': { schema: plain(answerSchema(r), components) } }
        },
        ...(r.list ? { '304': { description: 'Not modified (If-None-Match matched the ETag)' } } : {}),
        '400': problemResponse('The arguments do not fit the schema, or the vault refused them'),
        '401': problemResponse('No valid token'),
        '403': problemResponse('Refused: a read-only token, a governance rule, another origin'),
        '404': problemResponse('Not found, or the module’s flag is off'),
        '409': problemResponse('The vault is READ-ONLY, or what the call needs exists already'),
        '500': problemResponse('Something failed here')
      }
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tresor',
      version,
      description:
        'The versioned API of a Tresor vault. `/api/<method>` (the envelope API) is frozen; modules live here.'
    },
    servers: [{ url: '/v1' }],
    components: {
      schemas: components,
      securitySchemes: {
        access: { type: 'http', scheme: 'bearer', description: 'serve-token beside the vault' },
        reader: { type: 'http', scheme: 'bearer', description: 'reader-token: reading routes only' }
      }
    },
    paths
  }
}
