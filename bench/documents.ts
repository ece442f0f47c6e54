/**
 * Documents (issue 17): migrating a ZIP of 1,000 files (50 MiB) — read safely, every file hashed and kept by digest,
 * the plan signed into events, one proposal — beside the floor of reading the same archive with yauzl and hashing
 * every entry; then its blobs to a second device through a CouchDB-protocol server (express-pouchdb on loopback):
 * the first device's push, the second's pull through the blob gate, beside plain PouchDB replication of the same
 * database.
 */
import { createHash, randomBytes } from 'node:crypto'
import { join } from 'node:path'
import yauzl from 'yauzl'
import { Vault, ensureDeviceKey } from '../core/vault.js'
import { createHandlers } from '../core/api.js'
import { approve, commit } from '../core/governance/calls.js'
import { exportBundle, importBundle } from '../core/bundle.js'
import { openDb } from '../core/pouch.js'
import { CouchSync } from '../sync/couch-sync.js'
import { remoteDb, replicate } from '../sync/remote.js'
import { ADMIN, startCouch } from '../test/support/couch.js'
import { makeZip, type ZipEntrySpec } from '../test/support/zip.js'

type Row = { measure: string; tresor: string; peer: string; verdict: string }
const KDF = { N: 2 ** 14, r: 8, p: 1 }
const MiB = 2 ** 20

const WORDS = (
  'the vault keeps every governance event signed append only dual authorization member approves commit ' +
  'device verifies offline read only mirror checkpoint witness ledger register telemetry stream proof ' +
  'plan roadmap phase controller review operator build migration document version lifecycle archive'
).split(' ')

/**
 * `files` text files of `bytes` each: a header, then words drawn at random (compresses like prose, about 3:1, not
 * like a bomb).
 */
function archive(files: number, bytes: number): { zip: Buffer; total: number } {
  const entries: ZipEntrySpec[] = []
  const rnd = randomBytes(bytes)
  let total = 0
  for (let i = 0; i < files; i++) {
    const head = `---\nid: DOC_${i}\nversion: "1"\nlifecycle: ACTIVE\ndomain: bench.${i % 10}\n---\n`
    let body = ''
    for (let k = i; body.length < bytes - head.length; k++) {
      body += WORDS[rnd[k % rnd.length]! % WORDS.length]!
      body += k % 12 === 11 ? '.\n' : ' '
    }
    const data = (head + body).slice(0, bytes)
    entries.push({ name: `repo/${i % 20}/doc-${i}.md`, data, deflate: true })
    total += data.length
  }
  return { zip: makeZip(entries), total }
}

/** The floor: every entry of the archive read and hashed, nothing else. */
function readAndHash(zip: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(zip, { lazyEntries: true }, (err, z) => {
      if (err || !z) return reject(err ?? new Error('no zip'))
      let n = 0
      z.on('entry', (e: yauzl.Entry) =>
        z.openReadStream(e, (err2, s) => {
          if (err2 || !s) return reject(err2 ?? new Error('no stream'))
          const h = createHash('sha256')
          s.on('data', (c: Buffer) => h.update(c))
          s.on('end', () => {
            h.digest()
            n++
            z.readEntry()
          })
        })
      )
      z.on('end', () => resolve(n))
      z.readEntry()
    })
  })
}

