import { describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import nacl from 'tweetnacl'
import {
  decodeEvent,
  isRealInstant,
  signEvent,
  signingBytes,
  type UnsignedEventV1,
  type UnsignedEventV2
} from '../core/envelope.js'
import { canonicalize } from '../core/canonical.js'
import { toHex } from '../core/bytes.js'
import { VaultError } from '../core/errors.js'
import { buildEnvelopeV1Fixture } from './fixtures/envelope-v1.js'
import { buildEnvelopeV2Fixture } from './fixtures/envelope-v2.js'

const pinned = JSON.parse(readFileSync(new URL('./fixtures/envelope-v1.json', import.meta.url), 'utf8'))
const pinnedV2 = JSON.parse(readFileSync(new URL('./fixtures/envelope-v2.json', import.meta.url), 'utf8'))
const kp = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(0x11))
const AUTHOR = toHex(kp.publicKey)
const VAULT_A = 'aa'.repeat(32)
const VAULT_B = 'bb'.repeat(32)

function base(over: Partial<UnsignedEventV1> = {}): UnsignedEventV1 {
  return {
    v: 1,
    vault: VAULT_A,
    author: AUTHOR,
    seq: 2,
    prev: 'cc'.repeat(32),
    ts: '2026-03-04T05:06:07.089Z',
    type: 'audit.note',
    payload: { text: 'hi' },
    seen: [],
    ...over
  }
}

function base2(over: Partial<UnsignedEventV2> = {}): UnsignedEventV2 {
  return {
    v: 2,
    vault: VAULT_A,
    author: AUTHOR,
    seq: 5,
    prev: 'cc'.repeat(32),
    ts: '2026-03-04T05:06:07.089Z',
    type: 'gov.approve',
    payload: { proposal: 'ab'.repeat(32) },
    deps: [],
    ...over
  }
}

const cite = (author: string, seq: number, id = 'dd'.repeat(32)) => ({ author, seq, id })

const codeOf = (fn: () => unknown) => {
  try {
    fn()
  } catch (e) {
    return (e as VaultError).code
  }
  return 'NO_ERROR'
}

