/**
 * The Health screen: which vault this is, whether it can be trusted right now
 * (READ-ONLY and why), the last self-check, a full re-check, and the audit log.
 */
import { useEffect } from 'react'
import { useShallow } from 'zustand/react/shallow'
import type { VaultStatus } from '../../core/index.js'
import { useAppStore, LOG_PAGE } from './store.js'
import type { ApiError } from './api-client.js'

const short = (hex: string) => `${hex.slice(0, 8)}…`

function formatTime(iso: string): string {
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString()
}

function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`
}

function ErrorNote({ error, what }: { error: ApiError; what: string }) {
  return (
    <p className="note note-error" role="alert">
      Could not load {what}: {error.message} <code>{error.code}</code>
    </p>
  )
}

function NoVault({ detail }: { detail: string }) {
  return (
    <section className="panel empty" aria-labelledby="no-vault">
      <h2 id="no-vault">No vault yet</h2>
      <p>Create one with <code>tresor init --dir &lt;folder&gt;</code> (or start Tresor with <code>TRESOR_DIR</code> set to an existing vault), then restart Tresor.</p>
      <p className="muted">{detail}</p>
    </section>
  )
}

function ReadOnlyBanner({ reason }: { reason: string | null }) {
  return (
    <div className="banner banner-readonly" role="alert">
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
      <dt>Events checked</dt><dd>{check.checked} of {check.total}</dd>
      <dt>Duration</dt><dd>{formatDuration(check.durationMs)}</dd>
      <dt>When</dt><dd><time dateTime={check.verifiedAt}>{formatTime(check.verifiedAt)}</time></dd>
    </dl>
  )
}

function HealthPanel({ status }: { status: VaultStatus }) {
  const { verifying, verifyError, runFullCheck } = useAppStore(
    useShallow((s) => ({ verifying: s.verifying, verifyError: s.verifyError, runFullCheck: s.runFullCheck }))
  )
  const readOnly = status.health.state === 'read-only'
  return (
    <section className="panel" aria-labelledby="health">
      <h2 id="health">Health</h2>
      {readOnly && <ReadOnlyBanner reason={status.health.reason} />}
      <dl className="facts">
        <dt>State</dt><dd className={readOnly ? 'bad' : 'good'}>{readOnly ? 'read-only' : 'ok'}</dd>
        <dt>Device key</dt><dd><code className="key">{status.device}</code></dd>
        <dt>Events</dt><dd>{status.events}</dd>
        <dt>Signing</dt><dd>{status.unlocked ? 'device key unlocked' : 'device key locked'}</dd>
      </dl>
      <h3>Last check</h3>
      <LastCheck check={status.lastCheck} />
      <div className="actions">
        <button type="button" onClick={() => void runFullCheck()} disabled={verifying} aria-busy={verifying}>
          {verifying ? 'Checking every event…' : 'Run full check'}
        </button>
        {verifying && <progress aria-label="Full check in progress" />}
      </div>
      <p className="sr-status" role="status">{verifying ? 'Full check running.' : ''}</p>
      {verifyError && <ErrorNote error={verifyError} what="the full check" />}
    </section>
  )
}

function AuditLog() {
  const entries = useAppStore(useShallow((s) => s.entries))
  const { total, logError, logLoading } = useAppStore(
    useShallow((s) => ({ total: s.total, logError: s.logError, logLoading: s.logLoading }))
  )
  return (
    <section className="panel" aria-labelledby="audit">
      <h2 id="audit">Audit log</h2>
      {logError && <ErrorNote error={logError} what="the audit log" />}
      {!logError && entries.length === 0 && <p className="muted">{logLoading ? 'Loading…' : 'No entries yet.'}</p>}
      {entries.length > 0 && (
        <>
          <p className="muted">
            {total > entries.length ? `First ${LOG_PAGE} of ${total} entries.` : `${total} ${total === 1 ? 'entry' : 'entries'}.`}
          </p>
          <div className="table-scroll" tabIndex={0} role="region" aria-label="Audit log entries">
            <table>
              <thead>
                <tr><th scope="col">Seq</th><th scope="col">Type</th><th scope="col">Time</th><th scope="col">Author</th></tr>
              </thead>
              <tbody>
                {entries.map((e) => (
                  <tr key={e.id}>
                    <td className="num">{e.seq}</td>
                    <td><code>{e.type}</code></td>
                    <td><time dateTime={e.ts}>{formatTime(e.ts)}</time></td>
                    <td><code title={e.author}>{short(e.author)}</code></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  )
}

/** The app shell: loads status and log once, then shows the Health screen. */
export function App() {
  const { status, statusError, statusLoading, loadStatus, loadLog } = useAppStore(
    useShallow((s) => ({ status: s.status, statusError: s.statusError, statusLoading: s.statusLoading, loadStatus: s.loadStatus, loadLog: s.loadLog }))
  )
  useEffect(() => {
    void loadStatus()
    void loadLog()
  }, [loadStatus, loadLog])

  return (
    <>
      <header className="top">
        <h1>Tresor</h1>
        {status && (
          <p className="vault-name">
            {status.name} <code title={status.vaultId}>{short(status.vaultId)}</code>
          </p>
        )}
      </header>
      <main>
        {statusError?.code === 'NOT_FOUND' && <NoVault detail={statusError.message} />}
        {statusError && statusError.code !== 'NOT_FOUND' && (
          <section className="panel">
            <ErrorNote error={statusError} what="the vault" />
            <button type="button" onClick={() => void loadStatus()}>Try again</button>
          </section>
        )}
        {!status && !statusError && <p className="muted">{statusLoading ? 'Opening the vault…' : ''}</p>}
        {status && <HealthPanel status={status} />}
        {status && <AuditLog />}
      </main>
    </>
  )
}
