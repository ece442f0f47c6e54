/** Public surface of core for hosts (main/, edge/, sync/). */
export * from './errors.js'
export * from './api.js'
export * from './vault.js'
export type { VerifyReport, VerifyIssue, FeedHead, ForkRecord } from './verify.js'
export type { SignedEvent, DecodedEvent } from './envelope.js'
export * from './host.js'
