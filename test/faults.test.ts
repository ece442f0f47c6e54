/**
 * A damaged machine: files of the database vanish or rot, the disk fills up,
 * a process dies mid-append, a second process opens the same folder. Nothing
 * acknowledged is lost, nothing in the folder is rewritten behind the user's
 * back, the process never dies on bad storage, and every fault is named with
 * the way back (`tresor recover`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Vault } from '../core/vault.js'
import { eventDocId } from '../core/store.js'
import { cleanupDirs, codeOf, makeVault, PASS, tempDir } from './helpers.js'
import { ADMIN, startCouch, type Couch } from './support/couch.js'
import { startDaemon } from './support/daemon.js'

const BIN = fileURLToPath(new URL('../edge/bin/tresor.mjs', import.meta.url))
const APPEND_LOOP = fileURLToPath(new URL('./support/append-loop.ts', import.meta.url))

function tresor(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    env: { ...process.env, TRESOR_PASSPHRASE: PASS, ...env },
    encoding: 'utf8',
    timeout: 60_000
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout) }
}

/** LevelDB's lock and its human-readable info log: rewritten by every open, never data. */
const HOUSEKEEPING = /(^|\/)(LOCK|LOG|LOG\.old)$/

/** Every file under `dir` with a hash of its bytes (LevelDB's housekeeping files left out). */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>()
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      if (e.isDirectory()) walk(p)
      else if (!HOUSEKEEPING.test(p))
        out.set(relative(dir, p), createHash('sha256').update(readFileSync(p)).digest('hex'))
    }
  }
  walk(dir)
  return out
}

const eachFile = (db: string, test: RegExp, fn: (path: string) => void) => {
  for (const f of readdirSync(db)) if (test.test(f)) fn(join(db, f))
}

const FAULTS: Record<string, (db: string) => void> = {
  'CURRENT deleted': (db) => rmSync(join(db, 'CURRENT')),
  'MANIFEST deleted': (db) => eachFile(db, /^MANIFEST-/, (p) => rmSync(p)),
  'a table deleted': (db) => eachFile(db, /\.ldb$/, (p) => rmSync(p)),
  'a table zeroed': (db) => eachFile(db, /\.ldb$/, (p) => writeFileSync(p, Buffer.alloc(statSync(p).size))),
  'a table garbled': (db) =>
    eachFile(db, /\.ldb$/, (p) => {
      const b = readFileSync(p)
      for (let i = 64; i < b.length - 64; i += 7) b[i] = b[i]! ^ 0x5a
      writeFileSync(p, b)
    }),
  'a table truncated': (db) => eachFile(db, /\.ldb$/, (p) => truncateSync(p, Math.floor(statSync(p).size / 2)))
}
/**
 * Faults that lose what only the tables held: those events come back from a peer (CURRENT and MANIFEST are rebuilt from
 * the folder itself).
 */
const LOSES_TABLES = new Set(['a table deleted', 'a table zeroed', 'a table garbled', 'a table truncated'])

/**
 * A vault of 6 events whose database has been opened and closed by the CLI
 * twice (so its events sit in a table, and the copies kept from before each
 * open hold none of them), optionally synced to a CouchDB database.
 */
async function settledVault(couchDb?: string): Promise<{ dir: string; ids: string[] }> {
  const v = await makeVault({ notes: 5 })
  const dir = v.dir
  await v.close()
  expect(tresor(['status', '--dir', dir]).code).toBe(0)
  if (couchDb) {
    await couch.request('PUT', `/${couchDb}`, undefined, ADMIN)
    const sync = tresor(
      ['sync', 'couch', '--dir', dir, '--url', `${couch.root}/${couchDb}`, '--user', ADMIN.username, '--admin'],
      { TRESOR_COUCH_PASSWORD: ADMIN.password }
    )
    expect(sync.code, sync.stderr).toBe(0)
  }
  const ids = (tresor(['log', '--dir', dir, '--json']).json().entries as { id: string }[]).map((e) => e.id)
  expect(ids).toHaveLength(6)
  expect(readdirSync(join(dir, 'events.db')).some((f) => f.endsWith('.ldb'))).toBe(true)
  return { dir, ids }
}

