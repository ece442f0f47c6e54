/**
 * CouchDB sync next to plain PouchDB replication of the same documents to
 * the same server (express-pouchdb started here on loopback, stopped by PID).
 * Push: this device's events to an empty database. Pull-and-verify: a second
 * device reads them from the server's changes feed and admits them through
 * the ingestion gate; pulls are repeated in pairs (see below).
 * The push has a second peer: plain replication into a database holding
 * Tresor's design document, whose validate_doc_update the server runs on
 * every document written (express-pouchdb compiles it and reads the design
 * documents and the old revision for each one): the server's share of the
 * push that is the write-once guard, not the client.
 * Beside each time, the CPU it took on each side (this process with its worker
 * threads, and the server's process): on a 2-core machine both share the same
 * cores, so a plain replication that waits on round trips leaves room that
 * verification can use, and one that keeps both cores busy leaves none.
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { Vault } from '../core/vault.js'
import { openDb, type Doc } from '../core/pouch.js'
import { signBundle } from '../core/bundle.js'
import { openKeyFile, readKeyFile } from '../core/keys.js'
import { CouchSync } from '../sync/couch-sync.js'
import { remoteDb, replicate } from '../sync/remote.js'
import { designDoc } from '../sync/design-doc.js'
import { ADMIN, startCouch } from '../test/support/couch.js'
import { cpuSeconds } from './live.js'

export interface SyncBenchRow {
  measure: string
  tresor: string
  peer: string
  verdict: string
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`

interface Timed<T> {
  ms: number
  value: T
  /** CPU of this process (all its threads) and of the server during the run, in ms. */
  cpu: { client: number; server: number }
}

async function timed<T>(serverPid: number, fn: () => Promise<T>): Promise<Timed<T>> {
  const server0 = cpuSeconds(serverPid)
  const client0 = process.cpuUsage()
  const t = performance.now()
  const value = await fn()
  const ms = performance.now() - t
  const client = process.cpuUsage(client0)
  const server = (cpuSeconds(serverPid) - server0) * 1000
  return { ms, value, cpu: { client: (client.user + client.system) / 1000, server } }
}

const cpuOf = (r: Timed<unknown>) => `CPU here ${secs(r.cpu.client)}, server ${secs(r.cpu.server)}`

