/**
 * Health: the boot self-check, READ-ONLY with its reason, a full re-check with progress, recovery of a damaged
 * database.
 */
import { Fragment, useState } from 'react'
import { useShallow } from 'zustand/react/shallow'
import type { RecoveryResult, VaultStatus } from '../../../core/index.js'
import { useAppStore } from '../store.js'
import { selectJob, selectMe, selectStatus } from '../selectors.js'
import { JobLine, Key, Panel, Time } from '../ui.js'

export function ReadOnlyBanner({ reason, damaged }: { reason: string | null; damaged?: boolean }) {
  return (
    <div className="banner banner-readonly" role="alert" data-testid="read-only-banner">
      <strong>READ-ONLY</strong>
      <p>
        {damaged
          ? 'The database is damaged. Nothing was changed and nothing is signed until it is rebuilt.'
          : 'This copy of the vault did not verify, so it signs nothing: new entries are refused until the cause is resolved and a full check passes. What it holds is still readable.'}
      </p>
      <p className="reason">What the check found: {reason ?? 'no reason was recorded.'}</p>
      <ol className="steps-list" aria-label="What to do">
        {damaged ? (
          <>
            <li>
              Open Health → Recover: the damaged database is moved aside (kept, untouched) and rebuilt from what still
              reads.
            </li>
            <li>Tick “ask the servers” or give a bundle from another member, so events only they hold come back.</li>
          </>
        ) : (
          <>
            <li>Do not copy this folder to other devices, and do not sign from it elsewhere.</li>
            <li>
              Get a bundle from another member (Sync &amp; bundles) or sync with the server: a good copy of a missing or
              altered event repairs it.
            </li>
            <li>
              Run the full check again (Health); if it still fails, Health → Recover rebuilds the vault from every event
              that verifies.
            </li>
          </>
        )}
      </ol>
    </div>
  )
}

function LastCheck({ check }: { check: VaultStatus['lastCheck'] }) {
  if (!check) return <p className="muted">No check has run yet.</p>
  return (
    <dl className="facts">
      <dt>Result</dt>
      <dd className={check.ok ? 'good' : 'bad'}>{check.ok ? 'passed' : 'failed'}</dd>
      <dt>Mode</dt>
      <dd>{check.mode}</dd>
      <dt>Events checked</dt>
      <dd>
        {check.checked.toLocaleString()} of {check.total.toLocaleString()}
      </dd>
      <dt>Duration</dt>
      <dd>
        {check.durationMs < 1000 ? `${Math.round(check.durationMs)} ms` : `${(check.durationMs / 1000).toFixed(1)} s`}
      </dd>
      <dt>When</dt>
      <dd>
        <Time iso={check.verifiedAt} />
      </dd>
    </dl>
  )
}

