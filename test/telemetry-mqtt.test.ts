import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import mqtt, { type MqttClient } from 'mqtt'
import { TelemetryStore } from '../core/telemetry/store.js'
import { startMqttInput, streamOfTopic, type MqttInput } from '../edge/mqtt-input.js'
import { cleanupDirs, tempDir } from './helpers.js'
import { startMosquitto, type Broker } from './support/mosquitto.js'
import { boilerLines, streamingVaults, type StreamingVaults } from './support/telemetry-vault.js'

let broker: Broker

beforeAll(async () => {
  broker = await startMosquitto(await tempDir('tresor-mqtt-'))
})

afterAll(async () => {
  await broker?.stop()
  await cleanupDirs()
})

async function until(cond: () => Promise<boolean> | boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('telemetry over MQTT (mosquitto)', () => {
  let t: StreamingVaults
  let store: TelemetryStore
  let input: MqttInput
  let producer: MqttClient

  beforeAll(async () => {
    t = await streamingVaults({ settings: { telemetryBudgetKB: 16, telemetryBatchMax: 25 } })
    store = await TelemetryStore.open(t.alice)
    input = await startMqttInput({
      url: broker.url,
      topics: ['plant/#', 'boiler.temp'],
      store,
      clientId: 'tresor-test-edge'
    })
    producer = await mqtt.connectAsync(broker.url, { clientId: 'producer', clean: true })
  })

  afterAll(async () => {
    await producer?.endAsync()
    await input?.close()
    await store?.close()
    await t?.alice.close()
    await t?.bob.close()
  })

  it('mqtt - readings published at QoS 1 are admitted (stream from the payload or the topic), bad ones quarantined with the reason, duplicates named', async () => {
    expect(streamOfTopic('plant/Boiler.temp/')).toBe('plant.boiler.temp')
    const [a, b] = boilerLines(2, 'mq')
    await producer.publishAsync('plant/hall-1', a!, { qos: 1 })
    await producer.publishAsync('boiler.temp', JSON.stringify({ ...JSON.parse(b!), stream: undefined }), { qos: 1 })
    await producer.publishAsync('plant/hall-1', '{"id": "cut', { qos: 1 })
    await producer.publishAsync('plant/hall-1', a!, { qos: 1 })
    await until(() => input.stats.messages === 4, 'four messages')
    expect(input.stats).toMatchObject({ admitted: 2, quarantined: 1, duplicates: 1 })
    const ids = (await store.streamReadings('boiler.temp')).map((r) => r.id)
    expect(ids).toEqual(['mq-0', 'mq-1'])
    expect((await store.quarantine())[0]!.receipt).toMatchObject({
      code: 'MALFORMED',
      reason: expect.stringMatching(/not a JSON reading/)
    })
    expect((await store.quarantine())[0]!.source).toBe('mqtt:plant/hall-1')
  })

  it('mqtt - a full disk budget stops acknowledging (the broker keeps the messages), governance raising the budget lets every one in exactly once', async () => {
    const lines = boilerLines(400, 'flood')
    await Promise.all(lines.map((l) => producer.publishAsync('plant/flood', l, { qos: 1 })))
    await until(() => input.stats.waits > 0, 'backpressure')
    const heldWhileFull = (await store.streamReadings('boiler.temp')).length
    expect(heldWhileFull).toBeLessThan(402)
    expect(store.usage().full).toBe(true)
    await t.govern({ kind: 'vault.settings', args: { settings: { telemetryBudgetKB: 4096 } } })
    await until(async () => (await store.streamReadings('boiler.temp')).length === 402, 'all 402 readings', 30_000)
    await store.flush()
    const ids = (await store.streamReadings('boiler.temp')).map((r) => r.id)
    expect(new Set(ids).size).toBe(402)
    for (const l of lines) expect(ids).toContain(JSON.parse(l).id)
    expect(input.stats.duplicates).toBe(1)
  })
})
