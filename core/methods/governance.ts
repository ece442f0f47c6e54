/** Governance: state, the inbox, proposals and their signatures, the ledger register. */
import type { Vault } from '../vault.js'
import { approve, commit, findProposal, propose, reject, withdraw, type GovernanceSigner } from '../governance/calls.js'
import type { GovState, MemberState, ProposalState } from '../governance/state.js'
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
  /** Members whose approval would count and who have not signed it yet, by name (open proposals). */
  canApprove: string[]
}

/** Everything that needs this device's member, in three groups. */
export interface Inbox {
  /** Open proposals of others that I can still approve or reject. */
  toSign: ProposalView[]
  /** Quorum met, not expired: any member may commit (I may be the one to). */
  toCommit: ProposalView[]
  /** My proposals still short of quorum, with who can still approve them (`canApprove`). */
  waiting: ProposalView[]
}

export interface GovernanceMethods {
  'gov.state': (args: Record<string, never>) => Promise<{ state: GovState; hash: string }>
  'gov.inbox': (args: Record<string, never>) => Promise<Inbox>
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
  const open = p.status === 'open'
  const rules = rulesFor(state.policy, p.action.kind, p.action.args)
  const missing = open ? missingApprovals(rules, p.proposer, p.approvals) : []
  const signed = new Set([...p.approvals.map((a) => a.member), ...p.rejections.map((r) => r.member)])
  // Whose approval would count: it changes what the quorum still lacks.
  const counts = (m: MemberState) =>
    m.name !== p.proposer &&
    missingApprovals(rules, p.proposer, [...p.approvals, { member: m.name, roles: m.roles }]).join('\n') !==
      missing.join('\n')
  const canApprove =
    open && missing.length > 0
      ? Object.values(state.members)
          .filter((m) => m.active && m.keys.length > 0 && !signed.has(m.name) && counts(m))
          .map((m) => m.name)
          .sort()
      : []
  return { ...p, missing, canApprove, expired: open && now.toISOString() > p.expiresAt }
}

/** What needs this device's member: proposals to sign, proposals ready to commit, their own still waiting. */
export function inboxOf(vault: Pick<Vault, 'member' | 'state'>, now: Date = new Date()): Inbox {
  const inbox: Inbox = { toSign: [], toCommit: [], waiting: [] }
  const me = vault.member?.name
  if (!me) return inbox
  const open = Object.values(vault.state.proposals)
    .filter((p) => p.status === 'open')
    .map((p) => viewProposal(vault.state, p, now))
    .filter((p) => !p.expired)
    .sort((a, b) => (a.createdAt < b.createdAt ? -1 : 1))
  for (const p of open) {
    if (p.missing.length === 0) inbox.toCommit.push(p)
    else if (p.proposer === me) inbox.waiting.push(p)
    else if (p.canApprove.includes(me)) inbox.toSign.push(p)
  }
  return inbox
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
