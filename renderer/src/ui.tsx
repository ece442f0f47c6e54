/** Small shared pieces: errors, job status, times, keys, badges, empty states. */
import type { ReactNode } from 'react'
import type { ApiError } from './api-client.js'
import type { Job } from './store.js'
import { relativeTime } from '../../core/review.js'

export const short = (hex: string) => `${hex.slice(0, 8)}…`

/** Date and time with the zone (dateStyle cannot be combined with a zone name, so the fields are named). */
const TIME_FORMAT: Intl.DateTimeFormatOptions = {
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  timeZoneName: 'short'
}

/** A time with its zone; with `relative`, also how far from now (an expiry: "in 7 days"). */
export function Time({ iso, relative: rel = false }: { iso: string; relative?: boolean }) {
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return <time dateTime={iso}>{iso}</time>
  return (
    <time dateTime={iso} title={iso}>
      {d.toLocaleString(undefined, TIME_FORMAT)}
      {rel ? ` (${relativeTime(d.getTime() - Date.now())})` : ''}
    </time>
  )
}

export function ErrorNote({ error, what }: { error: ApiError; what: string }) {
  return (
    <p className="note note-error" role="alert">
      Could not {what}: {error.message} <code>{error.code}</code>
    </p>
  )
}

/** Busy indicator, error and success line of a job, announced to screen readers. */
export function JobLine({ job, what, busyText }: { job: Job; what: string; busyText?: string }) {
  return (
    <div className="job" aria-live="polite">
      {job.busy && (
        <p className="muted">
          <progress aria-label={busyText ?? 'Working'} /> {busyText ?? 'Working…'}
        </p>
      )}
      {job.error && <ErrorNote error={job.error} what={what} />}
      {job.done && !job.busy && !job.error && <p className="good">{job.done}</p>}
    </div>
  )
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty-state">
      <p>
        <strong>{title}</strong>
      </p>
      {children}
    </div>
  )
}

export function Panel({
  id,
  title,
  children,
  actions
}: {
  id: string
  title: string
  children: ReactNode
  actions?: ReactNode
}) {
  return (
    <section className="panel" aria-labelledby={id}>
      <div className="panel-head">
        <h2 id={id}>{title}</h2>
        {actions}
      </div>
      {children}
    </section>
  )
}

export function VerifyBadge({ badge }: { badge: 'verified' | 'unchecked' | 'failed' | 'forked' }) {
  const text = {
    verified: '✓ verified',
    unchecked: '… not yet checked',
    failed: '✗ failed check',
    forked: '✗ forked key'
  }[badge]
  const title =
    badge === 'forked'
      ? 'signed by a key that signed two different events at one position, at or before this one: it counts only where another key had acknowledged it'
      : text
  return (
    <span className={`badge badge-${badge}`} title={title}>
      {text}
    </span>
  )
}

export function Key({ hex, name }: { hex: string; name?: string | null }) {
  return (
    <code className="key" title={hex}>
      {name ? `${name} (${short(hex)})` : short(hex)}
    </code>
  )
}
