import { Vault } from './core/vault.ts'
import { storedBodies } from './core/pouch.ts'
import { checkRaws } from './core/check-events.ts'
import { WorkerChecker } from './core/verify-pool.ts'
import { signEvent } from './core/envelope.ts'
import { openKeyFile, readKeyFile } from './core/keys.ts'
import { rmSync } from 'node:fs'
const dir = '/tmp/prof-vault'; rmSync(dir, { recursive: true, force: true })
const v = await Vault.create({ dir, vaultName: 'b', passphrase: 'pw', memberName: 'b', roles: ['operator'], kdf: { N: 2 ** 14, r: 8, p: 1 } })
const key = await openKeyFile(await readKeyFile(dir + '/device.key'), 'pw')
let head = v.heads()[v.device]!, batch = []
for (let i = 0; i < 20000; i++) { const d = signEvent({ v: 1, vault: v.vaultId, author: v.device, seq: head.length + 1, prev: head.head, ts: new Date(1.78e12 + i).toISOString(), type: 'audit.note', payload: { text: 'reading ' + i, n: i }, seen: [] }, key.keyPair.secretKey); head = { length: head.length + 1, head: d.id }; batch.push(d); if (batch.length === 1000) { await v.store.putMany(batch); batch = [] } }
let t = performance.now(); const raws: string[] = []
for await (const page of storedBodies(v.store.db)) for (const d of page) raws.push(d.raw as string)
console.log('scan', raws.length, ((performance.now() - t)).toFixed(0), 'ms')
t = performance.now(); checkRaws(raws.slice(0, 5000), v.vaultId); console.log('inline check 5000', (5000 / ((performance.now() - t) / 1000)).toFixed(0), '/s')
const pool = new WorkerChecker(2); await pool.check(raws.slice(0, 10), v.vaultId)
t = performance.now(); for (let i = 0; i < raws.length; i += 1000) await pool.check(raws.slice(i, i + 1000), v.vaultId); console.log('pool seq pages', (raws.length / ((performance.now() - t) / 1000)).toFixed(0), '/s')
t = performance.now(); await Promise.all(Array.from({ length: 20 }, (_, k) => pool.check(raws.slice(k * 1000, k * 1000 + 1000), v.vaultId))); console.log('pool all in flight', (raws.length / ((performance.now() - t) / 1000)).toFixed(0), '/s')
await pool.close()
t = performance.now(); const r = await v.verify({ full: true }); console.log('verify', r.ok, (r.checked / ((performance.now() - t) / 1000)).toFixed(0), '/s')
await v.close()
