/**
 * Yesterday's bytes still read. `test/fixtures/formats-v1/` holds what the
 * code wrote on disk and in files when these formats were pinned (see
 * `test/fixtures/formats-v1.ts`); today's code must open, verify and use them.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { cp, readFile } from 'node:fs/promises'
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
import { cleanupDirs, codeOf, tempDir } from './helpers.js'

const FIXTURE = fileURLToPath(new URL('./fixtures/formats-v1/', import.meta.url))
const read = (f: string) => readFile(join(FIXTURE, f), 'utf8')

describe('formats v1', () => {
  afterAll(cleanupDirs)

  it('formats - a v1 vault folder (LevelDB files, key, config, verified point, genesis copy, journal) opens, replays its journal, verifies whole and signs on', async () => {
    const expected = JSON.parse(await read('expected.json'))
    const dir = join(await tempDir(), 'vault')
    await cp(join(FIXTURE, 'vault'), dir, { recursive: true }) // a copy: the pinned files stay as written
    expect(await Vault.readConfig(dir)).toMatchObject({ vaultId: expected.vaultId, device: expected.device })
    expect(checkPoint(await loadPoint(dir), expected.vaultId, expected.device)).not.toBeNull() // the signed verified point
    expect(decodeEvent((await readFile(join(dir, 'genesis.event'), 'utf8')).trim(), null).id).toBe(expected.vaultId)
    const vault = await Vault.open({ dir })
    try {
      expect(vault.health.state).toBe('ok')
      const heads = vault.heads()
      expect(Object.values(heads).reduce((n, f) => n + f.length, 0)).toBe(expected.events) // the two journal-only appends are back
      expect(heads[expected.device]!.head).toBe(expected.pending.at(-1))
      expect(stateHash(vault.state)).toBe(expected.stateHash)
      expect((await vault.verify({ full: true })).ok).toBe(true)
      await vault.unlock(expected.passphrase)
      expect((await vault.append('audit.note', { text: 'read by today\'s code' })).event.seq).toBe(heads[expected.device]!.length + 1)
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
})