describe('envelope', () => {
  it('envelope - v1 fixture is rebuilt byte for byte from its seeds', () => {
    expect(buildEnvelopeV1Fixture()).toEqual(pinned)
  })

  it('envelope - v2 fixture is rebuilt byte for byte from its seeds, and every pinned v2 event decodes and verifies', () => {
    expect(buildEnvelopeV2Fixture()).toEqual(pinnedV2)
    for (const e of pinnedV2.events) expect(decodeEvent(e.raw, pinnedV2.vault).id).toBe(e.id)
  })

  it('envelope - v2 signs under its own domain tag: a v1 signature never verifies as v2', () => {
    expect(Buffer.from(signingBytes(base2())).toString('utf8').startsWith(`tresor/v2/event/${VAULT_A}\n{`)).toBe(true)
    const d = signEvent(base(), kp.secretKey)
    const { seen: _seen, ...rest } = d.event as UnsignedEventV1 & { sig: string }
    expect(codeOf(() => decodeEvent(canonicalize({ ...rest, v: 2, deps: [] }), VAULT_A))).toBe('BAD_SIGNATURE')
  })

  it('envelope - v2 deps: at most 16, sorted without repeats, the own feed once and only before the event, none in a genesis', () => {
    const others = Array.from({ length: 17 }, (_, i) => cite(toHex(new Uint8Array(32).fill(i + 0x20)), 1))
    const bad: Partial<UnsignedEventV2>[] = [
      { deps: others },
      { deps: [others[1]!, others[0]!] },
      { deps: [others[0]!, others[0]!] },
      { deps: [cite(AUTHOR, 5)] },
      { deps: [cite(AUTHOR, 2), cite(AUTHOR, 3)] },
      { deps: [{ author: AUTHOR, seq: 1 } as never] },
      { type: 'vault.genesis', vault: null, seq: 1, prev: null, deps: [others[0]!] }
    ]
    for (const over of bad)
      expect(
        codeOf(() => signEvent(base2(over), kp.secretKey)),
        JSON.stringify(over).slice(0, 80)
      ).toBe('MALFORMED')
    expect(
      codeOf(() =>
        signEvent(
          base2({ deps: [cite(AUTHOR, 4), ...others.slice(0, 15)].sort((a, b) => (a.author < b.author ? -1 : 1)) }),
          kp.secretKey
        )
      )
    ).toBe('NO_ERROR')
  })

  it('envelope - every pinned v1 event decodes and verifies in its vault', () => {
    for (const e of pinned.events) {
      const d = decodeEvent(e.raw, pinned.vault)
      expect(d.id).toBe(e.id)
    }
  })

  it('envelope - the event id is the hash of the signed canonical bytes', () => {
    const d = signEvent(base(), kp.secretKey)
    expect(d.raw).toBe(canonicalize(d.event))
    expect(decodeEvent(d.raw, VAULT_A).id).toBe(d.id)
  })

  it('envelope - a signature for one vault does not verify in another (domain separation)', () => {
    const d = signEvent(base(), kp.secretKey)
    expect(codeOf(() => decodeEvent(d.raw, VAULT_B))).toBe('WRONG_VAULT')
    // rewriting the vault field to replay it elsewhere breaks the signature
    const replayed = canonicalize({ ...d.event, vault: VAULT_B })
    expect(codeOf(() => decodeEvent(replayed, VAULT_B))).toBe('BAD_SIGNATURE')
  })

  it('envelope - the domain tag is part of what is signed', () => {
    const bytes = Buffer.from(signingBytes(base())).toString('utf8')
    expect(bytes.startsWith(`tresor/v1/event/${VAULT_A}\n{`)).toBe(true)
    // the same canonical body signed without the tag does not verify
    const body = new TextEncoder().encode(canonicalize({ ...base() }))
    const bare = { ...base(), sig: toHex(nacl.sign.detached(body, kp.secretKey)) }
    expect(codeOf(() => decodeEvent(canonicalize(bare), VAULT_A))).toBe('BAD_SIGNATURE')
  })

  it('envelope - non-canonical bytes of a valid event are refused', () => {
    const d = signEvent(base(), kp.secretKey)
    expect(codeOf(() => decodeEvent(JSON.stringify(d.event, null, 1), VAULT_A))).toBe('NON_CANONICAL')
    const reordered = '{"v":1,' + d.raw.slice(1).replace(',"v":1', '')
    expect(codeOf(() => decodeEvent(reordered, VAULT_A))).toBe('NON_CANONICAL')
  })

  it('envelope - an oversized payload is refused on signing and on decoding', () => {
    expect(codeOf(() => signEvent(base({ payload: { text: 'x'.repeat(70_000) } }), kp.secretKey))).toBe('OVERSIZED')
    const huge = '{"author":"' + 'x'.repeat(70_000) + '"}'
    expect(codeOf(() => decodeEvent(huge, VAULT_A))).toBe('OVERSIZED')
  })

  it('envelope - a deeply nested payload is refused', () => {
    let deep: Record<string, unknown> = {}
    for (let i = 0; i < 20; i++) deep = { d: deep }
    expect(codeOf(() => signEvent(base({ payload: deep as never }), kp.secretKey))).toBe('TOO_DEEP')
  })

  it('envelope - shape rules: fields, types, timestamps, chain fields, seen heads', () => {
    const bad: Partial<UnsignedEventV1>[] = [
      { seq: 0 },
      { seq: 1.5 },
      { ts: '2026-03-04 05:06:07' },
      { ts: '2026-02-30T00:00:00.000Z' },
      { type: 'Note' },
      { prev: 'CC'.repeat(32) },
      { seq: 1, prev: 'cc'.repeat(32) },
      { vault: null },
      { seen: [{ author: AUTHOR, seq: 1, id: 'dd'.repeat(32) }] },
      {
        seen: [
          { author: 'ff'.repeat(32), seq: 1, id: 'dd'.repeat(32) },
          { author: 'ee'.repeat(32), seq: 1, id: 'dd'.repeat(32) }
        ]
      }
    ]
    for (const over of bad)
      expect(
        codeOf(() => signEvent(base(over), kp.secretKey)),
        JSON.stringify(over)
      ).toBe('MALFORMED')
    const d = signEvent(base(), kp.secretKey)
    expect(codeOf(() => decodeEvent(canonicalize({ ...d.event, extra: 1 }), VAULT_A))).toBe('MALFORMED')
    expect(codeOf(() => decodeEvent(canonicalize({ ...d.event, v: 2 }), VAULT_A))).toBe('MALFORMED')
    expect(codeOf(() => decodeEvent(canonicalize({ ...d.event, v: 3 }), VAULT_A))).toBe('MALFORMED')
  })

  it('envelope - a timestamp is a real instant exactly when Date reads it back the same (leap years, month ends, 24:00)', () => {
    const cases = [
      '2024-02-29T00:00:00.000Z',
      '2023-02-29T00:00:00.000Z',
      '2000-02-29T12:00:00.000Z',
      '1900-02-29T12:00:00.000Z',
      '0000-02-29T00:00:00.000Z',
      '9999-12-31T23:59:59.999Z',
      '2026-04-31T00:00:00.000Z',
      '2026-00-10T00:00:00.000Z',
      '2026-13-10T00:00:00.000Z',
      '2026-01-00T00:00:00.000Z',
      '2026-01-31T24:00:00.000Z',
      '2026-01-31T23:60:00.000Z',
      '2026-01-31T23:59:60.000Z'
    ]
    const pad = (n: number, w: number) => String(n).padStart(w, '0')
    for (let i = 0; i < 3000; i++) {
      const r = (n: number) => Math.floor(Math.random() * n)
      cases.push(
        `${pad(r(10000), 4)}-${pad(r(14), 2)}-${pad(r(33), 2)}T${pad(r(26), 2)}:${pad(r(62), 2)}:${pad(r(62), 2)}.${pad(r(1000), 3)}Z`
      )
    }
    for (const ts of cases) {
      const d = new Date(ts)
      expect(isRealInstant(ts), ts).toBe(!Number.isNaN(d.getTime()) && d.toISOString() === ts)
    }
  })

  it('envelope - a small-order author key is WEAK_KEY even with a "valid" signature', () => {
    const weak = {
      ...base(),
      author: 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
      sig: 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a' + '00'.repeat(32)
    }
    expect(codeOf(() => decodeEvent(canonicalize(weak), VAULT_A))).toBe('WEAK_KEY')
  })
})