export async function benchSync(
  vaultDir: string,
  events: number,
  tmp: () => Promise<string>,
  passphrase: string,
  log: (m: string) => void,
  pulls = 3
): Promise<SyncBenchRow[]> {
  const couch = await startCouch(join(await tmp(), 'server'))
  try {
    for (const db of ['plain', 'guarded', 'tresor']) await couch.request('PUT', `/${db}`, undefined, ADMIN)
    const vault = await Vault.open({ dir: vaultDir })
    await vault.unlock(passphrase)
    const isEvent = (doc: Doc) => doc._id.startsWith('ev!')

    log(`plain PouchDB replication: push ${events} documents`)
    const plainRemote = remoteDb(`${couch.root}/plain`, ADMIN)
    const plainPush = await timed(couch.pid, () => replicate(vault.store.db, plainRemote, { filter: isEvent }))
    log(`plain PouchDB replication: push ${events} documents into a database with Tresor's design document`)
    const guardedRemote = remoteDb(`${couch.root}/guarded`, ADMIN)
    await guardedRemote.put(designDoc() as never)
    const guardedPush = await timed(couch.pid, () => replicate(vault.store.db, guardedRemote, { filter: isEvent }))
    await guardedRemote.close()

    log('Tresor: push (sync round to an empty database)')
    const push = await timed(couch.pid, async () => {
      const s = await CouchSync.open(vault, { url: `${couch.root}/tresor`, credentials: ADMIN, admin: true })
      try {
        return await s.syncOnce()
      } finally {
        await s.close()
      }
    })
    if (push.value.pushed < events - 1) throw new Error(`push sent ${push.value.pushed} of ${events}`)

    // Pulls take turns (plain, Tresor, plain, …) and the row shows the pair with the median ratio: plain
    // replication's own time moves by half between runs on this machine, and a lone pair reads that as Tresor's.
    const key = await openKeyFile(await readKeyFile(join(vaultDir, 'device.key')), passphrase)
    const genesis = (await vault.store.get(vault.device, 1))!.raw
    const total = Object.values(vault.heads()).reduce((n, h) => n + h.length, 0)
    const pairs: { plain: Timed<unknown>; tresor: Timed<{ admitted: number }>; closeMs: number }[] = []
    for (let i = 1; i <= pulls; i++) {
      log(`plain PouchDB replication: pull them into an empty local database (${i} of ${pulls})`)
      const plainDir = await tmp()
      const plainLocal = openDb(join(plainDir, 'plain-pull'))
      const plain = await timed(couch.pid, () => replicate(plainRemote, plainLocal))
      await plainLocal.close()
      await rm(plainDir, { recursive: true, force: true }) // each pair's copies go at once, not at the end of the bench
      log(`Tresor: pull-and-verify on a new device (${i} of ${pulls})`)
      const joinedDir = await tmp()
      const joined = await Vault.join({
        dir: joinedDir,
        bundle: JSON.stringify(signBundle(vault.vaultId, vault.device, key.keyPair.secretKey, [genesis])),
        passphrase
      })
      const tresor = await timed(couch.pid, async () => {
        const s = await CouchSync.open(joined, { url: `${couch.root}/tresor`, credentials: ADMIN })
        try {
          return await s.syncOnce()
        } finally {
          await s.close()
        }
      })
      const held = Object.values(joined.heads()).reduce((n, h) => n + h.length, 0)
      // Closing signs the verified point over what was pulled (reading it back, not checking it again): its own time.
      const closing = performance.now()
      await joined.close()
      const closeMs = performance.now() - closing
      await rm(joinedDir, { recursive: true, force: true })
      if (held !== total) throw new Error(`pull admitted ${held} of ${total}`)
      pairs.push({ plain, tresor, closeMs })
    }
    await plainRemote.close()
    await vault.close()
    const ratioOf = (p: (typeof pairs)[number]) => p.tresor.ms / p.plain.ms
    const byRatio = [...pairs].sort((a, b) => ratioOf(a) - ratioOf(b))
    // of an even count, the higher middle one
    const { plain: plainPull, tresor: pull, closeMs } = byRatio[byRatio.length >> 1]!
    const pullRatio = pull.ms / plainPull.ms
    const pushRatio = push.ms / plainPush.ms
    return [
      {
        measure: `CouchDB push, ${events.toLocaleString('en-US')} events`,
        tresor: `${secs(push.ms)} (${cpuOf(push)})`,
        peer: `plain PouchDB replication ${secs(plainPush.ms)} (${cpuOf(plainPush)}) · the same into a database with Tresor's validate_doc_update ${secs(guardedPush.ms)} (${cpuOf(guardedPush)})`,
        verdict: `${pushRatio.toFixed(2)}x (target ≤1.1x): ${pushRatio <= 1.1 ? 'met' : 'NOT met'}`
      },
      {
        measure: `CouchDB pull-and-verify, ${events.toLocaleString('en-US')} events`,
        tresor: `${secs(pull.ms)} (${pull.value.admitted} admitted; ${cpuOf(pull)}; then closing ${secs(closeMs)})`,
        peer: `plain PouchDB replication ${secs(plainPull.ms)} (${cpuOf(plainPull)})`,
        verdict: `${pullRatio.toFixed(2)}x, median of ${pulls} pairs (${byRatio.map((p) => `${ratioOf(p).toFixed(2)}x`).join(', ')}; target ≤1.1x): ${pullRatio <= 1.1 ? 'met' : 'NOT met'}`
      }
    ]
  } finally {
    await couch.stop()
  }
}
