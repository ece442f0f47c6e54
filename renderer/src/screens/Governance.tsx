/** Governance: inbox, proposal detail (approve / reject / commit), flags and gates, members and keys, registers. */
import { own } from '../records.js'
import { useEffect, useRef, useState, type FormEvent } from 'react'
import { useShallow } from 'zustand/react/shallow'
import { DocumentChanges } from './Documents.js'
import type { Action, ProposalView } from '../../../core/index.js'
import { settingsAction, streamAction } from '../../../core/forms.js'
import { reviewAction } from '../../../core/review.js'
import { formatSetting, settingProblem, SETTINGS, settingValueOf } from '../../../core/settings.js'
import { useAppStore, type Job } from '../store.js'
import { selectJob, selectMe, selectReadOnly, selectSelectedProposal, selectUnlocked } from '../selectors.js'
import { Empty, JobLine, Key, Panel, Time } from '../ui.js'

/** What a governed action does, in words (core/review.ts, as the CLI says it). */
function useTitle(a: Action): string {
  const gov = useAppStore((s) => s.gov)
  return gov ? reviewAction(gov, a).title : a.kind
}

function ProposalRow({ p, note }: { p: ProposalView; note?: string }) {
  const openProposal = useAppStore((s) => s.openProposal)
  const title = useTitle(p.action)
  return (
    <li className="row-item">
      <button type="button" className="link" onClick={() => openProposal(p.id)}>
        {title}
      </button>
      <span className="muted">
        {' '}
        proposed by {p.proposer} · <Time iso={p.createdAt} /> ·{' '}
        <span className={`status status-${p.status}`}>{p.status}</span>
        {note ? ` · ${note}` : ''}
      </span>
    </li>
  )
}

function Group(props: {
  title: string
  items: ProposalView[]
  empty: string
  note: (p: ProposalView) => string
  testId: string
}) {
  const { title, items, empty, note, testId } = props
  return (
    <section aria-label={title}>
      <h3>
        {title} {items.length > 0 ? <span className="count">{items.length}</span> : null}
      </h3>
      {items.length === 0 ? (
        <p className="muted">{empty}</p>
      ) : (
        <ul className="list" data-testid={testId}>
          {items.map((p) => (
            <ProposalRow key={p.id} p={p} note={note(p)} />
          ))}
        </ul>
      )}
    </section>
  )
}

const waitingOn = (p: ProposalView) =>
  p.canApprove.length ? `waiting on ${p.canApprove.join(' or ')}` : p.missing.join('; ')

