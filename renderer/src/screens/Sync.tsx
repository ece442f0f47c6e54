/** Sync: CouchDB status as the last rounds recorded it (the daemon or tresor sync runs them). */
import { useEffect } from 'react'
import { useShallow } from 'zustand/react/shallow'
import { useAppStore } from '../store.js'
import { selectJob } from '../selectors.js'
import { Empty, JobLine, Panel, Time } from '../ui.js'

export function Sync() {
  const { sync, loadSync, telemetry, loadTelemetry } = useAppStore(
    useShallow((s) => ({
      sync: s.sync,
      loadSync: s.loadSync,
      telemetry: s.telemetryStatus,
      loadTelemetry: s.loadTelemetry
    }))
  )
  const job = useAppStore(selectJob('sync'))
  useEffect(() => {
    void loadSync()
    void loadTelemetry()
  }, [loadSync, loadTelemetry])
  return (
    <Panel
      id="sync"
      title="Sync"
      actions={
        <button type="button" className="secondary" onClick={() => void loadSync()}>
          Refresh
        </button>
      }
    >
      {!sync || !sync.url ? (
        <Empty title="No CouchDB configured on this device.">
          Run <code>tresor sync couch --url … --user …</code> once; the edge daemon (<code>tresor serve --sync</code>)
          then syncs every few seconds. The Git mirror: <code>tresor sync git</code>.
        </Empty>
      ) : (
        <dl className="facts">
          <dt>Server</dt>
          <dd>
            <code>{sync.url}</code>
            {sync.user ? ` as ${sync.user}` : ''}
          </dd>
          <dt>State</dt>
          <dd className={sync.online ? 'good' : 'bad'}>{sync.online ? 'online' : 'offline'}</dd>
          <dt>Last success</dt>
          <dd>{sync.lastSuccess ? <Time iso={sync.lastSuccess} /> : 'never'}</dd>
          <dt>Last error</dt>
          <dd className={sync.lastError ? 'bad' : ''}>{sync.lastError ?? 'none'}</dd>
          <dt>Pending</dt>
          <dd>
            {sync.pendingUp} to push · {sync.pendingDown} waiting in staging
          </dd>
          <dt>Quarantine</dt>
          <dd className={sync.quarantine ? 'bad' : ''}>{sync.quarantine}</dd>
          <dt>Design doc</dt>
          <dd>{sync.design ?? 'unknown'}</dd>
          {sync.lastRollback && (
            <>
              <dt>Rollback</dt>
              <dd className="bad">
                <Time iso={sync.lastRollback.at} />: {sync.lastRollback.message}
              </dd>
            </>
          )}
          {sync.denied.length > 0 && (
            <>
              <dt>Refused</dt>
              <dd className="bad">
                {sync.denied.length} push(es), first {sync.denied[0]!.id}: {sync.denied[0]!.reason}
              </dd>
            </>
          )}
          {telemetry && (
            <>
              <dt>Telemetry</dt>
              <dd>
                {telemetry.forwardedSeq} of {telemetry.sealedSeq} batch(es) forwarded to{' '}
                <code>{sync.url}-telemetry</code>
                {telemetry.sealedSeq > telemetry.forwardedSeq ? ' (the rest wait here)' : ''}
              </dd>
            </>
          )}
        </dl>
      )}
      <JobLine job={{ ...job, done: null }} what="read the sync status" />
    </Panel>
  )
}