describe('envelope signing bytes', () => {
  it('envelope - bytes cut from the canonical text equal the re-encoded signing bytes, even when the payload mimics a sig member', async () => {
    const { signingBytesFromRaw } = await import('../core/envelope.js')
    const d0 = signEvent(base(), kp.secretKey)
    const tricky = [
      { text: 'plain' },
      { seq: 2, sig: d0.event.sig, ts: '2026-03-04T05:06:07.089Z' },
      { nested: { a: `,"sig":"${d0.event.sig}"`, sig: d0.event.sig } },
      { seen: [], sig: 'ab', v: 1 }
    ]
    for (const payload of tricky) {
      const d = signEvent(base({ payload: payload as never }), kp.secretKey)
      expect(Buffer.from(signingBytesFromRaw(d.raw, d.event)).equals(Buffer.from(signingBytes(d.event)))).toBe(true)
      expect(decodeEvent(d.raw, VAULT_A).id).toBe(d.id)
    }
  })
})

describe('governance fixtures', () => {
  it('governance - v1 events and the state they fold to are rebuilt byte for byte', async () => {
    const { buildGovernanceV1Fixture } = await import('./fixtures/governance-v1.js')
    const pinnedGov = JSON.parse(readFileSync(new URL('./fixtures/governance-v1.json', import.meta.url), 'utf8'))
    expect(buildGovernanceV1Fixture()).toEqual(pinnedGov)
  })

  it("governance - yesterday's v1 events still read: they verify and fold to the pinned state and statuses, in any order", async () => {
    const { foldGovernance } = await import('../core/governance/fold.js')
    const { stateHash } = await import('../core/governance/state.js')
    const pinnedGov = JSON.parse(readFileSync(new URL('./fixtures/governance-v1.json', import.meta.url), 'utf8'))
    const events = pinnedGov.events
      .map((e: { raw: string }) => decodeEvent(e.raw, pinnedGov.vault))
      .map((d: { id: string; event: never }) => ({ id: d.id, event: d.event }))
    const state = foldGovernance(pinnedGov.vault, events.reverse())
    expect(stateHash(state)).toBe(pinnedGov.stateHash)
    expect(
      Object.values(state.proposals)
        .map((p) => [p.id, p.status])
        .sort()
    ).toEqual(pinnedGov.statuses)
    expect(state.flags.corepay_enabled).toBe(true)
  })

  it('governance - v2 events and the state they fold to are rebuilt byte for byte, and fold to the pinned state in any order', async () => {
    const { buildGovernanceV2Fixture } = await import('./fixtures/governance-v2.js')
    const { foldGovernance } = await import('../core/governance/fold.js')
    const { stateHash } = await import('../core/governance/state.js')
    const pinnedGov = JSON.parse(readFileSync(new URL('./fixtures/governance-v2.json', import.meta.url), 'utf8'))
    expect(buildGovernanceV2Fixture()).toEqual(pinnedGov)
    const events = pinnedGov.events
      .map((e: { raw: string }) => decodeEvent(e.raw, pinnedGov.vault))
      .map((d: { id: string; event: never }) => ({ id: d.id, event: d.event }))
    expect(stateHash(foldGovernance(pinnedGov.vault, [...events].reverse()))).toBe(pinnedGov.stateHash)
  })
})

