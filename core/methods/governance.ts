/** Governance: state, the inbox, proposals and their signatures, the ledger register. */
import type { Vault } from '../vault.js'
import { approve, commit, findProposal, propose, reject, withdraw, type GovernanceSigner } from '../governance/calls.js'
import type { GovState, ProposalState } from '../governance/state.js'
import { stateHash } from '../governance/state.js'
import type { Action } from '../governance/actions.js'
import { missingApprovals, rulesFor } from '../governance/policy.js'
import { ledgerBalances, type LedgerEntry } from '../governance/registers.js'
import { obj, optString, reads, signs, type Domain } from './meta.js'

/** A proposal as a reviewer sees it: what changes, who signed, what is still needed. */
export interface ProposalView extends ProposalState {
  /** Sentences saying what the quorum still lacks; empty when it can be committed. */
  missing: string[]
  /** Past its expiry by this device's clock (the fold decides by vault time). */
  expired: boolean
}

export interface GovernanceMethods {
  'gov.state': (args: Record<string, never>) => Promise<{ state: GovState; hash: string }>
  'gov.inbox': (args: Record<string, never>) => Promise<ProposalView[]>
  'gov.proposals': (args: { status?: ProposalState['status'] }) => Promise<ProposalView[]>
  'gov.show': (args: { proposal: string }) => Promise<ProposalView>
  'gov.propose': (args: { action: Action; reason: string; expiresAt?: string }) => Promise<ProposalView>
  'gov.approve': (args: { proposal: string }) => Promise<ProposalView>
  'gov.reject': (args: { proposal: string; reason: string }) => Promise<ProposalView>
  'gov.withdraw': (args: { proposal: string }) => Promise<ProposalView>
  'gov.commit': (args: { proposal: string }) => Promise<ProposalView>
  'ledger.balances': (
    args: Record<string, never>
  ) => Promise<{ entries: LedgerEntry[]; balances: Record<string, Record<string, number>> }>
}

/** What a proposal still needs under the current policy, and whether it is past expiry. */
export function viewProposal(state: GovState, p: ProposalState, now: Date = new Date()): ProposalView {
  const missing =
    p.status === 'open'
      ? missingApprovals(rulesFor(state.policy, p.action.kind, p.action.args), p.proposer, p.approvals)
      : []
  return { ...p, missing, expired: p.status === 'open' && now.toISOString() > p.expiresAt }
}

/** Open proposals this device's member can still sign: not their own, not yet approved by them, not expired. */
export function inboxOf(vault: Pick<Vault, 'member' | 'state'>, now: Date = new Date()): ProposalView[] {
  const me = vault.member?.name
  if (!me) return []
  return Object.values(vault.state.proposals)
    .filter((p) => p.status === 'open' && p.proposer !== me && !p.approvals.some((a) => a.member === me))
    .map((p) => viewProposal(vault.state, p, now))
    .filter((p) => !p.expired)
    .sort((a, b) => (a.createdAt < b.createdAt ? -1 : 1))
}

/** The governance domain's view of the vault: the folded state, who this device signs for, its governance signer. */
export type GovernanceVault = Pick<Vault, 'member'> & GovernanceSigner

export const governanceDomain: Domain<GovernanceMethods, GovernanceVault> = {
  meta: {
    'gov.state': reads,
    'gov.inbox': reads,
    'gov.proposals': reads,
    'gov.show': reads,
    'gov.propose': signs,
    'gov.approve': signs,
    'gov.reject': signs,
    'gov.withdraw': signs,
    'gov.commit': signs,
    'ledger.balances': reads
  },
  build: ({ vault }) => ({
    'gov.state': async () => ({ state: vault.state, hash: stateHash(vault.state) }),
    'gov.inbox': async () => inboxOf(vault),
    'gov.proposals': async (args) => {
      const status = optString(obj(args).status, 'status', 16)
      return Object.values(vault.state.proposals)
        .filter((p) => !status || p.status === status)
        .map((p) => viewProposal(vault.state, p))
    },
    'gov.show': async (args) => viewProposal(vault.state, findProposal(vault.state, String(obj(args).proposal ?? ''))),
    'gov.propose': async (args) => {
      const a = obj(args)
      const expiresAt = optString(a.expiresAt, 'expiresAt', 24)
      return viewProposal(vault.state, await propose(vault, a.action as Action, String(a.reason ?? ''), expiresAt))
    },
    'gov.approve': async (args) => viewProposal(vault.state, await approve(vault, String(obj(args).proposal ?? ''))),
    'gov.reject': async (args) => {
      const a = obj(args)
      return viewProposal(vault.state, await reject(vault, String(a.proposal ?? ''), String(a.reason ?? '')))
    },
    'gov.withdraw': async (args) => viewProposal(vault.state, await withdraw(vault, String(obj(args).proposal ?? ''))),
    'gov.commit': async (args) => viewProposal(vault.state, await commit(vault, String(obj(args).proposal ?? ''))),
    'ledger.balances': async () => {
      const entries = vault.state.registers.ledger as LedgerEntry[]
      return { entries, balances: ledgerBalances(entries) }
    }
  })
}
