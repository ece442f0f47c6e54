/**
 * A two-member vault with telemetry switched on by real governance: alice
 * proposes, bob approves on his own vault directory, the bundles carry it
 * back and forth, alice commits. Stream schemas and telemetry settings are
 * committed the same way.
 */
import { join } from 'node:path'
import { Vault, ensureDeviceKey } from '../../core/vault.js'
import type { Action } from '../../core/governance/actions.js'
import type { Json } from '../../core/canonical.js'
import { carry, FAST_KDF, PASS, tempDir } from '../helpers.js'
import { approve, commit, propose } from '../../core/governance/calls.js'
import { exportBundle } from '../../core/bundle.js'

export const BOILER = {
  stream: 'boiler.temp',
  version: 1,
  fields: { celsius: 'number', pressure: 'number?', note: 'string?' }
}

export interface StreamingVaults {
  root: string
  alice: Vault
  bob: Vault
  govern: (action: Action) => Promise<void>
}

export async function streamingVaults(
  opts: { settings?: Record<string, Json>; streams?: Record<string, Json>[]; enable?: boolean } = {}
): Promise<StreamingVaults> {
  const root = await tempDir('tresor-tele-')
  const bobKey = await ensureDeviceKey(join(root, 'bob'), 'bob', PASS, FAST_KDF)
  const alice = await Vault.create({
    dir: join(root, 'alice'),
    vaultName: 'Edge',
    passphrase: PASS,
    memberName: 'alice',
    roles: ['operator'],
    kdf: FAST_KDF,
    members: [{ name: 'bob', roles: ['operator'], keys: [bobKey.publicKey] }]
  })
  const bob = await Vault.join({
    dir: join(root, 'bob'),
    bundle: JSON.stringify(await exportBundle(alice)),
    passphrase: PASS
  })
  const govern = async (action: Action) => {
    const p = await propose(alice, action, 'telemetry test setup')
    await carry(alice, bob)
    await approve(bob, p.id)
    await carry(bob, alice)
    await commit(alice, p.id)
    await carry(alice, bob)
  }
  if (opts.enable !== false) await govern({ kind: 'flag.set', args: { flag: 'streaming_enabled', value: true } })
  for (const entry of opts.streams ?? (opts.enable === false ? [] : [BOILER]))
    await govern({ kind: 'register.append', args: { register: 'streams', entry } })
  if (opts.settings) await govern({ kind: 'vault.settings', args: { settings: opts.settings } })
  return { root, alice, bob, govern }
}

/** NDJSON lines of `n` boiler readings with ids `${prefix}-i`, one second apart ending now. */
export function boilerLines(n: number, prefix = 'r', nowMs = Date.now()): string[] {
  return Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      id: `${prefix}-${i}`,
      stream: 'boiler.temp',
      ts: new Date(nowMs - (n - i) * 1000).toISOString(),
      schema: 1,
      values: { celsius: 60 + (i % 20) }
    })
  )
}
