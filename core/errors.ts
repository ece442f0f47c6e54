/**
 * One error class for the whole core. Every failure has a stable string `code`
 * that hosts, the CLI and tests switch on; `message` is for people.
 */
export class VaultError extends Error {
  readonly code: VaultErrorCode
  readonly detail?: unknown

  constructor(code: VaultErrorCode, message: string, detail?: unknown) {
    super(message)
    this.name = 'VaultError'
    this.code = code
    if (detail !== undefined) this.detail = detail
  }
}

export type VaultErrorCode =
  | 'BAD_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'OVERSIZED'
  | 'TOO_DEEP'
  | 'MALFORMED'
  | 'NON_CANONICAL'
  | 'BAD_SIGNATURE'
  | 'WEAK_KEY'
  | 'WRONG_VAULT'
  | 'KEY_AUTH_FAILED'
  | 'KDF_OUT_OF_BOUNDS'
  | 'READ_ONLY'
  | 'LOCKED'
  | 'VERIFY_FAILED'
  | 'NOT_A_MEMBER'
  | 'UNKNOWN_METHOD'
  | 'INTERNAL'
  | 'MISPLACED'
  | 'DISABLED'
  | 'BACKPRESSURE'
  | 'TAMPERED'
  | 'STORAGE_DAMAGED'
  | 'IN_USE'
  | 'STORAGE_FULL'
  | 'NOT_ALLOWED'
  | 'REMOTE_REFUSED'
  | 'UNREACHABLE'
  | 'UNAUTHORIZED'

const make = (code: VaultErrorCode) => (message: string, detail?: unknown) => new VaultError(code, message, detail)

export const BAD_ARGUMENT = make('BAD_ARGUMENT')
export const NOT_FOUND = make('NOT_FOUND')
export const ALREADY_EXISTS = make('ALREADY_EXISTS')
export const OVERSIZED = make('OVERSIZED')
export const TOO_DEEP = make('TOO_DEEP')
export const MALFORMED = make('MALFORMED')
export const NON_CANONICAL = make('NON_CANONICAL')
export const BAD_SIGNATURE = make('BAD_SIGNATURE')
export const WEAK_KEY = make('WEAK_KEY')
export const WRONG_VAULT = make('WRONG_VAULT')
export const KEY_AUTH_FAILED = make('KEY_AUTH_FAILED')
export const KDF_OUT_OF_BOUNDS = make('KDF_OUT_OF_BOUNDS')
export const READ_ONLY = make('READ_ONLY')
export const LOCKED = make('LOCKED')
export const VERIFY_FAILED = make('VERIFY_FAILED')
export const NOT_A_MEMBER = make('NOT_A_MEMBER')
export const UNKNOWN_METHOD = make('UNKNOWN_METHOD')
/** A module whose feature flag is off. */
export const DISABLED = make('DISABLED')
/** A bounded resource (the telemetry disk budget) is full: retry later, nothing was taken. */
export const BACKPRESSURE = make('BACKPRESSURE')

/** A database file is missing, unreadable or corrupt: the vault is READ-ONLY; nothing was changed. */
export const STORAGE_DAMAGED = make('STORAGE_DAMAGED')
/** Another process has the vault open. */
export const IN_USE = make('IN_USE')
/** The disk is full: nothing was written; retry once space is free. */
export const STORAGE_FULL = make('STORAGE_FULL')
/** Governance refuses the act (your own proposal, a quorum not met, after expiry…): well-formed, not allowed now. */
export const NOT_ALLOWED = make('NOT_ALLOWED')
/** A server or mirror refused what was sent (a push, a write): nothing of it was applied there. */
export const REMOTE_REFUSED = make('REMOTE_REFUSED')
/** A server or mirror could not be reached (refused connection, unknown host, timeout): nothing was exchanged. */
export const UNREACHABLE = make('UNREACHABLE')
/** A call without a valid access token (the HTTP host's, the ingest token). */
export const UNAUTHORIZED = make('UNAUTHORIZED')
export const INTERNAL = make('INTERNAL')
export const TAMPERED = make('TAMPERED')
export const MISPLACED = make('MISPLACED')

/**
 * The CLI's exit status for each code, in one place (the README's table is
 * this one; a test holds them equal): 2 the command was asked wrongly, 3 the
 * vault does not verify, is READ-ONLY or its storage is damaged, 1 anything
 * else — refused, not found, in use, a server's answer.
 */
/**
 * A command's outcome that is no error: it took its input, but refused part of it, keeping what it refused with
 * the reasons (quarantined lines or documents, pushes a server refused, a server that rolled back). Not 3: the
 * vault itself verifies.
 */
export const EXIT_PARTLY_REFUSED = 4

export const EXIT_STATUS: Readonly<Record<VaultErrorCode, 1 | 2 | 3>> = Object.freeze({
  BAD_ARGUMENT: 2,
  UNKNOWN_METHOD: 2,
  READ_ONLY: 3,
  VERIFY_FAILED: 3,
  STORAGE_DAMAGED: 3,
  TAMPERED: 3,
  MISPLACED: 3,
  BAD_SIGNATURE: 3,
  NON_CANONICAL: 3,
  WRONG_VAULT: 3,
  NOT_FOUND: 1,
  ALREADY_EXISTS: 1,
  OVERSIZED: 1,
  TOO_DEEP: 1,
  MALFORMED: 1,
  WEAK_KEY: 1,
  KEY_AUTH_FAILED: 1,
  KDF_OUT_OF_BOUNDS: 1,
  LOCKED: 1,
  NOT_A_MEMBER: 1,
  INTERNAL: 1,
  DISABLED: 1,
  BACKPRESSURE: 1,
  IN_USE: 1,
  STORAGE_FULL: 1,
  NOT_ALLOWED: 1,
  REMOTE_REFUSED: 1,
  UNREACHABLE: 1,
  UNAUTHORIZED: 1
})

export function exitStatus(err: unknown): 1 | 2 | 3 {
  return err instanceof VaultError ? (EXIT_STATUS[err.code] ?? 1) : 1
}

/** The shape an error takes when it crosses a process boundary (IPC, HTTP). */
export interface WireError {
  type: 'VaultError'
  code: VaultErrorCode
  message: string
}

/** Flatten any thrown value; unknown errors become INTERNAL without leaking their stack. */
export function toWireError(err: unknown): WireError {
  if (err instanceof VaultError) return { type: 'VaultError', code: err.code, message: err.message }
  const message = err instanceof Error ? err.message : String(err)
  return { type: 'VaultError', code: 'INTERNAL', message }
}

/** Rebuild a VaultError on the receiving side of a boundary. */
export function fromWireError(wire: WireError): VaultError {
  return new VaultError(wire.code, wire.message)
}

export function isWireError(value: unknown): value is WireError {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as WireError).type === 'VaultError' &&
    typeof (value as WireError).code === 'string' &&
    typeof (value as WireError).message === 'string'
  )
}
