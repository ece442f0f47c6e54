/**
 * Sync: CouchDB status as the last rounds recorded it (the daemon or tresor sync runs them), and the offline
 * session — bundles out and in.
 */
import { useEffect, useState, type FormEvent } from 'react'
import { useShallow } from 'zustand/react/shallow'
import { useAppStore } from '../store.js'
import { selectJob, selectMe, selectUnlocked } from '../selectors.js'
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
          then follows it: changes arrive as they are made. The Git mirror: <code>tresor sync git</code>.
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
          <dt>Mode</dt>
          <dd data-testid="sync-mode" className={sync.live?.phase === 'retrying' ? 'bad' : undefined}>
            {!sync.live
              ? 'rounds (no live connection held here)'
              : sync.live.phase === 'following'
                ? `live: following the server's changes (${sync.live.admitted} in, ${sync.live.pushed} out since it started)`
                : sync.live.phase === 'retrying'
                  ? `live: the server is unreachable, retrying with backoff (${sync.live.error ?? 'no answer'})`
                  : `live: ${sync.live.phase}`}
          </dd>
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
      <OfflineSession />
    </Panel>
  )
}

/** A file name for a bundle: what vault, for whom, when (no characters a file system refuses). */
function bundleName(vault: string, forMember: string | null): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 40)
  const at = new Date().toISOString().slice(0, 16).replace(/[:T]/g, '-')
  return `${safe(vault)}${forMember ? `-for-${safe(forMember)}` : ''}-${at}.bundle`
}

/**
 * The offline approval session: export a signed bundle for another member's device (exactly what it is not known
 * to hold) or of everything, carry the file, and import what comes back — by file picker or by dropping it here.
 */
export function OfflineSession() {
  const { gov, status, exportBundle, importBundle, imported } = useAppStore(
    useShallow((s) => ({
      gov: s.gov,
      status: s.status,
      exportBundle: s.exportBundle,
      importBundle: s.importBundle,
      imported: s.imported
    }))
  )
  const me = useAppStore(selectMe)
  const unlocked = useAppStore(selectUnlocked)
  const exportJob = useAppStore(selectJob('bundle-export'))
  const importJob = useAppStore(selectJob('bundle-import'))
  const [forMember, setForMember] = useState('')
  const [file, setFile] = useState<{ name: string; url: string; events: number; note: string } | null>(null)
  const [over, setOver] = useState(false)
  const others = gov ? Object.values(gov.members).filter((m) => m.active && m.name !== me?.name) : []
  const make = async () => {
    const r = await exportBundle(forMember || null)
    if (!r) return
    if (file) URL.revokeObjectURL(file.url)
    const note = r.for
      ? r.for.known
        ? `what ${r.for.member}'s device is not known to hold`
        : `everything: nothing is known yet of what ${r.for.member}'s device holds`
      : 'everything'
    setFile({
      name: bundleName(status?.name ?? 'vault', forMember || null),
      url: URL.createObjectURL(new Blob([r.text + '\n'], { type: 'application/json' })),
      events: r.events,
      note
    })
  }
  const take = async (f: File | undefined) => {
    if (f) await importBundle(await f.text())
  }
  return (
    <section aria-labelledby="offline-heading" className="offline">
      <h3 id="offline-heading">Offline session: bundles</h3>
      <p className="muted">
        A bundle is a signed file of events another device lacks. Carry it (a USB stick), import it there, and bring
        back what that device signed.
      </p>
      <form
        className="form"
        aria-label="Export a bundle"
        onSubmit={(e: FormEvent) => {
          e.preventDefault()
          void make()
        }}
      >
        <label>
          Export for{' '}
          <select value={forMember} onChange={(e) => setForMember(e.target.value)}>
            {others.map((m) => (
              <option key={m.name} value={m.name}>
                {m.name}
              </option>
            ))}
            <option value="">everyone (everything this device holds)</option>
          </select>
        </label>
        <div className="actions">
          <button
            type="submit"
            disabled={!unlocked || exportJob.busy}
            title={unlocked ? undefined : 'Unlock the device key to sign a bundle'}
          >
            Sign the bundle
          </button>
        </div>
        {!unlocked && <p className="muted">A bundle is signed with the device key: unlock it first.</p>}
        <JobLine job={exportJob} what="export a bundle" busyText="Signing…" />
        {file && (
          <p data-testid="bundle-ready">
            {file.events} event(s), {file.note}:{' '}
            <a href={file.url} download={file.name}>
              Save {file.name}
            </a>
          </p>
        )}
      </form>
      <div
        className={over ? 'dropzone over' : 'dropzone'}
        data-testid="bundle-drop"
        onDragOver={(e) => {
          e.preventDefault()
          setOver(true)
        }}
        onDragLeave={() => setOver(false)}
        onDrop={(e) => {
          e.preventDefault()
          setOver(false)
          void take(e.dataTransfer.files[0])
        }}
      >
        <label>
          Import a bundle (or drop the file here){' '}
          <input
            type="file"
            accept=".bundle,application/json"
            disabled={importJob.busy}
            onChange={(e) => void take(e.target.files?.[0])}
          />
        </label>
        <JobLine job={importJob} what="import the bundle" busyText="Verifying every event…" />
        {imported && (
          <div data-testid="bundle-imported" role="status">
            <p>
              {imported.admitted} new event(s){imported.from ? ` from ${imported.from}` : ''}, {imported.duplicates}{' '}
              already here{imported.other ? `, ${imported.other} other` : ''}.
            </p>
            {imported.arrived.length > 0 && (
              <ul className="list">
                {imported.arrived.map((line, i) => (
                  <li key={i}>{line}</li>
                ))}
              </ul>
            )}
          </div>
        )}
      </div>
    </section>
  )
}