describe('telemetry batch fixtures', () => {
  it('telemetry - v1 batches and a reading proof are rebuilt byte for byte and verify', async () => {
    const { buildTelemetryBatchV1Fixture } = await import('./fixtures/telemetry-batch-v1.js')
    const { checkBatch, verifyReadingProof } = await import('../core/telemetry/batch.js')
    const pinned = JSON.parse(readFileSync(new URL('./fixtures/telemetry-batch-v1.json', import.meta.url), 'utf8'))
    expect(buildTelemetryBatchV1Fixture()).toEqual(pinned)
    const keys = new Set([pinned.device as string])
    const [b1, b2] = pinned.batches.map((d: unknown) => checkBatch(d, pinned.vault, keys))
    expect(b2.header.prev).toBe(b1.hash)
    expect([b1.hash, b2.hash]).toEqual(pinned.hashes)
    expect(verifyReadingProof(pinned.proof, pinned.vault, keys).seq).toBe(1)
  })
})

describe('sync.incident fixtures', () => {
  it("incident - v1 is rebuilt byte for byte, yesterday's bytes verify and read, and the witness address never carries credentials", async () => {
    const { buildIncidentV1Fixture } = await import('./fixtures/incident-v1.js')
    const { checkIncident, describeIncident } = await import('../core/incident.js')
    const pinned = JSON.parse(readFileSync(new URL('./fixtures/incident-v1.json', import.meta.url), 'utf8'))
    expect(buildIncidentV1Fixture()).toEqual(pinned)
    const [, raw] = pinned.events.map((e: { raw: string; id: string }) => {
      const d = decodeEvent(e.raw, pinned.vault)
      expect(d.id).toBe(e.id)
      return d
    })
    const incident = checkIncident(raw.event.payload)
    expect(incident).toMatchObject({
      v: 1,
      witness: 'couchdb',
      kind: 'rollback',
      server: 'https://couch.example:6984/tresor-ops'
    })
    expect(pinned.events[1].raw).not.toMatch(/s3cret|ops:/)
    expect(describeIncident(incident)).toMatch(
      /^CouchDB at https:\/\/couch\.example:6984\/tresor-ops served less than it had served before \(seen 2026-12-01T04:00:00\.000Z; 2 high-water mark\(s\) lost\)/
    )
  })

  it('incident - a payload with a field it does not define (constructor, __proto__, anything) or a bad mark is refused', async () => {
    const { checkIncident } = await import('../core/incident.js')
    const pinned = JSON.parse(readFileSync(new URL('./fixtures/incident-v1.json', import.meta.url), 'utf8'))
    const payload = JSON.parse(pinned.events[1].raw).payload
    expect(() => checkIncident(payload)).not.toThrow()
    for (const extra of ['constructor', '__proto__', 'toString', 'extra']) {
      const hostile = JSON.parse(JSON.stringify(payload).replace('{"detail"', `{"${extra}":1,"detail"`))
      expect(() => checkIncident(hostile), extra).toThrow(/no field/)
    }
    expect(() => checkIncident({ ...payload, marks: [{ author: 'x', seq: 1, id: 'y' }] })).toThrow(/marks/)
    expect(() => checkIncident({ ...payload, v: 2 })).toThrow(/version/)
    expect(() => checkIncident({ ...payload, marks: Array.from({ length: 65 }, () => payload.marks[0]) })).toThrow(
      /at most 64/
    )
  })
})
