/**
 * The dual-authorization steps — prepare (propose), approve or reject,
 * withdraw, commit — over a narrow view of the vault: its governed state and
 * its governance signer, which signs an event only if the fold would count it
 * (and otherwise throws the fold's reason). Each step checks its arguments
 * before anything is signed and returns the proposal as it stands after.
 */
import type { DecodedEvent } from '../envelope.js'
import type { Json } from '../canonical.js'
import { BAD_ARGUMENT, NOT_FOUND } from '../errors.js'
import { own } from '../dict.js'
import { checkAction, type Action } from './actions.js'
import type { GovState, ProposalState } from './state.js'

/** How long a proposal stays open unless it says otherwise. */
export const DEFAULT_EXPIRY_MS = 7 * 24 * 3600 * 1000

/** What the steps use of the vault. */
export interface GovernanceSigner {
  readonly state: GovState
  /** Sign and append a governance event if the fold would count it; else throw the fold's reason (NOT_ALLOWED). */
  appendGovernance(type: string, payload: Record<string, Json>, now?: Date): Promise<DecodedEvent>
}

/** Find a proposal by id or unique id prefix (8+ hex characters). */
export function findProposal(state: GovState, ref: string): ProposalState {
  if (typeof ref !== 'string' || !/^[0-9a-f]{8,64}$/.test(ref))
    throw BAD_ARGUMENT('a proposal is named by its id (8 or more hex characters)')
  const exact = own(state.proposals, ref)
  if (exact) return exact
  const hits = Object.values(state.proposals).filter((p) => p.id.startsWith(ref))
  if (hits.length === 0) throw NOT_FOUND(`no proposal ${ref}`)
  if (hits.length > 1) throw BAD_ARGUMENT(`${ref} names ${hits.length} proposals; give more of the id`)
  return hits[0]!
}

/** Prepare: propose an action. Checked against the current state before it is signed. */
export async function propose(
  v: GovernanceSigner,
  action: Action,
  reason: string,
  expiresAt?: string,
  now?: Date
): Promise<ProposalState> {
  if (typeof reason !== 'string' || reason.trim() === '' || reason.length > 1000)
    throw BAD_ARGUMENT('a reason (1-1000 characters) is required')
  const checked = checkAction(v.state, action)
  const at = now ?? new Date()
  const expiry = expiresAt ?? new Date(at.getTime() + DEFAULT_EXPIRY_MS).toISOString()
  const d = await v.appendGovernance(
    'gov.propose',
    { action: checked as unknown as Json, reason, expiresAt: expiry },
    at
  )
  return own(v.state.proposals, d.id)!
}

/** Sign `type` about the proposal `ref` names, and return it as it stands after. */
async function step(
  v: GovernanceSigner,
  ref: string,
  type: string,
  extra: (p: ProposalState) => Record<string, Json>,
  now?: Date
): Promise<ProposalState> {
  const p = findProposal(v.state, ref)
  await v.appendGovernance(type, { proposal: p.id, ...extra(p) }, now)
  return own(v.state.proposals, p.id)!
}

export function approve(v: GovernanceSigner, ref: string, now?: Date): Promise<ProposalState> {
  return step(v, ref, 'gov.approve', () => ({}), now)
}

export function reject(v: GovernanceSigner, ref: string, reason: string, now?: Date): Promise<ProposalState> {
  if (typeof reason !== 'string' || reason.trim() === '') throw BAD_ARGUMENT('a rejection needs a reason')
  return step(v, ref, 'gov.reject', () => ({ reason }), now)
}

export function withdraw(v: GovernanceSigner, ref: string, now?: Date): Promise<ProposalState> {
  return step(v, ref, 'gov.withdraw', () => ({}), now)
}

/** Commit once the quorum is met; any member may. Lists the approvals it relies on. */
export function commit(v: GovernanceSigner, ref: string, now?: Date): Promise<ProposalState> {
  return step(v, ref, 'gov.commit', (p) => ({ approvals: p.approvals.map((a) => a.id) }), now)
}
