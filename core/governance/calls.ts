/**
 * The dual-authorization steps — prepare (propose), approve or reject,
 * withdraw, commit — over a narrow view of the vault: its governed state and
 * its governance signer, which signs an event only if the fold would count it
 * (and otherwise throws the fold's reason). Each step checks its arguments
 * before anything is signed and returns the proposal as it stands after.
 *
 * Settings are checked against the vault's known settings (core/settings.ts)
 * here, not in the fold: a proposal that sets an unknown name or a value out
 * of range is refused before signing, and this device signs no approval or
 * commit for one already in the log (another device's, or an older
 * version's), so it can never take effect through an honest member. The fold
 * judges history as it always did, so yesterday's verdicts stand.
 */
import type { DecodedEvent } from '../envelope.js'
import type { Json } from '../canonical.js'
import { BAD_ARGUMENT, NOT_ALLOWED, NOT_FOUND } from '../errors.js'
import { settingProblem } from '../settings.js'
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
export function findProposal(state: GovState, given: string): ProposalState {
  if (typeof given !== 'string' || !/^[0-9a-fA-F]{8,64}$/.test(given.trim()))
    throw BAD_ARGUMENT(
      `a proposal is named by its id or its first 8 or more characters (0-9, a-f), not "${String(given).slice(0, 70)}"`
    )
  const ref = given.trim().toLowerCase()
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
  const problem = actionProblem(checked)
  if (problem) throw BAD_ARGUMENT(problem)
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

/** Why an action could never take effect (a setting unknown or out of range), or null. */
export function actionProblem(action: Action): string | null {
  if (action.kind !== 'vault.settings') return null
  for (const [name, value] of Object.entries(action.args.settings as { [name: string]: Json })) {
    const problem = settingProblem(name, value)
    if (problem) return problem
  }
  return null
}

/** An approval or commit of a proposal that could never take effect is not signed. */
function takesEffect(p: ProposalState, what: string): Record<string, Json> {
  const problem = actionProblem(p.action)
  if (problem) throw NOT_ALLOWED(`${what} refused: ${problem}; this proposal can never take effect: reject it`)
  return {}
}

export function approve(v: GovernanceSigner, ref: string, now?: Date): Promise<ProposalState> {
  return step(v, ref, 'gov.approve', (p) => takesEffect(p, 'approval'), now)
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
  return step(
    v,
    ref,
    'gov.commit',
    (p) => ({ ...takesEffect(p, 'commit'), approvals: p.approvals.map((a) => a.id) }),
    now
  )
}
