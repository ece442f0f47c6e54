/**
 * MQTT intake for the edge daemon: subscribe to topic patterns at QoS 1 with a
 * persistent session and acknowledge each message (PUBACK) only after its
 * readings are on disk. Messages are handled one at a time through mqtt.js's
 * `handleMessage`, so while the disk budget is full (or telemetry is off) the
 * client stops reading: the broker keeps the messages and TCP carries the
 * backpressure. Nothing is acknowledged that is not stored or quarantined.
 *
 * A message is one reading or NDJSON lines; a line without `stream` takes the
 * topic's name (`plant/boiler.temp` → `plant.boiler.temp`) unless a fixed
 * stream is configured.
 */
import type { MqttClient, IPublishPacket } from 'mqtt'
import { VaultError, type TelemetryStore } from '../core/index.js'
import { lazyPackage } from '../core/index.js'

const mqtt = lazyPackage<typeof import('mqtt')>('mqtt')

export interface MqttInputOptions {
  url: string
  topics: string[]
  store: TelemetryStore
  /** Stream for lines that name none; default: from the topic. */
  stream?: string
  clientId?: string
  username?: string
  password?: string
  /** Told about each message and each wait, for the daemon's log. */
  onEvent?: (event: { kind: 'ingested' | 'waiting' | 'error'; topic: string; detail: string }) => void
}

export interface MqttInput {
  client: MqttClient
  stats: { messages: number; admitted: number; duplicates: number; quarantined: number; waits: number }
  close(): Promise<void>
}

export function streamOfTopic(topic: string): string {
  return topic.split('/').filter(Boolean).join('.').toLowerCase()
}

const RETRY_MS = { BACKPRESSURE: 1000, OTHER: 5000 }

export async function startMqttInput(opts: MqttInputOptions): Promise<MqttInput> {
  const client = mqtt().connect(opts.url, {
    clientId: opts.clientId ?? `tresor-${opts.store.device.slice(0, 16)}`,
    clean: false, // a persistent session: the broker keeps QoS 1 messages while this device is away
    protocolVersion: 5,
    properties: { receiveMaximum: 100, sessionExpiryInterval: 7 * 86_400 },
    reconnectPeriod: 1000,
    ...(opts.username ? { username: opts.username, password: opts.password } : {})
  })
  const stats = { messages: 0, admitted: 0, duplicates: 0, quarantined: 0, waits: 0 }
  let closing = false
  client.handleMessage = (packet: IPublishPacket, done: (err?: Error) => void) => {
    void (async () => {
      const text = Buffer.isBuffer(packet.payload) ? packet.payload.toString('utf8') : String(packet.payload)
      const stream = opts.stream ?? streamOfTopic(packet.topic)
      for (;;) {
        if (closing) return done(new Error('closing: the message stays with the broker'))
        try {
          const r = await opts.store.ingest(text, { stream, source: `mqtt:${packet.topic}` })
          stats.messages++
          stats.admitted += r.admitted
          stats.duplicates += r.duplicates
          stats.quarantined += r.quarantined
          opts.onEvent?.({
            kind: 'ingested',
            topic: packet.topic,
            detail: `${r.admitted} admitted, ${r.duplicates} duplicate(s), ${r.quarantined} quarantined`
          })
          return done()
        } catch (err) {
          const code = err instanceof VaultError ? err.code : 'INTERNAL'
          stats.waits++
          opts.onEvent?.({
            kind: code === 'BACKPRESSURE' ? 'waiting' : 'error',
            topic: packet.topic,
            detail: (err as Error).message
          })
          if (code === 'BACKPRESSURE') await opts.store.waitForRoom(RETRY_MS.BACKPRESSURE)
          else await new Promise((r) => setTimeout(r, RETRY_MS.OTHER))
        }
      }
    })()
  }
  await new Promise<void>((resolve, reject) => {
    const fail = (err: Error) => reject(err)
    client.once('error', fail)
    client.once('connect', () => {
      client.off('error', fail)
      resolve()
    })
  })
  await client.subscribeAsync(
    opts.topics
      .map((t) => ({ topic: t, qos: 1 as const }))
      .reduce((acc, t) => ({ ...acc, [t.topic]: { qos: t.qos } }), {})
  )
  client.on('error', (err) => opts.onEvent?.({ kind: 'error', topic: '', detail: err.message }))
  return {
    client,
    stats,
    async close() {
      closing = true
      await client.endAsync()
    }
  }
}
