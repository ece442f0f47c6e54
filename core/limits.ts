/**
 * Hard limits checked before any parsing. They are part of the verification
 * policy: every device uses the same numbers, so devices never disagree.
 */
export const LIMITS = Object.freeze({
  /** Largest canonical event (envelope + payload + signature) in bytes. */
  maxEventBytes: 64 * 1024,
  /** Deepest nesting of arrays/objects anywhere in an event. */
  maxDepth: 16,
  /** Most entries in an event's `seen` list. */
  maxSeenHeads: 64,
  /** Longest event type name. */
  maxTypeLength: 64,
  /** Largest YAML audit export accepted by `verify --file` (bytes). */
  maxExportBytes: 2 * 1024 * 1024 * 1024
})