function expectOneCleanLine(r: { stderr: string }, what: RegExp) {
  const lines = r.stderr.trim().split('\n')
  expect(lines, r.stderr).toHaveLength(1)
  expect(r.stderr).not.toMatch(/\n\s+at /)
  expect(lines[0]).toMatch(what)
}

let couch: Couch
beforeAll(async () => {
  couch = await startCouch(join(await tempDir('tresor-couch-faults-'), 'server'))
})
afterAll(async () => {
  await couch?.stop()
  await cleanupDirs()
})

describe('faults: a healthy vault read again and again', () => {
  it('faults - six tresor status calls write no table and start no compaction: every table stays byte for byte', async () => {
    const vault = await makeVault({ notes: 20 })
    const { dir } = vault
    await vault.close()
    expect(tresor(['status', '--dir', dir]).code).toBe(0) // the first open turns what the appends left in the log into a table
    const db = join(dir, 'events.db')
    const tables = () => new Map([...snapshot(db)].filter(([f]) => f.endsWith('.ldb')))
    const before = tables()
    expect(before.size).toBeGreaterThan(0)
    for (let i = 0; i < 6; i++) expect(tresor(['status', '--dir', dir]).code).toBe(0)
    // PouchDB rewrote its unchanged instance id at every open: a new table each time, a compaction every few
    expect(tables()).toEqual(before)
    for (const f of readdirSync(db).filter((n) => n.endsWith('.log'))) expect(statSync(join(db, f)).size, f).toBe(0)
  })
})

