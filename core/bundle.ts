/**
 * Offline transfer: a bundle is a signed file of events another device lacks
 * (a USB stick between an air-gapped laptop and the rest). Format v1:
 * `{format, v, vault, signer, created, events: [canonical signed event, …], sig}`
 * where `sig` covers `tresor/v1/bundle/<vault>\n` + the canonical JSON of
 * everything else. Importing verifies everything and applies all or nothing.
 */
import { canonicalize, parseBounded, type Json } from './canonical.js'
import { concatBytes, fromHex, isHex, toHex, utf8 } from './bytes.js'
import { signDetached, verifyStrict } from './ed25519.js'
import { decodeEvent, type DecodedEvent } from './envelope.js'
import { MALFORMED, VERIFY_FAILED, WRONG_VAULT } from './errors.js'
import { DOMAIN_TAG } from './formats.js'

export const BUNDLE_FORMAT = 'tresor-bundle'
export const BUNDLE_VERSION = 1
/** Largest bundle accepted, before parsing. */
export const MAX_BUNDLE_BYTES = 512 * 1024 * 1024

export interface Bundle {
  format: typeof BUNDLE_FORMAT
  v: typeof BUNDLE_VERSION
  vault: string
  signer: string
  created: string
  events: string[]
  sig: string
}

function bundleBytes(b: Omit<Bundle, 'sig'>): Uint8Array {
  const { format, v, vault, signer, created, events } = b
  return concatBytes(
    utf8(DOMAIN_TAG.bundle(vault)),
    utf8(canonicalize({ format, v, vault, signer, created, events } as unknown as Json, 4))
  )
}

export function signBundle(
  vault: string,
  signer: string,
  secretKey: Uint8Array,
  events: string[],
  now: Date = new Date()
): Bundle {
  const body = { format: BUNDLE_FORMAT, v: BUNDLE_VERSION, vault, signer, created: now.toISOString(), events } as const
  return { ...body, sig: toHex(signDetached(secretKey, bundleBytes(body))) }
}

/**
 * Parse a bundle file and check everything that needs no vault state: size,
 * shape, vault, the bundle signature, and each event's bytes and signature.
 * Throws MALFORMED, WRONG_VAULT or VERIFY_FAILED naming the first problem.
 */
export function openBundle(text: string, expectedVault: string | null): { bundle: Bundle; events: DecodedEvent[] } {
  const b = parseBounded(text, MAX_BUNDLE_BYTES, 4) as unknown as Bundle
  if (typeof b !== 'object' || b === null || b.format !== BUNDLE_FORMAT || b.v !== BUNDLE_VERSION)
    throw MALFORMED('not a Tresor v1 bundle')
  if (
    !isHex(b.vault, 32) ||
    !isHex(b.signer, 32) ||
    !isHex(b.sig, 64) ||
    typeof b.created !== 'string' ||
    !Array.isArray(b.events) ||
    !b.events.every((e) => typeof e === 'string')
  ) {
    throw MALFORMED('bundle lacks vault, signer, created, events or sig')
  }
  if (expectedVault !== null && b.vault !== expectedVault)
    throw WRONG_VAULT(`bundle is for vault ${b.vault.slice(0, 12)}…, not this one`)
  if (!verifyStrict(fromHex(b.signer, 32)!, bundleBytes(b), fromHex(b.sig, 64)!)) {
    throw VERIFY_FAILED('bundle signature does not verify: the file was altered or forged')
  }
  const events = b.events.map((raw, i) => {
    try {
      return decodeEvent(raw, b.vault)
    } catch (err) {
      throw VERIFY_FAILED(`bundle event ${i + 1} does not verify: ${(err as Error).message}`)
    }
  })
  return { bundle: b, events }
}