export function Inbox() {
  const { inbox, proposals } = useAppStore(useShallow((s) => ({ inbox: s.inbox, proposals: s.proposals })))
  const me = useAppStore(selectMe)
  const mine = new Set([...inbox.toSign, ...inbox.toCommit, ...inbox.waiting].map((p) => p.id))
  const open = proposals.filter((p) => p.status === 'open' && !mine.has(p.id))
  const closed = proposals
    .filter((p) => p.status !== 'open')
    .slice(-20)
    .reverse()
  const nothing = mine.size === 0
  return (
    <Panel id="inbox" title="Inbox">
      {nothing ? <Empty title={`Nothing needs ${me ? me.name : 'you'} right now.`} /> : null}
      <Group
        title={`Awaiting ${me ? `${me.name}'s` : 'your'} signature`}
        items={inbox.toSign}
        empty="Nothing awaits your signature."
        note={(p) =>
          p.canApprove.length > 1
            ? `your approval or ${p.canApprove.filter((n) => n !== me?.name).join(' or ')}'s`
            : 'needs your approval'
        }
        testId="inbox-list"
      />
      <Group
        title="Ready for you to commit"
        items={inbox.toCommit}
        empty="Nothing is ready to commit."
        note={() => 'quorum met'}
        testId="commit-list"
      />
      <Group
        title="Your proposals, waiting on others"
        items={inbox.waiting}
        empty="None of your proposals is waiting."
        note={waitingOn}
        testId="waiting-list"
      />
      <h3>Other open proposals</h3>
      {open.length === 0 ? (
        <p className="muted">None.</p>
      ) : (
        <ul className="list">
          {open.map((p) => (
            <ProposalRow key={p.id} p={p} note={p.expired ? 'expired' : waitingOn(p)} />
          ))}
        </ul>
      )}
      <h3>Decided</h3>
      {closed.length === 0 ? (
        <p className="muted">None yet.</p>
      ) : (
        <ul className="list">
          {closed.map((p) => (
            <ProposalRow key={p.id} p={p} />
          ))}
        </ul>
      )}
    </Panel>
  )
}

/** What a proposal changes, before → after, against the state as it is now. */
function Changes({ p }: { p: ProposalView }) {
  const gov = useAppStore((s) => s.gov)
  if (!gov) return null
  const review = reviewAction(gov, p.action)
  return (
    <table className="changes" data-testid="changes">
      <thead>
        <tr>
          <th scope="col">What</th>
          <th scope="col">Now</th>
          <th scope="col">After the commit</th>
        </tr>
      </thead>
      <tbody>
        {review.changes.map((c, i) => (
          <tr key={i}>
            <td>{c.what}</td>
            <td className="muted">{c.before}</td>
            <td>
              <strong>{c.after}</strong>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}

type Step = 'approve' | 'commit' | 'withdraw'
const STEP_TEXT: Record<Step, { noun: string; sign: string }> = {
  approve: { noun: 'approval', sign: 'an approval of' },
  commit: { noun: 'commit', sign: 'the commit of' },
  withdraw: { noun: 'withdrawal', sign: 'the withdrawal of' }
}

export function ProposalDetail() {
  const p = useAppStore(selectSelectedProposal)
  const me = useAppStore(selectMe)
  const unlocked = useAppStore(selectUnlocked)
  const readOnly = useAppStore(selectReadOnly)
  const { decide, go, openProposal } = useAppStore(
    useShallow((s) => ({ decide: s.decide, go: s.go, openProposal: s.openProposal }))
  )
  const job = useAppStore(selectJob('decide'))
  const [reason, setReason] = useState('')
  const [confirming, setConfirming] = useState<Step | null>(null)
  const gov = useAppStore((s) => s.gov)
  if (!p)
    return (
      <Panel id="proposal" title="Proposal">
        <Empty title="This proposal is not known here (yet).">
          <button type="button" onClick={() => go('inbox')}>
            Back to the inbox
          </button>
        </Empty>
      </Panel>
    )
  const mine = me?.name === p.proposer
  const signed = p.approvals.some((a) => a.member === me?.name)
  const canAct = unlocked && !readOnly && p.status === 'open' && !p.expired
  return (
    <Panel
      id="proposal"
      title="Proposal"
      actions={
        <button type="button" className="secondary" onClick={() => go('inbox')}>
          Back
        </button>
      }
    >
      <p className="lead">{gov ? reviewAction(gov, p.action).title : p.action.kind}</p>
      <Changes p={p} />
      <DocumentChanges p={p} />
      <dl className="facts">
        <dt>Status</dt>
        <dd data-testid="proposal-status" className={`status status-${p.status}`}>
          {p.status}
          {p.expired ? ' (expired)' : ''}
        </dd>
        {p.status === 'failed' && (
          <>
            <dt>Outcome</dt>
            <dd className="bad" data-testid="proposal-outcome">
              Committed, but it could not take effect: {p.failure}. Every device applies commits in one order (what each
              cites first, then by event id), so every device says the same.
            </dd>
          </>
        )}
        {p.supersededBy && (
          <>
            <dt>Outcome</dt>
            <dd data-testid="proposal-outcome">
              Its change was replaced by{' '}
              <button type="button" className="link" onClick={() => openProposal(p.supersededBy!)}>
                a later commit
              </button>{' '}
              of the same {p.action.kind === 'flag.set' ? 'flag' : 'setting'}: every device orders commits the same way
              (what each cites first, then by event id), and the later one&apos;s value stands.
            </dd>
          </>
        )}
        <dt>Reason</dt>
        <dd>{p.reason}</dd>
        <dt>Proposed by</dt>
        <dd>
          {p.proposer}, <Time iso={p.createdAt} />
        </dd>
        <dt>Signed by</dt>
        <dd>{[p.proposer, ...p.approvals.map((a) => a.member)].join(', ')}</dd>
        <dt>Still needed</dt>
        <dd>
          {p.status !== 'open' ? '—' : p.missing.length === 0 ? 'nothing: ready to commit' : p.missing.join('; ')}
        </dd>
        {p.status === 'open' && p.missing.length > 0 ? (
          <>
            <dt>Can still approve</dt>
            <dd data-testid="can-approve">
              {p.canApprove.length ? p.canApprove.join(', ') : 'no member who has not signed'}
            </dd>
          </>
        ) : null}
        <dt>Expires</dt>
        <dd>
          <Time iso={p.expiresAt} relative />
        </dd>
        <dt>Action as signed</dt>
        <dd>
          <details>
            <summary>Show the JSON</summary>
            <pre className="json">{JSON.stringify(p.action, null, 2)}</pre>
          </details>
        </dd>
        <dt>Id</dt>
        <dd>
          <code className="key">{p.id}</code>
        </dd>
      </dl>
      {p.status === 'open' && (
        <div className="decide">
          {!unlocked && <p className="muted">Unlock the device key (top right) to sign.</p>}
          {confirming ? (
            <div className="confirm" role="group" aria-label="Confirm what you sign" data-testid="confirm">
              <p>
                You sign {STEP_TEXT[confirming].sign} proposal <code className="key">{p.id}</code>:{' '}
                <strong>{gov ? reviewAction(gov, p.action).title : p.action.kind}</strong> (the changes above).
              </p>
              <div className="actions">
                <button
                  type="button"
                  disabled={!canAct || job.busy}
                  onClick={() => {
                    const step = confirming
                    setConfirming(null)
                    void decide(step, p.id)
                  }}
                >
                  Sign the {STEP_TEXT[confirming].noun}
                </button>
                <button type="button" className="secondary" onClick={() => setConfirming(null)}>
                  Cancel
                </button>
              </div>
            </div>
          ) : (
            <div className="actions">
              {!mine && !signed && p.missing.length > 0 && (
                <button type="button" disabled={!canAct || job.busy} onClick={() => setConfirming('approve')}>
                  Approve…
                </button>
              )}
              {p.missing.length === 0 && (
                <button type="button" disabled={!canAct || job.busy} onClick={() => setConfirming('commit')}>
                  Commit…
                </button>
              )}
              {mine && (
                <button
                  type="button"
                  className="secondary"
                  disabled={!canAct || job.busy}
                  onClick={() => setConfirming('withdraw')}
                >
                  Withdraw…
                </button>
              )}
            </div>
          )}
          {!mine && (
            <form
              className="inline-form"
              onSubmit={(e: FormEvent) => {
                e.preventDefault()
                void decide('reject', p.id, reason)
              }}
            >
              <label>
                Reason for rejecting{' '}
                <input value={reason} onChange={(e) => setReason(e.target.value)} required maxLength={1000} />
              </label>
              <button type="submit" className="danger" disabled={!canAct || job.busy}>
                Reject
              </button>
            </form>
          )}
        </div>
      )}
      <JobLine job={job} what="sign" busyText="Signing…" />
    </Panel>
  )
}

export function Flags() {
  const gov = useAppStore((s) => s.gov)
  const { propose, openProposal, proposals } = useAppStore(
    useShallow((s) => ({ propose: s.propose, openProposal: s.openProposal, proposals: s.proposals }))
  )
  const unlocked = useAppStore(selectUnlocked)
  const readOnly = useAppStore(selectReadOnly)
  const job = useAppStore(selectJob('propose'))
  const [draft, setDraft] = useState<{ flag: string; value: boolean; reason: string } | null>(null)
  if (!gov)
    return (
      <Panel id="flags" title="Flags and gates">
        <p className="muted">Loading…</p>
      </Panel>
    )
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    if (!draft) return
    const p = await propose({ kind: 'flag.set', args: { flag: draft.flag, value: draft.value } }, draft.reason)
    setDraft(null)
    if (p) openProposal(p.id)
  }
  return (
    <Panel id="flags" title="Flags and gates">
      <p className="muted">A flag changes only by a committed proposal that satisfies its gate and the flag rule.</p>
      <table>
        <thead>
          <tr>
            <th scope="col">Flag</th>
            <th scope="col">State</th>
            <th scope="col">Gate</th>
            <th scope="col">Needs</th>
            <th scope="col">
              <span className="sr-only">Action</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {Object.entries(gov.policy.flags).map(([flag, g]) => {
            const pending = proposals.find(
              (p) =>
                p.status === 'open' &&
                p.action.kind === 'flag.set' &&
                (p.action.args as { flag?: string }).flag === flag
            )
            return (
              <tr key={flag} data-testid={`flag-${flag}`}>
                <td>
                  <code>{flag}</code>
                </td>
                <td className={own(gov.flags, flag) ? 'good' : 'muted'}>{own(gov.flags, flag) ? 'on' : 'off'}</td>
                <td>{g.criterion}</td>
                <td>
                  {g.minMembers} members{g.clauses.map((c) => `, ${c.count} ${c.role}`).join('')}
                </td>
                <td>
                  {pending ? (
                    <button type="button" className="link" onClick={() => openProposal(pending.id)}>
                      proposal open
                    </button>
                  ) : (
                    <button
                      type="button"
                      disabled={!unlocked || readOnly}
                      aria-label={`Propose ${own(gov.flags, flag) ? 'off' : 'on'}: ${flag}`}
                      title={
                        !unlocked ? 'Unlock the device key to propose' : readOnly ? 'The vault is READ-ONLY' : undefined
                      }
                      onClick={() => setDraft({ flag, value: !own(gov.flags, flag), reason: '' })}
                    >
                      Propose {own(gov.flags, flag) ? 'off' : 'on'}
                    </button>
                  )}
                </td>
              </tr>
            )
          })}
        </tbody>
      </table>
      {draft && (
        <form className="form" onSubmit={(e) => void submit(e)} aria-label="New proposal">
          <h3>
            Propose: switch <code>{draft.flag}</code> {draft.value ? 'on' : 'off'}
          </h3>
          <label>
            Reason (what the gate's criterion rests on){' '}
            <input
              autoFocus
              required
              maxLength={1000}
              value={draft.reason}
              onChange={(e) => setDraft({ ...draft, reason: e.target.value })}
            />
          </label>
          <div className="actions">
            <button type="submit" disabled={job.busy}>
              Sign the proposal
            </button>
            <button type="button" className="secondary" onClick={() => setDraft(null)}>
              Cancel
            </button>
          </div>
        </form>
      )}
      <JobLine job={job} what="propose" busyText="Signing…" />
      <SettingProposal />
    </Panel>
  )
}

/** Propose a member or key change: the proposal then goes through the inbox like any other. */
function MemberProposal() {
  const gov = useAppStore((s) => s.gov)
  const { submit: sign, job, disabled, why } = useProposer('propose-member')
  const [f, setF] = useState({ kind: 'member.add', name: '', roles: 'operator', key: '', reason: '' })
  if (!gov) return null
  const names = Object.values(gov.members)
    .filter((m) => m.active)
    .map((m) => m.name)
  const roles = f.roles
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean)
  const action = (): Action => {
    switch (f.kind) {
      case 'member.add':
        return { kind: 'member.add', args: { name: f.name, roles, keys: [f.key.trim()] } }
      case 'member.remove':
        return { kind: 'member.remove', args: { name: f.name } }
      case 'member.roles':
        return { kind: 'member.roles', args: { name: f.name, roles } }
      case 'key.add':
        return { kind: 'key.add', args: { member: f.name, key: f.key.trim() } }
      default:
        return { kind: 'key.revoke', args: { member: f.name, key: f.key.trim() } }
    }
  }
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    await sign(action(), f.reason)
  }
  const needsKey = f.kind === 'member.add' || f.kind === 'key.add' || f.kind === 'key.revoke'
  const needsRoles = f.kind === 'member.add' || f.kind === 'member.roles'
  return (
    <form className="form" onSubmit={(e) => void submit(e)} aria-label="Propose a member or key change">
      <h3>Propose a change</h3>
      <label>
        Change{' '}
        <select name="change" value={f.kind} onChange={(e) => setF({ ...f, kind: e.target.value, name: '' })}>
          <option value="member.add">add a member</option>
          <option value="member.remove">remove a member</option>
          <option value="member.roles">change roles</option>
          <option value="key.add">add a device key</option>
          <option value="key.revoke">revoke a device key</option>
        </select>
      </label>
      {f.kind === 'member.add' ? (
        <label>
          New member's name{' '}
          <input required maxLength={64} value={f.name} onChange={(e) => setF({ ...f, name: e.target.value })} />
        </label>
      ) : (
        <label>
          Member{' '}
          <select name="member" required value={f.name} onChange={(e) => setF({ ...f, name: e.target.value })}>
            <option value="">choose…</option>
            {names.map((n) => (
              <option key={n}>{n}</option>
            ))}
          </select>
        </label>
      )}
      {needsRoles && (
        <label>
          Roles (comma-separated){' '}
          <input required value={f.roles} onChange={(e) => setF({ ...f, roles: e.target.value })} />
        </label>
      )}
      {needsKey && (
        <label>
          Device public key (64 hex characters, from <code>tresor keygen</code> or the new device's onboarding){' '}
          <input required pattern="[0-9a-f]{64}" value={f.key} onChange={(e) => setF({ ...f, key: e.target.value })} />
        </label>
      )}
      <ReasonAndSign
        reason={f.reason}
        setReason={(reason) => setF({ ...f, reason })}
        disabled={disabled}
        why={why}
        job={job}
      />
    </form>
  )
}

/** Sign a proposal from a form and open it; the form's fields stay on failure so nothing typed is lost. */
function useProposer(name: string) {
  const { propose, openProposal } = useAppStore(
    useShallow((s) => ({ propose: s.propose, openProposal: s.openProposal }))
  )
  const unlocked = useAppStore(selectUnlocked)
  const readOnly = useAppStore(selectReadOnly)
  const job = useAppStore(selectJob(name))
  /**
   * `action` may be a function: what the form's text makes of it is checked (and any mistake shown) as part of the job.
   */
  const submit = async (action: Action | (() => Action), reason: string) => {
    const p = await propose(action, reason, name)
    if (p) openProposal(p.id)
  }
  // A disabled Sign button says why.
  const why = readOnly
    ? 'The vault is READ-ONLY: nothing is signed until it verifies again (see Health).'
    : !unlocked
      ? 'Unlock the device key (top right) to sign a proposal.'
      : null
  return { submit, job, disabled: !unlocked || readOnly || job.busy, why }
}

function WhyDisabled({ why }: { why: string | null }) {
  return why ? <p className="muted">{why}</p> : null
}

/** Every proposal form ends alike: the reason, the Sign button (saying why when it is disabled), the job's line. */
function ReasonAndSign(props: {
  reason: string
  setReason: (reason: string) => void
  disabled: boolean
  why: string | null
  job: Job
}) {
  return (
    <>
      <label>
        Reason{' '}
        <input required maxLength={1000} value={props.reason} onChange={(e) => props.setReason(e.target.value)} />
      </label>
      <div className="actions">
        <button type="submit" disabled={props.disabled}>
          Sign the proposal
        </button>
        <WhyDisabled why={props.why} />
      </div>
      <JobLine job={props.job} what="propose" busyText="Signing…" />
    </>
  )
}

/**
 * The vault's governed settings: each known one with its value now (in its unit) and its range; a change is
 * proposed with a typed input, checked as it is typed, so nothing that could never take effect is signed.
 */
export function SettingProposal() {
  const { submit, job, disabled, why } = useProposer('propose-setting')
  const current = useAppStore((s) => s.gov?.settings ?? null)
  const [f, setF] = useState({ key: 'telemetryBudgetKB', value: '', reason: '' })
  const spec = SETTINGS[f.key]!
  const typed = f.value.trim() === '' ? null : Number(f.value)
  const problem = typed === null ? null : settingProblem(f.key, typed)
  return (
    <section aria-labelledby="settings-heading">
      <h3 id="settings-heading">Settings</h3>
      <table data-testid="settings">
        <thead>
          <tr>
            <th scope="col">Setting</th>
            <th scope="col">Now</th>
            <th scope="col">Range</th>
          </tr>
        </thead>
        <tbody>
          {Object.entries(SETTINGS).map(([name, sp]) => {
            const value = current ? settingValueOf(current, name) : sp.dflt
            return (
              <tr key={name} data-testid={`setting-${name}`}>
                <td>
                  {sp.label} <code className="muted">{name}</code>
                </td>
                <td>
                  {formatSetting(name, value)}
                  {value === sp.dflt ? <span className="muted"> (default)</span> : null}
                </td>
                <td className="muted">
                  {formatSetting(name, sp.min)} – {formatSetting(name, sp.max)}
                </td>
              </tr>
            )
          })}
        </tbody>
      </table>
      <form
        className="form"
        aria-label="Propose a setting"
        onSubmit={(e: FormEvent) => {
          e.preventDefault()
          void submit(() => settingsAction([[f.key, f.value.trim()]]), f.reason)
        }}
      >
        <h3>Propose a setting</h3>
        <label>
          Setting{' '}
          <select value={f.key} onChange={(e) => setF({ ...f, key: e.target.value, value: '' })}>
            {Object.entries(SETTINGS).map(([name, sp]) => (
              <option key={name} value={name}>
                {name} — {sp.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          New value, in {spec.unit}{' '}
          <input
            required
            type="number"
            inputMode="numeric"
            step={1}
            min={spec.min}
            max={spec.max}
            aria-describedby="setting-help"
            aria-invalid={problem !== null}
            value={f.value}
            onChange={(e) => setF({ ...f, value: e.target.value })}
          />
        </label>
        <p id="setting-help" className={problem ? 'bad' : 'muted'} role={problem ? 'alert' : undefined}>
          {problem ??
            (typed !== null
              ? `${formatSetting(f.key, current ? settingValueOf(current, f.key) : spec.dflt)} → ${formatSetting(f.key, typed)}`
              : `Between ${formatSetting(f.key, spec.min)} and ${formatSetting(f.key, spec.max)}.`)}
        </p>
        <label>
          Reason{' '}
          <input required maxLength={1000} value={f.reason} onChange={(e) => setF({ ...f, reason: e.target.value })} />
        </label>
        <div className="actions">
          <button type="submit" disabled={disabled || problem !== null}>
            Sign the proposal
          </button>
          <WhyDisabled why={why} />
        </div>
        <JobLine job={job} what="propose" busyText="Signing…" />
      </form>
    </section>
  )
}

/** A telemetry stream schema version (the streams register). */
export function StreamProposal() {
  const { submit, job, disabled, why } = useProposer('propose-stream')
  const [f, setF] = useState({ stream: '', version: '1', fields: 'celsius:number:°C', reason: '' })
  return (
    <form
      className="form"
      aria-label="Propose a stream schema"
      onSubmit={(e: FormEvent) => {
        e.preventDefault()
        void submit(() => streamAction(f.stream, f.version, f.fields.split(/[\n,]/)), f.reason)
      }}
    >
      <h3>Register a stream schema</h3>
      <label>
        Stream{' '}
        <input
          required
          pattern="[a-z0-9][a-z0-9_.\-]{0,63}"
          value={f.stream}
          onChange={(e) => setF({ ...f, stream: e.target.value })}
        />
      </label>
      <label>
        Schema version{' '}
        <input
          required
          type="number"
          min={1}
          max={65535}
          value={f.version}
          onChange={(e) => setF({ ...f, version: e.target.value })}
        />
      </label>
      <label>
        Fields (name:type or name:type:unit, comma-separated; types number, integer, string, boolean; a trailing ? makes
        one optional) <input required value={f.fields} onChange={(e) => setF({ ...f, fields: e.target.value })} />
      </label>
      <ReasonAndSign
        reason={f.reason}
        setReason={(reason) => setF({ ...f, reason })}
        disabled={disabled}
        why={why}
        job={job}
      />
    </form>
  )
}

/** A double-entry ledger entry: one debit and one credit of the same amount. */
function LedgerProposal() {
  const { submit, job, disabled, why } = useProposer('propose-ledger')
  const [f, setF] = useState({ id: '', memo: '', debit: '', credit: '', amount: '', currency: 'EUR', reason: '' })
  const cents = Math.round(Number(f.amount) * 100)
  const field = (k: keyof typeof f) => ({
    value: f[k],
    onChange: (e: { target: { value: string } }) => setF({ ...f, [k]: e.target.value })
  })
  return (
    <form
      className="form"
      aria-label="Propose a ledger entry"
      onSubmit={(e: FormEvent) => {
        e.preventDefault()
        void submit(
          {
            kind: 'register.append',
            args: {
              register: 'ledger',
              entry: {
                id: f.id,
                memo: f.memo,
                postings: [
                  { account: f.debit, side: 'debit', amount: cents, currency: f.currency },
                  { account: f.credit, side: 'credit', amount: cents, currency: f.currency }
                ]
              }
            }
          },
          f.reason
        )
      }}
    >
      <h3>Propose a ledger entry</h3>
      <label>
        Entry id <input required {...field('id')} />
      </label>
      <label>
        Memo <input required maxLength={200} {...field('memo')} />
      </label>
      <label>
        Debit account <input required {...field('debit')} />
      </label>
      <label>
        Credit account <input required {...field('credit')} />
      </label>
      <label>
        Amount <input required inputMode="decimal" pattern="\d+(\.\d{1,2})?" {...field('amount')} />
      </label>
      <label>
        Currency <input required pattern="[A-Z]{3}" {...field('currency')} />
      </label>
      <label>
        Reason <input required maxLength={1000} {...field('reason')} />
      </label>
      <div className="actions">
        <button type="submit" disabled={disabled}>
          Sign the proposal
        </button>
        <WhyDisabled why={why} />
      </div>
      <JobLine job={job} what="propose" busyText="Signing…" />
    </form>
  )
}

export function Members() {
  const gov = useAppStore((s) => s.gov)
  const me = useAppStore(selectMe)
  const device = useAppStore((s) => s.status?.device)
  const focus = useAppStore((s) => s.focusMember)
  const focusRow = useRef<HTMLTableRowElement>(null)
  // A member link (the audit log's) opens this screen on their row.
  useEffect(() => focusRow.current?.scrollIntoView({ block: 'center' }), [focus, gov])
  if (!gov)
    return (
      <Panel id="members" title="Members and keys">
        <p className="muted">Loading…</p>
      </Panel>
    )
  const frozenAt = (key: string) => (gov.frozen ?? []).find((f) => f.key === key)?.seq ?? null
  return (
    <Panel id="members" title="Members and keys">
      <table>
        <thead>
          <tr>
            <th scope="col">Member</th>
            <th scope="col">Roles</th>
            <th scope="col">Device keys</th>
            <th scope="col">State</th>
          </tr>
        </thead>
        <tbody>
          {Object.values(gov.members).map((m) => (
            <tr
              key={m.name}
              ref={m.name === focus ? focusRow : undefined}
              className={m.name === focus ? 'selected' : undefined}
              aria-current={m.name === focus ? 'true' : undefined}
            >
              <td>
                {m.name}
                {me?.name === m.name ? ' (you)' : ''}
              </td>
              <td>{m.roles.join(', ')}</td>
              <td>
                {m.keys.map((k) => (
                  <div key={k}>
                    <Key hex={k} />
                    {k === device ? ' · this device' : ''}
                    {frozenAt(k) ? (
                      <span
                        className="badge badge-forked"
                        title="this key signed two different events at one position: from there its events count only where another key had acknowledged them"
                      >
                        {' '}
                        forked at #{frozenAt(k)}: frozen
                      </span>
                    ) : null}
                  </div>
                ))}
                {m.revokedKeys.map((k) => (
                  <div key={k} className="muted">
                    <Key hex={k} /> revoked
                  </div>
                ))}
              </td>
              <td className={m.active ? 'good' : 'muted'}>{m.active ? 'active' : 'removed'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Approval policy</h3>
      <p>
        Default: {gov.policy.default.minMembers} distinct members
        {gov.policy.default.clauses.map((c) => `, ${c.count} ${c.role}`).join('')}; the proposer alone never suffices.
      </p>
      {Object.entries(gov.policy.actions).map(([kind, r]) => (
        <p key={kind}>
          <code>{kind}</code>: {r!.minMembers} members{r!.clauses.map((c) => `, ${c.count} ${c.role}`).join('')}
        </p>
      ))}
      <MemberProposal />
    </Panel>
  )
}

export function Registers() {
  const { ledger, gov } = useAppStore(useShallow((s) => ({ ledger: s.ledger, gov: s.gov })))
  const balances = ledger ? Object.entries(ledger.balances) : []
  return (
    <Panel id="registers" title="Registers">
      <h3>Ledger balances</h3>
      {!gov?.flags.finance_enabled && (
        <p className="muted">
          The ledger is off until <code>finance_enabled</code> is switched on.
        </p>
      )}
      {balances.length === 0 ? (
        <Empty title="No ledger entries yet." />
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Account</th>
              <th scope="col">Balance</th>
            </tr>
          </thead>
          <tbody>
            {balances.map(([acct, cur]) => (
              <tr key={acct}>
                <td>
                  <code>{acct}</code>
                </td>
                <td className="num">
                  {Object.entries(cur)
                    .map(([c, v]) => `${(v / 100).toFixed(2)} ${c}`)
                    .join(' · ')}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h3>Ledger entries</h3>
      {ledger?.entries.length ? (
        <ul className="list">
          {ledger.entries.map((e) => (
            <li key={e.id}>
              <code>{e.id}</code> {e.memo}:{' '}
              {e.postings.map((p) => `${p.side} ${p.account} ${(p.amount / 100).toFixed(2)} ${p.currency}`).join(', ')}
            </li>
          ))}
        </ul>
      ) : (
        <p className="muted">None.</p>
      )}
      {gov?.flags.finance_enabled && <LedgerProposal />}
      <h3>Companies, network, stream schemas</h3>
      <p>
        {gov
          ? `${gov.registers.company.length} compan(ies), ${gov.registers.network.length} network node(s), ${gov.registers.streams.length} stream schema(s)`
          : '…'}
      </p>
    </Panel>
  )
}
