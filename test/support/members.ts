/**
 * Real vault directories for governance tests: alice (operator), bob (chain,
 * operator, two devices), carol (auditor), joined from alice's genesis
 * bundle; and `forge`, which signs whatever an attacker holding one of those
 * device keys would sign, bypassing every check a vault makes before it signs.
 */
import { join } from 'node:path'
import { Vault, ensureDeviceKey } from '../../core/vault.js'
import { openKeyFile, readKeyFile, type DeviceKey } from '../../core/keys.js'
import { signEvent, type Cite, type DecodedEvent } from '../../core/envelope.js'
import { signBundle } from '../../core/bundle.js'
import { eventDocId } from '../../core/store.js'
import type { Json } from '../../core/canonical.js'
import { FAST_KDF, PASS, tempDir } from '../helpers.js'
import { exportBundle } from '../../core/bundle.js'

export interface ThreeMembers {
  root: string
  alice: Vault
  bob: Vault
  bob2: Vault
  carol: Vault
  all: Vault[]
}

export async function threeMembers(): Promise<ThreeMembers> {
  const root = await tempDir()
  const bobKey = await ensureDeviceKey(join(root, 'bob'), 'bob', PASS, FAST_KDF)
  const bob2Key = await ensureDeviceKey(join(root, 'bob2'), 'bob', PASS, FAST_KDF)
  const carolKey = await ensureDeviceKey(join(root, 'carol'), 'carol', PASS, FAST_KDF)
  const alice = await Vault.create({
    dir: join(root, 'alice'),
    vaultName: 'Ops',
    passphrase: PASS,
    memberName: 'alice',
    roles: ['operator'],
    kdf: FAST_KDF,
    members: [
      { name: 'bob', roles: ['chain', 'operator'], keys: [bobKey.publicKey, bob2Key.publicKey] },
      { name: 'carol', roles: ['auditor'], keys: [carolKey.publicKey] }
    ]
  })
  const genesisBundle = JSON.stringify(await exportBundle(alice))
  const join_ = (name: string) => Vault.join({ dir: join(root, name), bundle: genesisBundle, passphrase: PASS })
  const [bob, bob2, carol] = [await join_('bob'), await join_('bob2'), await join_('carol')]
  return { root, alice, bob, bob2, carol, all: [alice, bob, bob2, carol] }
}

/** The device key of a vault's directory, as a thief who copied the file and knows the passphrase holds it. */
export async function stolenKey(vault: Vault): Promise<DeviceKey> {
  return openKeyFile(await readKeyFile(join(vault.dir, 'device.key')), PASS)
}

/** A citation of an event a vault holds (its own latest governance event, say). */
export function citeOf(d: { id: string; event: { author: string; seq: number } }): Cite {
  return { author: d.event.author, seq: d.event.seq, id: d.id }
}

/** The latest governance event `vault` holds by `author`, as a citation (null if none). */
export function latestGov(vault: Vault, author: string): Cite | null {
  const mine = vault
    .governanceEvents()
    .filter((e) => e.event.author === author)
    .sort((a, b) => a.event.seq - b.event.seq)
  const last = mine.at(-1)
  return last ? citeOf(last) : null
}

/** Sign an event with a stolen key at `seq` after `prev` (by default the next slot of the feed `vault` holds). */
export function forge(
  vault: Vault,
  key: DeviceKey,
  type: string,
  payload: Record<string, Json>,
  opts: { deps?: Cite[]; seq?: number; prev?: string; ts?: string; v1Seen?: Cite[] } = {}
): DecodedEvent {
  const head = vault.heads()[key.publicKey] ?? { length: 0, head: vault.vaultId }
  const seq = opts.seq ?? head.length + 1
  const prev = opts.prev ?? (seq === 1 ? vault.vaultId : head.head)
  const ts = opts.ts ?? new Date().toISOString()
  const deps = [...(opts.deps ?? [])].sort((a, b) =>
    a.author < b.author ? -1 : a.author > b.author ? 1 : a.seq - b.seq
  )
  return opts.v1Seen
    ? signEvent(
        { v: 1, vault: vault.vaultId, author: key.publicKey, seq, prev, ts, type, payload, seen: opts.v1Seen },
        key.keyPair.secretKey
      )
    : signEvent(
        { v: 2, vault: vault.vaultId, author: key.publicKey, seq, prev, ts, type, payload, deps },
        key.keyPair.secretKey
      )
}

/** A bundle of forged events signed by the stolen key, as a file on a USB stick. */
export function forgedBundle(vault: Vault, key: DeviceKey, events: DecodedEvent[]): string {
  return JSON.stringify(
    signBundle(
      vault.vaultId,
      key.publicKey,
      key.keyPair.secretKey,
      events.map((e) => e.raw)
    )
  )
}

/** Incoming documents for `vault.ingest` (the sync path: verdict per event, nothing all-or-nothing). */
export function docsOf(events: DecodedEvent[]): { docId: string; raw: string }[] {
  return events.map((d) => ({ docId: eventDocId(d.event.author, d.event.seq), raw: d.raw }))
}