describe('faults: a damaged database', () => {
  for (const [fault, damage] of Object.entries(FAULTS)) {
    const peer = LOSES_TABLES.has(fault)
    it(`faults - ${fault}: status and a daemonless command say so in one line (exit 3), change nothing, and recover${peer ? ' --couch' : ''} brings every event back`, async () => {
      const { dir, ids } = await settledVault(peer ? `faults-${fault.replace(/\W+/g, '-')}` : undefined)
      damage(join(dir, 'events.db'))
      const before = snapshot(dir)
      const status = tresor(['status', '--dir', dir])
      expect(status.code).toBe(3)
      expectOneCleanLine(status, /READ-ONLY: .*events\.db.*tresor recover/)
      const note = tresor(['note', '--dir', dir, '--text', 'while damaged'])
      expect(note.code).toBe(3)
      expectOneCleanLine(note, /events\.db/)
      expect(tresor(['verify', '--dir', dir, '--full']).code).toBe(3)
      expect(snapshot(dir)).toEqual(before) // not a byte of the database, its copies or the vault's files changed
      const recover = tresor(['recover', '--dir', dir, ...(peer ? ['--couch'] : [])])
      expect(recover.code, recover.stdout + recover.stderr).toBe(0)
      expect(recover.stdout).toMatch(/kept, untouched, at .*events\.db\.damaged-/)
      const after = tresor(['log', '--dir', dir, '--json']).json().entries as { id: string }[]
      expect(after.map((e) => e.id)).toEqual(ids)
      expect(tresor(['note', '--dir', dir, '--text', 'signing again']).code).toBe(0)
      expect(tresor(['verify', '--dir', dir, '--full']).code).toBe(0)
      // the damaged database is kept as it was found
      const aside = readdirSync(dir).find((f) => /^events\.db\.damaged-[^.]+$/.test(f))!
      const keptAside = snapshot(join(dir, aside))
      for (const [file, hash] of before)
        if (file.startsWith('events.db/')) expect(keptAside.get(file.slice('events.db/'.length)), file).toBe(hash)
    })
  }

  it('faults - a table lost and no peer named: recover says what is missing, the device refuses to sign, and recover --couch then completes it', async () => {
    const { dir, ids } = await settledVault('faults-peer')
    FAULTS['a table zeroed']!(join(dir, 'events.db'))
    // alone it cannot: its own feed is behind what it verified, so it refuses to sign (that would fork its own key)
    const alone = tresor(['recover', '--dir', dir])
    expect(alone.code).toBe(3)
    expectOneCleanLine(alone, /still missing.*signs nothing.*--couch/)
    expect(tresor(['note', '--dir', dir, '--text', 'x']).code).not.toBe(0)
    const withPeer = tresor(['recover', '--dir', dir, '--couch'])
    expect(withPeer.code, withPeer.stdout + withPeer.stderr).toBe(0)
    expect(withPeer.stdout).toMatch(/nothing the last verified point knew is missing/)
    expect((tresor(['log', '--dir', dir, '--json']).json().entries as { id: string }[]).map((e) => e.id)).toEqual(ids)
    expect(tresor(['note', '--dir', dir, '--text', 'signing again', '--json']).json()).toMatchObject({ seq: 7 })
  })

  it('faults - SIGKILL mid-append while a second process keeps trying the folder (IN_USE), then CURRENT is lost: recover keeps every acknowledged event', async () => {
    const v = await makeVault()
    const dir = v.dir
    await v.close()
    const child = spawn(process.execPath, ['--import', 'tsx', APPEND_LOOP, dir, PASS], {
      stdio: ['ignore', 'pipe', 'pipe']
    })
    const acked: string[] = []
    let buf = ''
    child.stdout.on('data', (c) => {
      buf += c
      let i
      while ((i = buf.indexOf('\n')) >= 0) {
        acked.push(buf.slice(0, i).split(' ')[1]!)
        buf = buf.slice(i + 1)
      }
    })
    let refused = 0
    while (acked.length < 150 || refused < 3) {
      await new Promise((r) => setTimeout(r, 100))
      if (acked.length > 10 && refused < 3) {
        const other = tresor(['status', '--dir', dir])
        expect(other.code).toBe(1)
        expectOneCleanLine(other, new RegExp(`open in .* \\(pid ${child.pid}`))
        refused++
      }
      expect(child.exitCode).toBeNull()
    }
    child.kill('SIGKILL')
    await new Promise((r) => child.once('exit', r))
    expect(refused).toBe(3)
    rmSync(join(dir, 'events.db', 'CURRENT'))
    expect(tresor(['status', '--dir', dir]).code).toBe(3)
    const recover = tresor(['recover', '--dir', dir, '--json'])
    expect(recover.code, recover.stdout + recover.stderr).toBe(0)
    const back = await Vault.open({ dir })
    try {
      const held = await back.store.getMany(acked.map((_, i) => eventDocId(back.device, i + 2)))
      expect(held.map((d) => d?.id ?? null)).toEqual(acked)
    } finally {
      await back.close()
    }
    expect(tresor(['note', '--dir', dir, '--text', 'after']).code).toBe(0)
  })

  it('faults - no genesis anywhere (database, genesis.event, journal): recover says what it needs and changes nothing', async () => {
    const { dir } = await settledVault()
    rmSync(join(dir, 'events.db'), { recursive: true })
    rmSync(join(dir, 'events.db.before-open'), { recursive: true, force: true })
    rmSync(join(dir, 'genesis.event'))
    const before = snapshot(dir)
    const r = tresor(['recover', '--dir', dir])
    expect(r.code).not.toBe(0)
    expectOneCleanLine(r, /genesis .*not found.*nothing was changed.*--couch.*--bundle/)
    expect(snapshot(dir)).toEqual(before)
    expect(existsSync(join(dir, 'events.db'))).toBe(false)
  })

  it('faults - vault.json without its database: every command refuses and nothing is created in its place', async () => {
    const { dir } = await settledVault()
    rmSync(join(dir, 'events.db'), { recursive: true })
    const before = snapshot(dir)
    for (const args of [['status'], ['log'], ['note', '--text', 'x']]) {
      const r = tresor([...args, '--dir', dir])
      expect(r.code, args[0]).toBe(3)
      expectOneCleanLine(r, /events\.db is missing or empty.*nothing was created/)
    }
    expect(existsSync(join(dir, 'events.db'))).toBe(false)
    expect(snapshot(dir)).toEqual(before)
    // the genesis copy beside it and the journal are enough to rebuild it
    expect(tresor(['recover', '--dir', dir]).code).toBe(3) // the notes are gone with the database: only peers have them
    expect(tresor(['status', '--dir', dir, '--json']).json()).toMatchObject({ events: 1 })
  })
})

