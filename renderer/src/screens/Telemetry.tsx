/** Telemetry: budget and backlog, per-stream metering with a chart of recent values, receipts, quarantine. */
import { own } from '../records.js'
import { useEffect, useMemo, useRef, useState } from 'react'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import { useShallow } from 'zustand/react/shallow'
import type { FieldStats, Reading } from '../../../core/index.js'
import { fieldUnits } from '../../../core/review.js'
import { useAppStore } from '../store.js'
import { selectJob } from '../selectors.js'
import { Empty, JobLine, Panel, Time } from '../ui.js'
import { StreamProposal } from './Governance.js'

/** Each field's unit as the newest schema version of `stream` names it (none: the schema gives no unit). */
function useUnits(stream: string | null): Map<string, string> {
  const entries = useAppStore((s) => s.gov?.registers.streams)
  return useMemo(() => (stream ? fieldUnits(entries ?? [], stream) : new Map<string, string>()), [entries, stream])
}
const withUnit = (text: string, unit: string | undefined) => (unit ? `${text} ${unit}` : text)

/** A stream's numeric fields over the window: range and mean, in their units. */
function FieldRanges({ stream, fields }: { stream: string; fields: { [name: string]: FieldStats } }) {
  const units = useUnits(stream)
  const text = Object.entries(fields)
    .map(([k, f]) => {
      const u = units.get(k)
      return `${k} ${num(f.min)}…${withUnit(num(f.max), u)} (mean ${withUnit(num(f.mean), u)})`
    })
    .join('; ')
  return <>{text || '—'}</>
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`
const num = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(2))

type Range = '15m' | '1h' | 'all'
const RANGE_MS: Record<Range, number> = { '15m': 15 * 60_000, '1h': 3_600_000, all: Infinity }

/**
 * A time chart of one numeric field (uPlot: a small, maintained canvas charting library): a time axis in this
 * device's zone, the value axis, and the reading under the cursor in the legend. uPlot sizes its elements through
 * the CSSOM, which the strict CSP allows (it forbids inline style attributes and <style> elements, not that).
 */
function Chart({
  readings,
  field,
  unit,
  range
}: {
  readings: Reading[]
  field: string
  unit: string | undefined
  range: Range
}) {
  const box = useRef<HTMLDivElement>(null)
  const since = range === 'all' ? -Infinity : Date.now() - RANGE_MS[range]
  const pts = readings
    .map((r) => [Date.parse(r.ts), own(r.values, field)] as const)
    .filter((p): p is readonly [number, number] => typeof p[1] === 'number' && p[0] >= since)
  const key = pts.length > 0 ? `${pts.length}:${pts[0]![0]}:${pts[pts.length - 1]![0]}` : 'none'
  useEffect(() => {
    const el = box.current
    if (!el || pts.length < 2) return
    // Axis and grid colours from the page's own (light or dark) scheme.
    const css = getComputedStyle(el)
    const text = css.color
    const grid = css.getPropertyValue('--line').trim() || 'rgba(128,128,128,0.3)'
    const axis = { stroke: text, grid: { stroke: grid }, ticks: { stroke: grid } }
    const plot = new uPlot(
      {
        width: Math.max(280, Math.min(el.clientWidth || 600, 900)),
        height: 180,
        scales: { x: { time: true } },
        series: [
          { label: 'time' },
          {
            label: unit ? `${field} (${unit})` : field,
            stroke: 'rgb(29, 95, 180)',
            width: 1.5,
            points: { show: false },
            value: (_u: uPlot, v: number | null) => (v === null ? '—' : withUnit(num(v), unit))
          }
        ],
        axes: [axis, { ...axis, label: unit ? `${field} (${unit})` : field }]
      },
      [pts.map((p) => p[0] / 1000), pts.map((p) => p[1])],
      el
    )
    return () => plot.destroy()
    // the chart is rebuilt when the points change (their count and ends identify them)
  }, [key, field, unit])
  if (pts.length < 2) return <p className="muted">Not enough {field} values to chart in this range.</p>
  const ys = pts.map((p) => p[1])
  return (
    <figure
      className="chart"
      aria-label={`${field} over time: ${num(Math.min(...ys))} to ${withUnit(num(Math.max(...ys)), unit)}, ${pts.length} readings`}
    >
      <div ref={box} />
      <figcaption className="muted">
        {field}: {num(Math.min(...ys))} … {withUnit(num(Math.max(...ys)), unit)}, {pts.length} readings from{' '}
        <Time iso={new Date(pts[0]![0]).toISOString()} /> to{' '}
        <Time iso={new Date(pts[pts.length - 1]![0]).toISOString()} />
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
  const [range, setRange] = useState<Range>('1h')
  const openUnits = useUnits(open)
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
                  <FieldRanges stream={m.stream} fields={m.window.fields} />
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
            <section aria-label={`Charts of ${open}`}>
              <div className="tabs" role="radiogroup" aria-label="Time range">
                {(['15m', '1h', 'all'] as const).map((r) => (
                  <label key={r} className="check">
                    <input type="radio" name="range" checked={range === r} onChange={() => setRange(r)} />{' '}
                    {{ '15m': 'last 15 min', '1h': 'last hour', all: 'all held here' }[r]}
                  </label>
                ))}
              </div>
              {Object.keys(last.values)
                .filter((f) => typeof own(last.values, f) === 'number')
                .map((f) => (
                  <Chart key={f} readings={list!} field={f} unit={openUnits.get(f)} range={range} />
                ))}
            </section>
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
