/** Every device sees every device: the signed status format, what a view makes of it, and who may sign one when. */
import { afterAll, describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { decodeEvent } from '../core/envelope.js'
import { devicesView, parseStatus, statusPayload, type DeviceStatus } from '../core/devices.js'
import { StatusReporter } from '../core/status-reporter.js'
import { createHandlers } from '../core/api.js'
import { buildDeviceStatusV1Fixture } from './fixtures/device-status-v1.js'
import { threeMembers } from './support/members.js'
import { cleanupDirs, withRawDb } from './helpers.js'
import { Vault } from '../core/vault.js'
import { PASS } from './helpers.js'

afterAll(cleanupDirs)

const pinned = JSON.parse(readFileSync(new URL('./fixtures/device-status-v1.json', import.meta.url), 'utf8'))
const until = async (probe: () => boolean | Promise<boolean>, what: string) => {
  for (let i = 0; i < 200; i++) {
    if (await probe()) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`timed out: ${what}`)
}

describe('device status', () => {
  it("devices - v1 is rebuilt byte for byte, and yesterday's bytes verify and read", () => {
    expect(buildDeviceStatusV1Fixture()).toEqual(pinned)
    const [, start, failed] = pinned.events.map((e: { raw: string; id: string }) => {
      const d = decodeEvent(e.raw, pinned.vault)
      expect(d.id).toBe(e.id)
      return d
    })
    expect(parseStatus(start.event.payload)).toMatchObject({ v: 1, reason: 'start', health: 'ok', sync: null })
    expect(parseStatus(failed.event.payload)).toMatchObject({
      reason: 'check',
      health: 'read-only',
      check: { mode: 'full', ok: false, issues: 1 },
      sync: { online: true, pendingUp: 1 }
    })
  })

  it('devices - a status that does not read as v1 is unreadable, never guessed at: unknown fields (constructor, __proto__), bad heads, bad times', () => {
    const payload = JSON.parse(pinned.events[2].raw).payload
    expect(parseStatus(payload)).not.toBeNull()
    for (const extra of ['constructor', '__proto__', 'toString', 'extra']) {
      const hostile = JSON.parse(JSON.stringify(payload).replace('{"check"', `{"${extra}":1,"check"`))
      expect(parseStatus(hostile), extra).toBeNull()
    }
    const bad = [
      { ...payload, v: 2 },
      { ...payload, heads: JSON.parse('{"__proto__": 3}') },
      { ...payload, heads: { ['ab'.repeat(32)]: -1 } },
      { ...payload, check: { ...payload.check, at: 'yesterday' } },
      { ...payload, health: 'fine' },
      { ...payload, sync: { ...payload.sync, pendingUp: 1.5 } },
      { ...payload, reason: 'because' }
    ]
    for (const b of bad) expect(parseStatus(b), JSON.stringify(b).slice(0, 80)).toBeNull()
  })

  it('devices - the view says how far behind each device was, counting its own status as held, and marks this device', async () => {
    const t = await threeMembers()
    try {
      const { alice, bob } = t
      const status = (heads: Record<string, number>): Omit<DeviceStatus, 'v'> => ({
        reason: 'heartbeat',
        heads,
        health: 'ok',
        why: null,
        check: null,
        software: '0.1.0',
        formats: { event: 2, state: 2 },
        sync: null
      })
      const aliceLen = alice.heads()[alice.device]!.length
      const latest = new Map([
        // bob had alice's feed up to one short of now, and his own status is his seq 5
        [
          bob.device,
          { ts: '2026-12-01T00:00:00.000Z', seq: 5, payload: statusPayload(status({ [alice.device]: aliceLen - 1 })) }
        ],
        [t.carol.device, { ts: '2026-12-01T00:00:00.000Z', seq: 1, payload: { v: 1, junk: true } }]
      ])
      const rows = devicesView(
        alice.state,
        latest,
        { [alice.device]: { length: aliceLen }, [bob.device]: { length: 5 } },
        alice.device
      )
      const row = (key: string) => rows.find((r) => r.key === key)!
      expect(row(bob.device)).toMatchObject({ member: 'bob', behind: 1, unreadable: false, keyState: 'active' })
      expect(row(t.carol.device)).toMatchObject({ status: null, unreadable: true, behind: null })
      expect(row(alice.device)).toMatchObject({ thisDevice: true, lastSeen: null })
    } finally {
      for (const v of t.all) await v.close()
    }
  })

  it('devices - a READ-ONLY device still signs its status (a failed check is what others must hear), but nothing else; not when its own feed is in doubt', async () => {
    const t = await threeMembers()
    const { alice, bob } = t
    await alice.append('audit.note', { text: 'held by bob' })
    const { exportBundle, importBundle } = await import('../core/bundle.js')
    await importBundle(bob, JSON.stringify(await exportBundle(alice, {})))
    const [bobDir, bobDevice] = [bob.dir, bob.device]
    await bob.close()
    // bob's copy of alice's note rots: bob's check fails on alice's feed, not his own
    await withRawDb(bobDir, async (raw) => {
      const doc = await raw.get(`ev!${alice.device}!000000000002`)
      await raw.put({ ...doc, raw: String(doc.raw).replace('held by', 'HELD BY') })
    })
    const reopened = await Vault.open({ dir: bobDir })
    try {
      await reopened.unlock(PASS)
      expect(reopened.health.state).toBe('read-only')
      await expect(reopened.append('audit.note', { text: 'x' })).rejects.toMatchObject({ code: 'READ_ONLY' })
      const reporter = new StatusReporter(reopened, { software: '0.1.0' })
      const devices = createHandlers(reopened)['devices.list']
      await until(async () => (await devices({})).find((d) => d.key === bobDevice)?.status !== null, 'a status')
      await reporter.stop()
      const mine = (await devices({})).find((d) => d.key === bobDevice)!
      expect(mine.status).toMatchObject({ health: 'read-only', reason: 'start', check: { ok: false } })
      expect(mine.status!.why).toMatch(/verification issue/)
      // a device status is the reporter's alone to sign
      await expect(reopened.append('device.status', { v: 1 })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' })
    } finally {
      await reopened.close()
    }
    // alice's own feed fails her check: her status would extend a feed in doubt, so none is signed
    const aliceDir = alice.dir
    await alice.close()
    await withRawDb(aliceDir, async (raw) => {
      const doc = await raw.get(`ev!${alice.device}!000000000002`)
      await raw.put({ ...doc, raw: String(doc.raw).replace('held by', 'HELD BY') })
    })
    const a = await Vault.open({ dir: aliceDir })
    try {
      await a.unlock(PASS)
      expect(a.health.state).toBe('read-only')
      await expect(a.appendStatus({ v: 1 })).rejects.toMatchObject({ code: 'READ_ONLY' })
    } finally {
      await a.close()
      for (const v of [t.bob2, t.carol]) await v.close()
    }
  })

  it('devices - the reporter signs at start, after a check that changed something, and not again for nothing', async () => {
    const t = await threeMembers()
    const { alice } = t
    try {
      const reporter = new StatusReporter(alice, { software: '0.1.0', heartbeatMs: 0, tickMs: 100 })
      const statuses = async () => (await createHandlers(alice)['log.list']({ type: 'device.status' })).total
      await until(async () => (await statuses()) === 1, 'the start status')
      // heartbeats with nothing changed sign nothing (its own status is counted as held)
      await new Promise((r) => setTimeout(r, 600))
      expect(await statuses()).toBe(1)
      await alice.append('audit.note', { text: 'something new' })
      await until(async () => (await statuses()) === 2, 'a heartbeat after a change')
      await reporter.stop()
    } finally {
      for (const v of t.all) await v.close()
    }
  })
})
