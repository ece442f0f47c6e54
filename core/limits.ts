/**
 * Hard limits checked before any parsing. They are part of the verification
 * policy: every device uses the same numbers, so devices never disagree.
 */
export const LIMITS = Object.freeze({
  /** Largest canonical event (envelope + payload + signature) in bytes. */
  maxEventBytes: 64 * 1024,
  /** Deepest nesting of arrays/objects anywhere in an event. */
  maxDepth: 16,
  /** Most entries in a v1 event's `seen` list. */
  maxSeenHeads: 64,
  /** Most citations in a v2 event's `deps`, however many feeds the vault has (Matrix allows 20 prev_events). */
  maxDeps: 16,
  /** Most approvals a commit may list (policies ask for at most 100 members). */
  maxApprovals: 100,
  /** How far ahead of this device's clock a governance event may be signed before a gate makes it wait. */
  maxFutureMs: 5 * 60_000,
  /** Longest event type name. */
  maxTypeLength: 64,
  /** Largest YAML audit export accepted by `verify --file` (bytes). */
  maxExportBytes: 2 * 1024 * 1024 * 1024
})
