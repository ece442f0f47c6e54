/**
 * Per-event checks that need nothing but the bytes and the vault id: limits,
 * canonical form, envelope shape, vault binding and the strict signature.
 * Pure and synchronous, so it runs the same inline or in a worker thread.
 */
import { checkVault, decodeUnverified, verifyEventSignature } from './envelope.js'
import { sha256Hex } from './bytes.js'
import { VaultError } from './errors.js'

export type EventCheck =
  | { ok: true; id: string; author: string; seq: number; prev: string | null; type: string; ts: string }
  | { ok: false; id: string; code: string; message: string }

export function checkRaw(raw: unknown, vault: string): EventCheck {
  if (typeof raw !== 'string') return { ok: false, id: '', code: 'MALFORMED', message: 'stored event has no raw bytes' }
  try {
    const decoded = decodeUnverified(raw)
    checkVault(decoded, vault)
    verifyEventSignature(decoded.event, undefined, decoded.raw)
    const { author, seq, prev, type, ts } = decoded.event
    return { ok: true, id: decoded.id, author, seq, prev, type, ts }
  } catch (err) {
    const code = err instanceof VaultError ? err.code : 'MALFORMED'
    return { ok: false, id: raw.length <= 1 << 20 ? sha256Hex(raw) : '', code, message: (err as Error).message }
  }
}

export function checkRaws(raws: unknown[], vault: string): EventCheck[] {
  return raws.map((raw) => checkRaw(raw, vault))
}
