/** Health: the boot self-check, READ-ONLY with its reason, a full re-check with progress. */
import { useShallow } from 'zustand/react/shallow'
import type { VaultStatus } from '../../../core/index.js'
import { useAppStore } from '../store.js'
import { selectJob, selectStatus } from '../selectors.js'
import { JobLine, Key, Panel, Time } from '../ui.js'

export function ReadOnlyBanner({ reason }: { reason: string | null }) {
  return (
    <div className="banner banner-readonly" role="alert" data-testid="read-only-banner">
      <strong>READ-ONLY</strong>
      <p>New entries are refused until the cause below is resolved and a full check passes.</p>
      <p className="reason">{reason ?? 'No reason was recorded.'}</p>
    </div>
  )
}

function LastCheck({ check }: { check: VaultStatus['lastCheck'] }) {
  if (!check) return <p className="muted">No check has run yet.</p>
  return (
    <dl className="facts">
      <dt>Result</dt><dd className={check.ok ? 'good' : 'bad'}>{check.ok ? 'passed' : 'failed'}</dd>
      <dt>Mode</dt><dd>{check.mode}</dd>
      <dt>Events checked</dt><dd>{check.checked.toLocaleString()} of {check.total.toLocaleString()}</dd>
      <dt>Duration</dt><dd>{check.durationMs < 1000 ? `${Math.round(check.durationMs)} ms` : `${(check.durationMs / 1000).toFixed(1)} s`}</dd>
      <dt>When</dt><dd><Time iso={check.verifiedAt} /></dd>
    </dl>
  )
}

export function Health() {
  const status = useAppStore(selectStatus)
  const { runFullCheck, verifyResult, progress } = useAppStore(useShallow((s) => ({ runFullCheck: s.runFullCheck, verifyResult: s.verifyResult, progress: s.progress })))
  const job = useAppStore(selectJob('verify'))
  if (!status) return null
  const readOnly = status.health.state === 'read-only'
  return (
    <Panel id="health" title="Health">
      <dl className="facts">
        <dt>State</dt><dd className={readOnly ? 'bad' : 'good'}>{readOnly ? 'read-only' : 'ok'}</dd>
        <dt>Vault</dt><dd>{status.name} <Key hex={status.vaultId} /></dd>
        <dt>This device</dt><dd><code className="key">{status.device}</code></dd>
        <dt>Events</dt><dd>{status.events.toLocaleString()} in {Object.keys(status.feeds).length} feed(s)</dd>
        <dt>Signing</dt><dd>{status.unlocked ? 'device key unlocked' : 'device key locked'}</dd>
      </dl>
      <h3>Last check</h3>
      <LastCheck check={status.lastCheck} />
      <div className="actions">
        <button type="button" onClick={() => void runFullCheck()} disabled={job.busy} aria-busy={job.busy}>{job.busy ? 'Checking every event…' : 'Run full check'}</button>
      </div>
      {job.busy && progress && progress.total > 0
        ? <p className="muted"><progress max={progress.total} value={progress.done} aria-label="Full check progress" /> {progress.done.toLocaleString()} of {progress.total.toLocaleString()} events verified</p>
        : null}
      <JobLine job={job.busy && progress && progress.total > 0 ? { ...job, busy: false } : job} what="run the full check" busyText="Re-reading and verifying every event…" />
      {verifyResult && !verifyResult.ok && (
        <>
          <h3>Issues found</h3>
          <ul className="issues">{verifyResult.issues.slice(0, 50).map((i, k) => <li key={k}><code>{i.code}</code> at <code>{i.docId}</code>: {i.message}</li>)}</ul>
        </>
      )}
    </Panel>
  )
}
