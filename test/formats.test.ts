/**
 * Yesterday's bytes still read. `test/fixtures/formats-v1/` holds what the
 * code wrote on disk and in files when these formats were pinned (see
 * `test/fixtures/formats-v1.ts`); today's code must open, verify and use them.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { cp, readdir, readFile } from 'node:fs/promises'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Vault } from '../core/vault.js'
import { openKeyFile, readKeyFile } from '../core/keys.js'
import { checkPoint, loadPoint } from '../core/verified-point.js'
import { decodeEvent } from '../core/envelope.js'
import { openBundle } from '../core/bundle.js'
import { verifyProofFile } from '../core/proofs/proof-file.js'
import { verifyYamlExport } from '../core/audit-yaml.js'
import { stateHash } from '../core/governance/state.js'
import { TelemetryStore } from '../core/telemetry/store.js'
import { verifyReadingProof } from '../core/telemetry/batch.js'
import { sha256Hex } from '../core/bytes.js'
import { syncGit } from '../sync/git-mirror.js'
import { GIT_TOKEN, startGitServer } from './support/git.js'
import { cleanupDirs, codeOf, PASS, tempDir } from './helpers.js'

const FIXTURE = fileURLToPath(new URL('./fixtures/formats-v1/', import.meta.url))
const TELEMETRY = fileURLToPath(new URL('./fixtures/telemetry-v1/', import.meta.url))
const MIRROR = fileURLToPath(new URL('./fixtures/mirror-v1/', import.meta.url))
const MIRROR_V2 = fileURLToPath(new URL('./fixtures/mirror-v2/', import.meta.url))
const read = (f: string) => readFile(join(FIXTURE, f), 'utf8')

describe('formats v1', () => {
  afterAll(cleanupDirs)

  it('formats - a v1 vault folder (LevelDB files, key, config, verified point, genesis copy, journal) opens, replays its journal, verifies whole and signs on', async () => {
    const expected = JSON.parse(await read('expected.json'))
    const dir = join(await tempDir(), 'vault')
    await cp(join(FIXTURE, 'vault'), dir, { recursive: true }) // a copy: the pinned files stay as written
    expect(await Vault.readConfig(dir)).toMatchObject({ vaultId: expected.vaultId, device: expected.device })
    // the signed verified point
    expect(checkPoint(await loadPoint(dir), expected.vaultId, expected.device)).not.toBeNull()
    expect(decodeEvent((await readFile(join(dir, 'genesis.event'), 'utf8')).trim(), null).id).toBe(expected.vaultId)
    const vault = await Vault.open({ dir })
    try {
      expect(vault.health.state).toBe('ok')
      const heads = vault.heads()
      // the two journal-only appends are back
      expect(Object.values(heads).reduce((n, f) => n + f.length, 0)).toBe(expected.events)
      expect(heads[expected.device]!.head).toBe(expected.pending.at(-1))
      expect(stateHash(vault.state)).toBe(expected.stateHash)
      expect((await vault.verify({ full: true })).ok).toBe(true)
      await vault.unlock(expected.passphrase)
      expect((await vault.append('audit.note', { text: "read by today's code" })).event.seq).toBe(
        heads[expected.device]!.length + 1
      )
    } finally {
      await vault.close()
    }
  })

  it('formats - a v1 device key file opens with its passphrase and with nothing else', async () => {
    const expected = JSON.parse(await read('expected.json'))
    const file = await readKeyFile(join(FIXTURE, 'vault', 'device.key'))
    expect((await openKeyFile(file, expected.passphrase)).publicKey).toBe(expected.device)
    expect(await codeOf(openKeyFile(file, 'not the passphrase'))).toBe('KEY_AUTH_FAILED')
  })

  it('formats - a v1 bundle, inclusion proof and YAML audit chain verify', async () => {
    const expected = JSON.parse(await read('expected.json'))
    const { events } = openBundle(await read('bundle.json'), expected.vaultId)
    expect(events).toHaveLength(expected.bundleEvents)
    const proof = verifyProofFile(await read('proof.json'))
    expect(proof).toMatchObject({ ok: true, kind: 'inclusion', vault: expected.vaultId, event: { id: expected.note } })
    const audit = await verifyYamlExport(await read('audit.yaml'))
    expect(audit).toMatchObject({ ok: true, vault: expected.vaultId })
    expect(audit.total).toBe(expected.indexed)
  })

  it('formats - a v1 telemetry folder (WAL segment, batch store, meta lines, dedup keys, quarantine, forward.json) opens: what waited in the WAL is sealed, duplicates are still known, proofs verify', async () => {
    const expected = JSON.parse(await readFile(join(TELEMETRY, 'expected.json'), 'utf8'))
    const dir = join(await tempDir(), 'vault')
    await cp(join(TELEMETRY, 'vault'), dir, { recursive: true })
    const vault = await Vault.open({ dir })
    // readings are judged against the clock they were taken in (a reading older than the policy's age would be refused
    // today, which is the policy, not the format)
    const store = await TelemetryStore.open(vault, { now: () => expected.now })
    try {
      expect(store.walRejected).toBe(0)
      expect(store.forwarded).toBe(expected.forwardedSeq)
      expect(store.usage().unsealed).toBe(expected.pending.length) // acknowledged while locked, back from the WAL
      expect(
        store
          .batchMetas()
          .map((m) => m.device)
          .sort()
      ).toEqual([expected.device, expected.peer].sort())
      expect(await store.verifyAll()).toMatchObject({ batches: expected.batches, problems: [] })
      expect(await store.quarantine()).toHaveLength(expected.quarantined)
      const again = await store.ingest([
        JSON.stringify({
          id: expected.sealed[0],
          stream: expected.stream,
          ts: new Date(expected.now - 1000).toISOString(),
          schema: 1,
          values: { celsius: 1 }
        }),
        JSON.stringify({
          id: expected.pending[0],
          stream: expected.stream,
          ts: new Date(expected.now - 1000).toISOString(),
          schema: 1,
          values: { celsius: 1 }
        })
      ])
      expect(again.receipts.map((r) => [r.decision, r.reason])).toEqual([
        ['DUPLICATE', expect.stringMatching(/\(batch 1\)/)],
        ['DUPLICATE', expect.stringMatching(/not yet sealed/)]
      ])
      await vault.unlock(expected.passphrase)
      await store.flush()
      expect(store.head.seq).toBe(2)
      const keys = new Set([expected.device, expected.peer])
      for (const id of [expected.sealed[0], expected.pending.at(-1), expected.peerReadings[1]]) {
        expect(verifyReadingProof(await store.prove(expected.stream, id), expected.vaultId, keys).vault, id).toBe(
          expected.vaultId
        )
      }
    } finally {
      await store.close()
      await vault.close()
    }
  })

  it("formats - the Git mirror: today's code writes layout 2 (tlog tiles) byte for byte as pinned; a layout-1 mirror (pinned) reads back with nothing new, nothing quarantined, its anchor chain intact, and none of its files changed", async () => {
    const root = await tempDir()
    const server = await startGitServer(join(root, 'repos'))
    try {
      const copy = async (name: string) => {
        const d = join(root, name)
        await cp(join(FIXTURE, 'vault'), d, { recursive: true })
        return d
      }
      // written: the formats-v1 vault mirrored to an empty repository
      server.createRepo('written.git')
      const a = await Vault.open({ dir: await copy('a') })
      await a.unlock(PASS)
      const first = await syncGit(a, { url: server.url('written.git'), token: GIT_TOKEN })
      await a.close()
      expect(await treeOf(join(root, 'a', 'git-mirror'))).toEqual(await treeOf(join(MIRROR_V2, 'tree')))
      const laidOut = JSON.parse(await readFile(join(MIRROR_V2, 'expected.json'), 'utf8'))
      expect(first).toMatchObject({ written: laidOut.written, anchored: laidOut.anchored, problems: [] })
      // read: a repository holding the pinned layout-1 files, synced by another copy of the vault
      const bare = server.createRepo('pinned.git')
      const work = join(root, 'seed')
      await cp(join(MIRROR, 'tree'), work, { recursive: true })
      for (const args of [
        ['init', '-q', '-b', 'main'],
        ['add', '-A'],
        ['-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'pinned'],
        ['push', '-q', bare, 'main']
      ])
        execFileSync('git', ['-C', work, ...args])
      const b = await Vault.open({ dir: await copy('b') })
      await b.unlock(PASS)
      const round = await syncGit(b, { url: server.url('pinned.git'), token: GIT_TOKEN })
      const again = await syncGit(b, { url: server.url('pinned.git'), token: GIT_TOKEN })
      await b.close()
      const mirrored = JSON.parse(await readFile(join(MIRROR, 'expected.json'), 'utf8'))
      expect(round).toMatchObject({ read: mirrored.written, admitted: 0, quarantined: 0, anchored: 0, problems: [] })
      // layout 2 is laid out beside it; layout 1 is never read twice nor changed
      expect(round.written).toBe(laidOut.written)
      expect(again).toMatchObject({ read: 0, written: 0, pushed: false, problems: [] })
      execFileSync('git', ['-C', work, 'pull', '-q', bare, 'main'])
      const now = await treeOf(work)
      for (const [file, hash] of Object.entries(await treeOf(join(MIRROR, 'tree')))) expect(now[file], file).toBe(hash)
    } finally {
      await server.stop()
    }
  })
})

/** Every file under `dir` (without .git) and its bytes' hash. */
async function treeOf(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = Object.create(null)
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(join(dir, rel), { withFileTypes: true })) {
      if (e.name === '.git') continue
      if (e.isDirectory()) await walk(join(rel, e.name))
      else out[join(rel, e.name)] = sha256Hex(await readFile(join(dir, rel, e.name)))
    }
  }
  await walk('')
  return out
}