function RecoveryOutcome({ r }: { r: RecoveryResult }) {
  return (
    <div data-testid="recovery-result">
      <h3>What recovery brought back</h3>
      <dl className="facts">
        <dt>Damaged database</dt>
        <dd>
          {r.movedAside ? (
            <>
              kept, untouched, at <code>{r.movedAside}</code>
            </>
          ) : (
            'there was none to move aside'
          )}
        </dd>
        <dt>Read back</dt>
        <dd>
          {r.read.damagedDb} from the damaged database, {r.read.journal} from the journal, {r.read.bundles} from the
          bundle ({r.read.unreadable} unreadable)
        </dd>
        <dt>Admitted</dt>
        <dd>{r.admitted} event(s) through the gate</dd>
        {r.peers.map((line, k) => (
          <Fragment key={k}>
            <dt>Peer</dt>
            <dd>{line}</dd>
          </Fragment>
        ))}
      </dl>
      <table className="table">
        <thead>
          <tr>
            <th>Feed</th>
            <th>Back</th>
            <th>Known before</th>
          </tr>
        </thead>
        <tbody>
          {r.feeds.map((f) => (
            <tr key={f.author} className={f.recovered < f.known ? 'bad' : undefined}>
              <td>
                <Key hex={f.author} />
              </td>
              <td>{f.recovered}</td>
              <td>{f.known}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className={r.missing === 0 ? 'good' : 'bad'}>
        {r.missing === 0
          ? 'Nothing the last verified check knew is missing.'
          : `${r.missing} event(s) the last verified check knew are still missing: sync with a peer or import a bundle that holds them.`}
      </p>
      {r.ownBehind && (
        <p className="bad">
          This device's own feed is at {r.ownBehind.recovered} of {r.ownBehind.known}: it signs nothing until peers
          bring the rest back (signing now would fork its key).
        </p>
      )}
    </div>
  )
}

/** Shown when the database itself is damaged: the way back, which never deletes the damaged copy. */
function Recover() {
  const { recoverVault, recovery } = useAppStore(
    useShallow((s) => ({ recoverVault: s.recoverVault, recovery: s.recovery }))
  )
  const job = useAppStore(selectJob('recover'))
  const [passphrase, setPassphrase] = useState('')
  const [bundle, setBundle] = useState<{ name: string; text: string } | null>(null)
  const [peers, setPeers] = useState(true)
  return (
    <section aria-labelledby="recover-title" data-testid="recover">
      <h3 id="recover-title">Recover</h3>
      <p>
        The database is moved aside (kept as it is, never deleted) and the vault is rebuilt from every event that still
        reads: the damaged copy, the append journal, a bundle you choose and, if you allow it, the CouchDB server and
        Git mirror this vault syncs with. Everything passes the same checks as sync.
      </p>
      <form
        onSubmit={(e) => {
          e.preventDefault()
          void recoverVault({ passphrase, peers, bundle: bundle?.text }).then(() => setPassphrase(''))
        }}
      >
        <label>
          Device key passphrase{' '}
          <input
            type="password"
            autoComplete="current-password"
            value={passphrase}
            onChange={(e) => setPassphrase(e.target.value)}
            required
          />
        </label>
        <label>
          Bundle file (optional){' '}
          <input
            type="file"
            accept=".json,application/json"
            onChange={(e) => {
              const f = e.target.files?.[0]
              if (f) void f.text().then((text) => setBundle({ name: f.name, text }))
            }}
          />
        </label>
        <label className="check">
          <input type="checkbox" checked={peers} onChange={(e) => setPeers(e.target.checked)} /> Also fetch from the
          servers this vault syncs with
        </label>
        <div className="actions">
          <button type="submit" disabled={job.busy || passphrase === ''} aria-busy={job.busy}>
            {job.busy ? 'Recovering…' : 'Recover'}
          </button>
        </div>
      </form>
      <JobLine job={job} what="recover the vault" busyText="Reading what is left and verifying it…" />
      {recovery && <RecoveryOutcome r={recovery} />}
    </section>
  )
}

/** The folder opened somewhere other than where it last lived: a copy must not sign with the original's key. */
function Moved({ moved }: { moved: { fromHost: string; fromDir: string } }) {
  const confirmHome = useAppStore((s) => s.confirmHome)
  const job = useAppStore(selectJob('home'))
  return (
    <section className="banner banner-readonly" role="alert" data-testid="moved" aria-labelledby="moved-heading">
      <h3 id="moved-heading">This vault folder was copied or moved</h3>
      <p>
        It last opened on <code>{moved.fromHost}</code> at <code>{moved.fromDir}</code>. A copy holds the same device
        key as the original: if both sign, the key forks and the other devices freeze it.
      </p>
      <ol className="steps-list">
        <li>
          Copied (a restored backup, a second laptop) and the original is still in use: do not sign here. Give this
          device its own key — set it up in a fresh folder (Join a vault) and ask a member to propose adding its key.
        </li>
        <li>Moved, and the old place is gone: confirm, and this is the folder's home from now on.</li>
      </ol>
      <div className="actions">
        <button type="button" disabled={job.busy} onClick={() => void confirmHome()}>
          It was moved: this is the only copy
        </button>
      </div>
      <JobLine job={job} what="confirm the move" />
    </section>
  )
}

export function Health() {
  const status = useAppStore(selectStatus)
  const me = useAppStore(selectMe)
  const { runFullCheck, verifyResult, progress, recovery } = useAppStore(
    useShallow((s) => ({
      runFullCheck: s.runFullCheck,
      verifyResult: s.verifyResult,
      progress: s.progress,
      recovery: s.recovery
    }))
  )
  const job = useAppStore(selectJob('verify'))
  if (!status) return null
  const readOnly = status.health.state === 'read-only'
  return (
    <Panel id="health" title="Health">
      <dl className="facts">
        <dt>State</dt>
        <dd className={readOnly ? 'bad' : 'good'}>{readOnly ? 'read-only' : 'ok'}</dd>
        <dt>Vault</dt>
        <dd>
          {status.name} <Key hex={status.vaultId} />
        </dd>
        <dt>This device</dt>
        <dd>
          {me ? <strong>{me.name}</strong> : <span className="bad">no member's key yet</span>}{' '}
          <Key hex={status.device} />
        </dd>
        <dt>Events</dt>
        <dd>
          {status.events.toLocaleString()} in {Object.keys(status.feeds).length} feed(s)
        </dd>
        <dt>Signing</dt>
        <dd>{status.unlocked ? 'device key unlocked' : 'device key locked'}</dd>
      </dl>
      {status.catchUp !== null && (
        <p className="bad" data-testid="catch-up">
          After a recovery this device's own feed is shorter than it was: it signs nothing until it holds{' '}
          {status.catchUp} of its events again. Sync with a peer (or import a bundle) to bring them back.
        </p>
      )}
      {status.moved && <Moved moved={status.moved} />}
      {(status.health.damaged || recovery) && <Recover />}
      <h3>Last check</h3>
      {readOnly && status.lastCheck?.ok ? (
        <p className="bad">
          That check passed, but the vault turned READ-ONLY after it: {status.health.reason ?? 'see the banner above'}
        </p>
      ) : null}
      <LastCheck check={status.lastCheck} />
      <div className="actions">
        <button type="button" onClick={() => void runFullCheck()} disabled={job.busy} aria-busy={job.busy}>
          {job.busy ? 'Checking every event…' : 'Run full check'}
        </button>
      </div>
      {job.busy && progress && progress.total > 0 ? (
        <p className="muted">
          <progress max={progress.total} value={progress.done} aria-label="Full check progress" />{' '}
          {progress.done.toLocaleString()} of {progress.total.toLocaleString()} events verified
        </p>
      ) : null}
      <JobLine
        job={job.busy && progress && progress.total > 0 ? { ...job, busy: false } : job}
        what="run the full check"
        busyText="Re-reading and verifying every event…"
      />
      {verifyResult && !verifyResult.ok && (
        <>
          <h3>Issues found</h3>
          <ul className="issues">
            {verifyResult.issues.slice(0, 50).map((i, k) => (
              <li key={k}>
                <code>{i.code}</code> at <code>{i.docId}</code>: {i.message}
              </li>
            ))}
          </ul>
        </>
      )}
    </Panel>
  )
}
