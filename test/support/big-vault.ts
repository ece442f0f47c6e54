/**
 * Big vaults quickly: notes exactly like a vault's own appends, signed natively and stored in batches (for the UI test
 * and the bench).
 */
import { signEvent, type DecodedEvent } from '../../core/envelope.js'
import type { Vault } from '../../core/vault.js'

export function* signedNotes(
  vault: Vault,
  secretKey: Uint8Array,
  count: number,
  from: { length: number; head: string } = vault.heads()[vault.device]!
): Generator<DecodedEvent> {
  let { length, head } = from
  for (let i = 0; i < count; i++) {
    const d = signEvent(
      {
        v: 2,
        vault: vault.vaultId,
        author: vault.device,
        seq: length + 1,
        prev: head,
        ts: new Date(1_780_000_000_000 + i).toISOString(),
        type: 'audit.note',
        payload: { text: `reading ${i}`, n: i },
        deps: []
      },
      secretKey
    )
    length++
    head = d.id
    yield d
  }
}

/** Append `count` notes straight into the store (the vault is verified afterwards by whoever opens it). */
export async function fillWithNotes(vault: Vault, secretKey: Uint8Array, count: number): Promise<void> {
  let batch: DecodedEvent[] = []
  for (const d of signedNotes(vault, secretKey, count)) {
    batch.push(d)
    if (batch.length === 1000) {
      await vault.store.putMany(batch)
      batch = []
    }
  }
  await vault.store.putMany(batch)
}
