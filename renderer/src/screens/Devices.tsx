/**
 * Every device sees every device: each member's devices with what the latest
 * status each one signed says of itself — last seen, how far behind this
 * device, its last check, READ-ONLY, forked or revoked. A device's status is
 * its own word; the screen says so and marks what needs attention.
 */
import { useEffect } from 'react'
import { useShallow } from 'zustand/react/shallow'
import { useAppStore } from '../store.js'
import { selectJob } from '../selectors.js'
import { Empty, JobLine, Key, Panel, Time } from '../ui.js'

export function Devices() {
  const { devices, witness, loadDevices } = useAppStore(
    useShallow((s) => ({ devices: s.devices, witness: s.witness, loadDevices: s.loadDevices }))
  )
  const job = useAppStore(selectJob('devices'))
  useEffect(() => {
    void loadDevices()
  }, [loadDevices])
  const reporter = (key: string) => {
    const d = (devices ?? []).find((x) => x.key === key)
    return d ? `${d.member}'s device ${key.slice(0, 8)}…` : `device ${key.slice(0, 8)}…`
  }
  const split = new Set((witness?.splitViews ?? []).filter((v) => v.confirmed).map((v) => v.log))
  const failing = (devices ?? []).filter((d) => d.status?.health === 'read-only' || d.status?.check?.ok === false)
  return (
    <Panel id="devices" title="Devices">
      <p className="muted">
        What each device last said of itself, signed with its own key: it updates as their statuses arrive.
      </p>
      {failing.length > 0 && (
        <p className="note note-error" role="alert" data-testid="devices-alert">
          {failing.map((d) => `${d.member}'s device ${d.key.slice(0, 8)}…`).join(', ')}{' '}
          {failing.length === 1 ? 'reports' : 'report'} a failed check or READ-ONLY.
        </p>
      )}
      {(witness?.splitViews ?? [])
        .filter((v) => v.confirmed)
        .map((v) => (
          <p className="note note-error" role="alert" data-testid="split-view" key={`${v.reportedBy}-${v.ts}-${v.log}`}>
            Split view: {v.member ?? 'a device no member holds'}&apos;s device {v.log.slice(0, 8)}… showed two histories
            ({v.why}); reported by {reporter(v.reportedBy)} <Time iso={v.ts} relative />. That device no longer cosigns
            its checkpoints: review the key (tresor witness status).
          </p>
        ))}
      {devices && devices.length === 0 ? (
        <Empty title="No devices yet." />
      ) : (
        <table data-testid="devices">
          <thead>
            <tr>
              <th scope="col">Member</th>
              <th scope="col">Device key</th>
              <th scope="col">Key</th>
              <th scope="col">Last seen</th>
              <th scope="col">State</th>
              <th scope="col">Last check</th>
              <th scope="col">Behind</th>
              <th scope="col">Sync</th>
            </tr>
          </thead>
          <tbody>
            {(devices ?? []).map((d) => {
              const s = d.status
              const bad = s?.health === 'read-only' || s?.check?.ok === false || d.forkedAt !== null || split.has(d.key)
              return (
                <tr key={d.key} className={bad ? 'attention' : undefined} data-key={d.key}>
                  <td>{d.member}</td>
                  <td>
                    <Key hex={d.key} />
                    {d.thisDevice ? ' · this device' : ''}
                  </td>
                  <td className={d.keyState === 'active' && d.forkedAt === null && !split.has(d.key) ? 'good' : 'bad'}>
                    {d.forkedAt !== null ? `forked at #${d.forkedAt}: frozen` : d.keyState}
                    {split.has(d.key) ? <span className="why">showed a split view</span> : null}
                  </td>
                  <td>
                    {d.lastSeen ? <Time iso={d.lastSeen} relative /> : <span className="muted">never reported</span>}
                  </td>
                  <td className={s?.health === 'read-only' ? 'bad' : s ? 'good' : 'muted'}>
                    {d.unreadable ? (
                      'status unreadable'
                    ) : s ? (
                      s.health === 'read-only' ? (
                        <strong>READ-ONLY</strong>
                      ) : (
                        'ok'
                      )
                    ) : (
                      '—'
                    )}
                    {s?.why ? <span className="why">{s.why}</span> : null}
                  </td>
                  <td className={s?.check?.ok === false ? 'bad' : undefined}>
                    {s?.check ? (
                      <>
                        {s.check.mode} {s.check.ok ? 'passed' : `FAILED (${s.check.issues} issue(s))`},{' '}
                        <Time iso={s.check.at} relative />
                      </>
                    ) : (
                      '—'
                    )}
                  </td>
                  <td className="num">{d.thisDevice ? '—' : (d.behind ?? '—')}</td>
                  <td>
                    {s?.sync ? `${s.sync.online ? 'online' : 'offline'}, ${s.sync.pendingUp} to push` : '—'}
                    {s ? <span className="muted"> · v{s.software}</span> : null}
                  </td>
                </tr>
              )
            })}
          </tbody>
        </table>
      )}
      <JobLine job={{ ...job, done: null }} what="load the devices" />
    </Panel>
  )
}
