/**
 * The governance half of verification, shared by the vault's self-check and
 * the standalone export check: fold the verified governance events, then
 * report invalid commits, a bad genesis, and feeds by keys that were never
 * keys of the vault.
 */
import type { VerifyIssue } from '../verify.js'
import { eventDocId } from '../store.js'
import { GovFold, type FoldContext, type GovEvent } from './fold.js'
import { everKeys, type GovState } from './state.js'
import { EVENT_PREFIX } from '../formats.js'

export function auditGovernance(
  vaultId: string,
  events: GovEvent[],
  feedAuthors: string[],
  ctx: FoldContext = {}
): { state: GovState; fold: GovFold; issues: VerifyIssue[] } {
  const fold = GovFold.build(vaultId, events, [], ctx)
  const state = fold.state
  const byId = new Map(events.map((e) => [e.id, e]))
  const issues: VerifyIssue[] = state.issues.map((i) => {
    const e = byId.get(i.id)
    return { code: i.code, docId: e ? eventDocId(e.event.author, e.event.seq) : '', eventId: i.id, message: i.message }
  })
  const known = everKeys(state)
  for (const author of feedAuthors) {
    if (!known.has(author))
      issues.push({
        code: 'UNKNOWN_AUTHOR',
        docId: `${EVENT_PREFIX}${author}`,
        author,
        message: 'a feed whose key was never a key of this vault'
      })
  }
  return { state, fold, issues }
}
