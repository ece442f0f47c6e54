/** What a self-check reports: the shapes the verifier, the verified point and every host share. */

export type IssueCode =
  | 'MALFORMED'
  | 'NON_CANONICAL'
  | 'OVERSIZED'
  | 'TOO_DEEP'
  | 'BAD_SIGNATURE'
  | 'WEAK_KEY'
  | 'WRONG_VAULT'
  | 'MISPLACED'
  | 'INDEX_MISMATCH'
  | 'REWRITTEN'
  | 'DELETED'
  | 'GAP'
  | 'BROKEN_LINK'
  | 'UNKNOWN_AUTHOR'
  | 'TRUNCATED'
  | 'NO_GENESIS'
  | 'STRAY_DOC'
  | 'BAD_FORK_EVIDENCE'
  | 'INVALID_COMMIT'
  | 'BAD_GENESIS'
  | 'CHECKPOINT_MISMATCH'

export interface VerifyIssue {
  code: IssueCode
  docId: string
  author?: string
  seq?: number
  eventId?: string
  message: string
}
export interface FeedHead {
  length: number
  head: string
}
export interface ForkRecord {
  author: string
  seq: number
  ids: string[]
}

export interface VerifyReport {
  ok: boolean
  mode: 'full' | 'incremental'
  /** Events whose bytes and signature were checked in this run. */
  checked: number
  /** Verified events in the log (trusted feed lengths summed). */
  total: number
  feeds: Record<string, FeedHead>
  forks: ForkRecord[]
  issues: VerifyIssue[]
  /** Doc ids of the verified governance events (genesis, proposals, approvals, …), sorted. */
  gov: string[]
  updateSeq: number
  durationMs: number
  verifiedAt: string
}