describe('faults: the daemon on a damaged vault', () => {
  it('faults - tresor serve on a damaged vault keeps answering, names the damage, and vault.recover with a bundle rebuilds it without a restart', async () => {
    const { dir, ids } = await settledVault()
    const bundlePath = join(await tempDir(), 'all.bundle')
    expect(tresor(['bundle', 'export', '--dir', dir, '--out', bundlePath]).code).toBe(0)
    FAULTS['a table garbled']!(join(dir, 'events.db'))
    rmSync(join(dir, 'events.db.before-open'), { recursive: true, force: true })
    const daemon = await startDaemon(dir, [], { TRESOR_PASSPHRASE: PASS })
    const call = async (method: string, body: unknown = {}) =>
      (await (
        await fetch(`${daemon.url}/api/${method}`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${daemon.token}`, 'Content-Type': 'application/json' },
          body: JSON.stringify(body)
        })
      ).json()) as { ok: boolean; value?: Record<string, unknown>; error?: { code: string; message: string } }
    try {
      let status = await call('vault.status')
      for (let i = 0; i < 100 && !(status.value?.health as { damaged?: boolean } | undefined)?.damaged; i++) {
        await new Promise((r) => setTimeout(r, 100))
        status = await call('vault.status')
      }
      expect(status.value).toMatchObject({
        health: { state: 'read-only', damaged: true, reason: expect.stringMatching(/events\.db.*recover/) }
      })
      const listed = await call('log.list')
      expect(listed).toMatchObject({ ok: false, error: { code: 'STORAGE_DAMAGED' } })
      await new Promise((r) => setTimeout(r, 2000))
      expect((await call('vault.status')).ok).toBe(true) // still alive and answering
      expect(await call('vault.recover', { passphrase: 'wrong passphrase here' })).toMatchObject({
        ok: false,
        error: { code: 'KEY_AUTH_FAILED' }
      })
      const recovered = await call('vault.recover', { passphrase: PASS, bundle: await readFile(bundlePath, 'utf8') })
      expect(recovered, JSON.stringify(recovered)).toMatchObject({ ok: true, value: { missing: 0 } })
      const log = await call('log.list', { limit: 100 })
      expect((log.value!.entries as { id: string }[]).map((e) => e.id).sort()).toEqual([...ids].sort())
      expect((await call('vault.unlock', { passphrase: PASS })).ok).toBe(true)
      expect(await call('log.appendNote', { text: 'after recovery' })).toMatchObject({ ok: true })
    } finally {
      await daemon.stop()
    }
    expect(daemon.output()).not.toMatch(/\n\s+at /)
  })

  it('faults - a second tresor serve, or a command that would open the vault itself while serve runs, is told IN_USE with the pid, and the journal is never touched', async () => {
    const v = await makeVault({ notes: 1 })
    const dir = v.dir
    await v.close()
    const daemon = await startDaemon(dir, [], { TRESOR_PASSPHRASE: PASS })
    try {
      for (let i = 0; i < 100 && !existsSync(join(dir, 'owner.lock')); i++) await new Promise((r) => setTimeout(r, 50))
      const journal = () =>
        createHash('sha256')
          .update(readFileSync(join(dir, 'append.journal')))
          .digest('hex')
      const j0 = journal()
      // every other command goes through the daemon (test/cli-daemon.test.ts); the sync loop, which would open the
      // vault itself, is refused
      for (const args of [['daemon']]) {
        const r = tresor([...args, '--dir', dir])
        expect(r.code, args[0]).toBe(1)
        expectOneCleanLine(r, new RegExp(`open in tresor serve \\(pid ${daemon.pid}`))
      }
      const second = spawnSync(process.execPath, [BIN, 'serve', '--dir', dir, '--port', '0'], {
        env: { ...process.env, TRESOR_PASSPHRASE: PASS },
        encoding: 'utf8',
        timeout: 30_000
      })
      expect(second.status).toBe(1)
      expect(second.stdout).not.toMatch(/served at/)
      expectOneCleanLine(second, new RegExp(`pid ${daemon.pid}`))
      expect(journal()).toBe(j0)
    } finally {
      await daemon.stop()
    }
    expect(tresor(['status', '--dir', dir]).code).toBe(0) // a stopped daemon leaves the folder to whoever comes next
  })
})

/**
 * A 3 MiB tmpfs: a disk that really fills up. Needs root (CI runs as root); otherwise the test says why it did not run.
 */
function smallDisk(): string | null {
  const at = join(process.env.TMPDIR ?? '/tmp', `tresor-full-${process.pid}`)
  try {
    execFileSync('mkdir', ['-p', at])
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', at], { stdio: 'pipe' })
    return at
  } catch (err) {
    process.stderr.write(
      `faults: the full-disk test did not run: cannot mount a small tmpfs here (${String((err as Error).message).split('\n')[0]})\n`
    )
    rmSync(at, { recursive: true, force: true })
    return null
  }
}

describe('faults: a full disk', () => {
  it('faults - disk full: appends fail STORAGE_FULL, the vault goes READ-ONLY, and once space is free a full check lifts it without a restart; every acknowledged append is kept', async (ctx) => {
    // Mounted by the test itself and unmounted whatever happens (a filtered run never leaves one behind).
    const disk = smallDisk()
    if (!disk) return ctx.skip()
    try {
      await fullDisk(disk)
    } finally {
      try {
        execFileSync('umount', ['-l', disk])
      } catch {
        /* already gone */
      }
      rmSync(disk, { recursive: true, force: true })
    }
  })
})

/** The full-disk journey on a small mounted disk. */
async function fullDisk(disk: string): Promise<void> {
  const dir = join(disk, 'v')
  await mkdir(dir)
  const v = await makeVault({ dir })
  const acked: { author: string; seq: number; id: string }[] = []
  const filler = join(disk, 'filler')
  // Fill the disk to the last block.
  const chunk = Buffer.alloc(64 * 1024, 7)
  try {
    for (;;) await writeFile(filler, chunk, { flag: 'a' })
  } catch (err) {
    expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC')
  }
  let failure: { code?: string; message?: string } | null = null
  for (let i = 0; i < 2000 && !failure; i++) {
    try {
      const d = await v.append('audit.note', { text: `note ${i} ${'x'.repeat(2000)}` })
      acked.push({ author: d.event.author, seq: d.event.seq, id: d.id })
    } catch (err) {
      failure = err as { code?: string; message?: string }
    }
  }
  expect(failure?.code, failure?.message).toBe('STORAGE_FULL')
  expect(v.health).toMatchObject({ state: 'read-only', reason: expect.stringMatching(/disk/) })
  expect(await v.append('audit.note', { text: 'still full' }).catch((e: { code: string }) => e.code)).toMatch(
    /READ_ONLY|STORAGE_FULL/
  )
  expect(await codeOf(v.verify({ full: true }))).toBe('STORAGE_FULL') // no space yet: it says so and stays READ-ONLY
  expect(v.health.state).toBe('read-only')
  await rm(filler)
  const report = await v.verify({ full: true })
  expect(report.ok, JSON.stringify(report.issues?.slice(0, 2))).toBe(true)
  expect(v.health.state).toBe('ok')
  const d = await v.append('audit.note', { text: 'space again' })
  acked.push({ author: d.event.author, seq: d.event.seq, id: d.id })
  await v.close()
  const again = await Vault.open({ dir })
  try {
    const held = await again.store.getMany(acked.map((a) => eventDocId(a.author, a.seq)))
    expect(held.map((doc) => doc?.id ?? null)).toEqual(acked.map((a) => a.id))
    expect(again.health.state).toBe('ok')
  } finally {
    await again.close()
  }
}