export async function benchDocuments(
  files: number,
  tmp: () => Promise<string>,
  passphrase: string,
  log: (m: string) => void
): Promise<Row[]> {
  const { zip, total } = archive(files, Math.round((50 * MiB) / 1000))
  const root = await tmp()
  const bobKey = await ensureDeviceKey(join(root, 'bob'), 'bob', passphrase, KDF)
  const alice = await Vault.create({
    dir: join(root, 'alice'),
    vaultName: 'bench documents',
    passphrase,
    memberName: 'alice',
    roles: ['operator'],
    kdf: KDF,
    members: [{ name: 'bob', roles: ['operator'], keys: [bobKey.publicKey] }]
  })
  const bob = await Vault.join({
    dir: join(root, 'bob'),
    bundle: JSON.stringify(await exportBundle(alice)),
    passphrase
  })
  const server = await startCouch(join(await tmp(), 'couch'))
  try {
    log(`documents: migrating a ZIP of ${files} files, ${(total / MiB).toFixed(0)} MiB`)
    const base64 = zip.toString('base64')
    let t = performance.now()
    const r = await createHandlers(alice)['documents.migrate']({ name: 'bench.zip', zip: base64, reason: 'bench' })
    const migrateMs = performance.now() - t
    if (r.plan.files.length !== files) throw new Error(`planned ${r.plan.files.length} files, not ${files}`)
    t = performance.now()
    if ((await readAndHash(zip)) !== files) throw new Error('the floor read another number of entries')
    const floorMs = performance.now() - t
    // the proposal travels by bundle (without the blobs, so the CouchDB rows move them all); committed on bob
    const since = Object.fromEntries(Object.entries(bob.heads()).map(([a, h]) => [a, h.length]))
    const { blobs: _carried, ...eventsOnly } = await exportBundle(alice, since)
    await importBundle(bob, JSON.stringify(eventsOnly))
    await approve(bob, r.proposal!.id)
    await commit(bob, r.proposal!.id)
    log('documents: the blobs through CouchDB (push, then pull through the blob gate)')
    const round = async (v: Vault) => {
      const s = await CouchSync.open(v, { url: server.dbUrl, credentials: ADMIN, admin: true })
      try {
        return await s.syncOnce()
      } finally {
        await s.close()
      }
    }
    t = performance.now()
    const up = await round(alice)
    const pushMs = performance.now() - t
    t = performance.now()
    const down = await round(bob)
    const pullMs = performance.now() - t
    if (up.blobs.pushed !== files || down.blobs.pulled !== files)
      throw new Error(`blobs: pushed ${up.blobs.pushed}, pulled ${down.blobs.pulled}, not ${files}`)
    // the floor: plain PouchDB replication of the same database (events and blobs), down to a fresh one and up again
    const plain = openDb(join(await tmp(), 'plain'))
    const remote = remoteDb(server.dbUrl, ADMIN)
    t = performance.now()
    await replicate(remote, plain)
    const plainPullMs = performance.now() - t
    await server.request('PUT', '/plain', undefined, ADMIN)
    const target = remoteDb(`${server.root}/plain`, ADMIN)
    t = performance.now()
    await replicate(plain, target)
    const plainPushMs = performance.now() - t
    await Promise.all([plain.close(), remote.close(), target.close()])
    const mib = total / MiB
    const speed = (ms: number) =>
      `${Math.round(files / (ms / 1000)).toLocaleString('en-US')} files/s, ${(mib / (ms / 1000)).toFixed(1)} MiB/s`
    return [
      {
        measure: `migrate a ZIP: ${files} files, ${mib.toFixed(0)} MiB (read safely, hash, keep by digest, sign the plan, propose)`,
        tresor: `${(migrateMs / 1000).toFixed(2)} s, ${speed(migrateMs)}`,
        peer: `${(floorMs / 1000).toFixed(2)} s yauzl read + SHA-256 of every entry (${speed(floorMs)})`,
        verdict: ''
      },
      {
        measure: `its blobs to a second device through CouchDB: push / pull through the blob gate`,
        tresor: `${(pushMs / 1000).toFixed(2)} s / ${(pullMs / 1000).toFixed(2)} s (${(mib / (pullMs / 1000)).toFixed(1)} MiB/s in)`,
        peer: `${(plainPushMs / 1000).toFixed(2)} s / ${(plainPullMs / 1000).toFixed(2)} s plain PouchDB replication of the same database`,
        verdict: ''
      }
    ]
  } finally {
    await alice.close()
    await bob.close()
    await server.stop()
  }
}
