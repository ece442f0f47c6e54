/** Telemetry: budget and backlog, per-stream metering with a chart of recent values, receipts, quarantine. */
import { own } from '../records.js'
import { useEffect, useState } from 'react'
import { useShallow } from 'zustand/react/shallow'
import type { Reading } from '../../../core/index.js'
import { useAppStore } from '../store.js'
import { selectJob } from '../selectors.js'
import { Empty, JobLine, Panel, Time } from '../ui.js'
import { StreamProposal } from './Governance.js'

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`
const num = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(2))

/** A line chart of one numeric field, drawn as SVG (no inline styles: the CSP forbids them). */
function Chart({ readings, field }: { readings: Reading[]; field: string }) {
  const pts = readings
    .map((r) => [Date.parse(r.ts), own(r.values, field)] as const)
    .filter((p): p is readonly [number, number] => typeof p[1] === 'number')
  if (pts.length < 2) return <p className="muted">Not enough {field} values to chart.</p>
  const [x0, x1] = [pts[0]![0], pts[pts.length - 1]![0]]
  const ys = pts.map((p) => p[1])
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)]
  const W = 600,
    H = 120
  const x = (t: number) => (x1 === x0 ? 0 : ((t - x0) / (x1 - x0)) * W)
  const y = (v: number) => (y1 === y0 ? H / 2 : H - ((v - y0) / (y1 - y0)) * H)
  return (
    <figure className="chart">
      <svg
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={`${field} from ${num(y0)} to ${num(y1)} over ${pts.length} readings`}
      >
        <polyline
          className="chart-line"
          points={pts.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ')}
        />
      </svg>
      <figcaption className="muted">
        {field}: {num(y0)} … {num(y1)}, last {pts.length} readings
      </figcaption>
    </figure>
  )
}

export function Telemetry() {
  const { status, streams, readings, quarantine, loadTelemetry, loadReadings } = useAppStore(
    useShallow((s) => ({
      status: s.telemetryStatus,
      streams: s.streams,
      readings: s.streamReadings,
      quarantine: s.telemetryQuarantine,
      loadTelemetry: s.loadTelemetry,
      loadReadings: s.loadReadings
    }))
  )
  const job = useAppStore(selectJob('telemetry'))
  const [open, setOpen] = useState<string | null>(null)
  useEffect(() => {
    void loadTelemetry()
  }, [loadTelemetry])
  useEffect(() => {
    if (open) void loadReadings(open)
  }, [open, loadReadings])
  if (job.error?.code === 'NOT_FOUND')
    return (
      <Panel id="telemetry" title="Telemetry">
        <Empty title="This host keeps no telemetry.">
          The edge daemon (<code>tresor serve</code>) collects readings; the desktop app shows what a device synced.
        </Empty>
      </Panel>
    )
  return (
    <Panel
      id="telemetry"
      title="Telemetry"
      actions={
        <button type="button" className="secondary" onClick={() => void loadTelemetry()}>
          Refresh
        </button>
      }
    >
      {status && (
        <dl className="facts">
          <dt>Module</dt>
          <dd className={status.enabled ? 'good' : 'muted'}>{status.enabled ? 'on' : 'off (streaming_enabled)'}</dd>
          <dt>Disk budget</dt>
          <dd className={status.full ? 'bad' : ''}>
            {mib(status.usedBytes)} of {mib(status.budgetBytes)}
            {status.full ? ' — FULL: inputs wait' : ''}{' '}
            <meter min={0} max={status.budgetBytes} value={status.usedBytes} aria-label="Budget used" />
          </dd>
          <dt>Batches</dt>
          <dd>
            {status.sealedSeq} sealed here, {status.forwardedSeq} forwarded; {status.unsealed} reading(s) not sealed yet
          </dd>
        </dl>
      )}
      <h3>Streams (last hour)</h3>
      {streams.length === 0 ? (
        <Empty title="No streams yet.">
          Register a schema with <code>tresor propose stream</code>.
        </Empty>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Stream</th>
              <th scope="col">Held</th>
              <th scope="col">Last hour</th>
              <th scope="col">Rate</th>
              <th scope="col">Receipts</th>
              <th scope="col">Fields</th>
              <th scope="col">Last</th>
            </tr>
          </thead>
          <tbody>
            {streams.map((m) => (
              <tr key={m.stream}>
                <td>
                  <button
                    type="button"
                    className="link"
                    aria-expanded={open === m.stream}
                    onClick={() => setOpen(open === m.stream ? null : m.stream)}
                  >
                    <code>{m.stream}</code>
                  </button>
                </td>
                <td className="num">{m.total}</td>
                <td className="num">{m.window.count}</td>
                <td className="num">{m.window.rate.toFixed(2)}/s</td>
                <td>
                  {m.window.receipts.ADMIT} admitted · {m.window.receipts.DUPLICATE} dup ·{' '}
                  <span className={m.window.receipts.QUARANTINE ? 'bad' : ''}>
                    {m.window.receipts.QUARANTINE} quarantined
                  </span>
                </td>
                <td>
                  {Object.entries(m.window.fields)
                    .map(([k, f]) => `${k} ${num(f.min)}…${num(f.max)} (mean ${num(f.mean)})`)
                    .join('; ') || '—'}
                </td>
                <td>{m.window.lastTs ? <Time iso={m.window.lastTs} /> : '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {open &&
        (() => {
          const list = own(readings, open)
          const last = list?.at(-1)
          return last ? (
            Object.keys(last.values)
              .filter((f) => typeof own(last.values, f) === 'number')
              .map((f) => <Chart key={f} readings={list!} field={f} />)
          ) : (
            <p className="muted">No readings of {open} yet.</p>
          )
        })()}
      <h3>Quarantine</h3>
      {quarantine.length === 0 ? (
        <p className="muted">Nothing refused.</p>
      ) : (
        <ul className="list">
          {quarantine.map((q) => (
            <li key={q.id}>
              <Time iso={q.receivedAt} /> <code>{q.receipt.code}</code> from {q.source}: {q.receipt.reason}
              <br />
              <code className="raw">
                {q.raw.slice(0, 200)}
                {q.truncated ? ` … (${q.size} bytes)` : ''}
              </code>
            </li>
          ))}
        </ul>
      )}
      <JobLine job={{ ...job, done: null }} what="load telemetry" />
      {status?.enabled && <StreamProposal />}
    </Panel>
  )
}
