/**
 * The verified point: what the last successful self-check established (feed
 * lengths and heads, PouchDB's update sequence), signed by this device's key
 * under its own domain tag so it cannot be moved forward without the key.
 * An incremental start trusts it only after checking that signature.
 */
import { canonicalize, type Json } from './canonical.js'
import { concatBytes, fromHex, isHex, toHex, utf8 } from './bytes.js'
import { signDetached, verifyStrict } from './ed25519.js'
import type { FeedHead, ForkRecord, VerifyReport } from './verify-report.js'
import { join } from 'node:path'
import { readJsonFileIfExists, writeJsonFile } from './files.js'
import { DOMAIN_TAG } from './formats.js'

export const POINT_FILE = 'verified-point.json'
export const POINT_VERSION = 1

export interface VerifiedPoint {
  v: typeof POINT_VERSION
  vault: string
  device: string
  updateSeq: number
  feeds: Record<string, FeedHead>
  forks: ForkRecord[]
  /** Slots of the verified governance events: a normal start folds them without a scan. */
  gov: string[]
  at: string
  sig: string
}

type UnsignedPoint = Omit<VerifiedPoint, 'sig'>

function pointBytes(p: UnsignedPoint): Uint8Array {
  const { v, vault, device, updateSeq, feeds, forks, gov, at } = p
  return concatBytes(
    utf8(DOMAIN_TAG.verifiedPoint(vault)),
    utf8(canonicalize({ v, vault, device, updateSeq, feeds, forks, gov, at } as unknown as Json))
  )
}

export function signPoint(report: VerifyReport, vault: string, device: string, secretKey: Uint8Array): VerifiedPoint {
  const unsigned: UnsignedPoint = {
    v: POINT_VERSION,
    vault,
    device,
    updateSeq: report.updateSeq,
    feeds: report.feeds,
    forks: report.forks,
    gov: report.gov,
    at: report.verifiedAt
  }
  return { ...unsigned, sig: toHex(signDetached(secretKey, pointBytes(unsigned))) }
}

/** The point if it is well-formed, for this vault and device, and its signature verifies; else null. */
export function checkPoint(value: unknown, vault: string, device: string): VerifiedPoint | null {
  const p = value as VerifiedPoint
  if (typeof p !== 'object' || p === null || p.v !== POINT_VERSION || p.vault !== vault || p.device !== device)
    return null
  if (
    !Number.isSafeInteger(p.updateSeq) ||
    !isHex(p.sig, 64) ||
    typeof p.feeds !== 'object' ||
    !Array.isArray(p.forks) ||
    !Array.isArray(p.gov)
  )
    return null
  try {
    return verifyStrict(fromHex(device, 32)!, pointBytes(p), fromHex(p.sig, 64)!) ? p : null
  } catch {
    return null
  }
}

/**
 * The stored point, unchecked (callers run checkPoint). Lives beside the database, not in it, so replacing the database
 * with an older copy cannot roll it back too.
 */
export async function loadPoint(dir: string): Promise<unknown> {
  return readJsonFileIfExists(join(dir, POINT_FILE), 16 * 1024 * 1024, 8).catch(() => null)
}

export async function savePoint(dir: string, point: VerifiedPoint): Promise<void> {
  await writeJsonFile(join(dir, POINT_FILE), point)
}
