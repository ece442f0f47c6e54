/**
 * The audit log, virtualised: only the rows in view (plus a margin) are in
 * the DOM, pages of 200 entries are fetched as the view reaches them, so a
 * log of 100,000 events scrolls like one of 100. Filters by type, author and
 * time; each row carries its verification badge; a row opens its payload and,
 * when a checkpoint covers it, its inclusion proof.
 */
import { Fragment, useEffect, useRef, useState, type ReactNode, type UIEvent } from 'react'
import { reviewAction } from '../../../core/review.js'
import { useShallow } from 'zustand/react/shallow'
import { LOG_PAGE, useAppStore } from '../store.js'
import { own } from '../records.js'
import { selectJob, selectLogWindow, useNameOf } from '../selectors.js'
import { Empty, JobLine, Key, Panel, Time, VerifyBadge } from '../ui.js'

/** A link to a proposal named in an event (its id), titled as review says it when this device holds it. */
function ProposalLink({ id }: { id: string }) {
  const { gov, openProposal } = useAppStore(useShallow((s) => ({ gov: s.gov, openProposal: s.openProposal })))
  const p = own(gov?.proposals, id)
  return (
    <button type="button" className="link" onClick={() => openProposal(id)}>
      {p && gov ? reviewAction(gov, p.action).title : `proposal ${id.slice(0, 12)}…`}
    </button>
  )
}

/**
 * A member named in an event (by device key or by name), as a link to their row in Members; a key no member holds
 * stays a key.
 */
function MemberLink(props: { hex: string } | { name: string }) {
  const nameOf = useNameOf()
  const openMember = useAppStore((s) => s.openMember)
  const name = 'name' in props ? props.name : nameOf(props.hex)
  if (!name) return 'hex' in props ? <Key hex={props.hex} /> : null
  return (
    <button type="button" className="link" onClick={() => openMember(name)}>
      {'hex' in props ? <Key hex={props.hex} name={name} /> : name}
    </button>
  )
}

/** What a governance event or a note says, for people; other events show their JSON only. */
function ReadablePayload({ type, payload }: { type: string; payload: Record<string, unknown> }) {
  const gov = useAppStore((s) => s.gov)
  const text = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v))
  const rows: [string, ReactNode][] = []
  if (type === 'gov.propose' && gov && typeof payload.action === 'object' && payload.action !== null) {
    const review = reviewAction(gov, payload.action as { kind: string; args: Record<string, unknown> })
    rows.push(['Proposes', review.title])
    const args = (payload.action as { args?: { name?: unknown } }).args
    if (typeof args?.name === 'string' && own(gov.members, args.name))
      rows.push(['Member', <MemberLink name={args.name} />])
    for (const c of review.changes) rows.push([c.what, `${c.before} → ${c.after}`])
    rows.push(['Reason', text(payload.reason)])
    rows.push(['Expires', typeof payload.expiresAt === 'string' ? <Time iso={payload.expiresAt} /> : '—'])
  } else if (typeof payload.proposal === 'string') {
    rows.push(['Proposal', <ProposalLink id={payload.proposal} />])
    if (typeof payload.reason === 'string') rows.push(['Reason', payload.reason])
    if (Array.isArray(payload.approvals)) rows.push(['Relies on', `${payload.approvals.length} approval(s)`])
    const p = own(gov?.proposals, payload.proposal)
    if (p) rows.push(['Proposed by', <MemberLink name={p.proposer} />])
  } else if (type === 'audit.note' && typeof payload.text === 'string') {
    rows.push(['Note', payload.text])
  }
  return (
    <>
      {rows.map(([k, v], i) => (
        <Fragment key={i}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </Fragment>
      ))}
    </>
  )
}

const ROW = 34
const VIEW_ROWS = 16
const OVERSCAN = 10

export function AuditLog() {
  const { total, pages, generation } = useAppStore(useShallow(selectLogWindow))
  const { types, authors, filter, setLogFilter, loadLogPage, openLogEntry, detail, proof, proveEvent, closeLogEntry } =
    useAppStore(
      useShallow((s) => ({
        types: s.logTypes,
        authors: s.logAuthors,
        filter: s.logFilter,
        setLogFilter: s.setLogFilter,
        loadLogPage: s.loadLogPage,
        openLogEntry: s.openLogEntry,
        detail: s.logDetail,
        proof: s.logProof,
        proveEvent: s.proveEvent,
        closeLogEntry: s.closeLogEntry
      }))
    )
  const nameOf = useNameOf()
  const job = useAppStore(selectJob('log'))
  const proofJob = useAppStore(selectJob('proof'))
  const [top, setTop] = useState(0)
  const scroller = useRef<HTMLDivElement>(null)
  const detailRef = useRef<HTMLHeadingElement>(null)
  // An opened event's detail slides over the list's right side and takes the focus; its row stays marked. Escape or
  // Close puts it away and gives the focus back to the list.
  useEffect(() => {
    if (!detail) return
    detailRef.current?.focus()
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== 'Escape') return
      closeLogEntry()
      scroller.current?.focus()
    }
    window.addEventListener('keydown', onKey)
    return () => window.removeEventListener('keydown', onKey)
  }, [detail, closeLogEntry])
  const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN)
  const last = Math.min(total, Math.ceil((top + VIEW_ROWS * ROW) / ROW) + OVERSCAN)

  const [initialFilter] = useState(filter)
  useEffect(() => {
    setLogFilter(initialFilter)
  }, [setLogFilter, initialFilter]) // the first load, with the filter kept from last time
  useEffect(() => {
    for (let p = Math.floor(first / LOG_PAGE); p <= Math.floor(Math.max(first, last - 1) / LOG_PAGE); p++)
      if (!pages[p] && total > 0) void loadLogPage(p)
  }, [first, last, pages, total, generation, loadLogPage])
  useEffect(() => {
    scroller.current?.scrollTo({ top: 0 })
    setTop(0)
  }, [generation])

  const rows = []
  for (let i = first; i < last; i++) {
    const e = pages[Math.floor(i / LOG_PAGE)]?.[i % LOG_PAGE]
    rows.push(
      <div
        role="row"
        key={i}
        className={e && detail && e.author === detail.author && e.seq === detail.seq ? 'vrow selected' : 'vrow'}
        aria-selected={e && detail ? e.author === detail.author && e.seq === detail.seq : undefined}
        data-index={i}
        aria-rowindex={i + 2}
      >
        {e ? (
          <>
            <span role="cell" className="num">
              {i + 1}
            </span>
            <span role="cell">
              <button type="button" className="link" onClick={() => void openLogEntry(e.author, e.seq)}>
                <code>{e.type}</code>
              </button>
            </span>
            <span role="cell">
              <Time iso={e.ts} />
            </span>
            <span role="cell">
              <Key hex={e.author} name={nameOf(e.author)} /> #{e.seq}
            </span>
            <span role="cell">
              <VerifyBadge badge={e.badge} />
            </span>
          </>
        ) : (
          <span role="cell" className="muted">
            loading…
          </span>
        )}
      </div>
    )
  }
  const set = (k: 'type' | 'author' | 'from' | 'to', v: string) =>
    setLogFilter({ ...filter, [k]: v === '' ? undefined : k === 'from' || k === 'to' ? new Date(v).toISOString() : v })
  return (
    <Panel id="audit" title="Audit log">
      <form className="filters" aria-label="Filter the audit log" onSubmit={(e) => e.preventDefault()}>
        <label>
          Type{' '}
          <select value={filter.type ?? ''} onChange={(e) => set('type', e.target.value)}>
            <option value="">all</option>
            {types.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <label>
          Author{' '}
          <select value={filter.author ?? ''} onChange={(e) => set('author', e.target.value)}>
            <option value="">all</option>
            {authors.map((a) => (
              <option key={a} value={a}>
                {nameOf(a) ?? a.slice(0, 12)}
              </option>
            ))}
          </select>
        </label>
        <label>
          From <input type="datetime-local" onChange={(e) => set('from', e.target.value)} />
        </label>
        <label>
          To <input type="datetime-local" onChange={(e) => set('to', e.target.value)} />
        </label>
      </form>
      <p className="muted" aria-live="polite" data-testid="log-total">
        {total.toLocaleString()} {total === 1 ? 'event' : 'events'}
      </p>
      {total === 0 && !job.busy ? (
        <Empty title="No events match." />
      ) : (
        <div role="table" aria-label="Audit log entries" aria-rowcount={total + 1}>
          <div role="row" className="vrow vhead" aria-rowindex={1}>
            <span role="columnheader">#</span>
            <span role="columnheader">Type</span>
            <span role="columnheader">Time</span>
            <span role="columnheader">Author</span>
            <span role="columnheader">Check</span>
          </div>
          <div
            className="vscroll"
            role="rowgroup"
            aria-label="Entries (scroll for more)"
            ref={scroller}
            tabIndex={0}
            data-testid="log-scroller"
            onScroll={(e: UIEvent<HTMLDivElement>) => setTop(e.currentTarget.scrollTop)}
          >
            <div
              className="vspace"
              role="none"
              data-rows={total}
              ref={(el) => {
                if (el) el.style.height = `${total * ROW}px`
              }}
            >
              <div
                className="vwindow"
                role="none"
                ref={(el) => {
                  if (el) el.style.transform = `translateY(${first * ROW}px)`
                }}
              >
                {rows}
              </div>
            </div>
          </div>
        </div>
      )}
      <JobLine job={{ ...job, done: null }} what="load the log" />
      {detail && (
        <section className="detail sheet" role="dialog" aria-modal="false" aria-labelledby="event-detail">
          <div className="sheet-head">
            <h3 id="event-detail" tabIndex={-1} ref={detailRef}>
              Event {detail.type} <VerifyBadge badge={detail.badge} />
            </h3>
            <button
              type="button"
              onClick={() => {
                closeLogEntry()
                scroller.current?.focus()
              }}
            >
              Close
            </button>
          </div>
          <dl className="facts">
            <dt>Id</dt>
            <dd>
              <code className="key">{detail.id}</code>
            </dd>
            <dt>Author</dt>
            <dd>
              <MemberLink hex={detail.author} /> #{detail.seq}
            </dd>
            <dt>Time</dt>
            <dd>
              <Time iso={detail.ts} />
            </dd>
            <ReadablePayload type={detail.type} payload={detail.payload} />
            <dt>Payload as signed</dt>
            <dd>
              <details>
                <summary>Show the JSON</summary>
                <pre className="json">{JSON.stringify(detail.payload, null, 2)}</pre>
              </details>
            </dd>
          </dl>
          <button type="button" onClick={() => void proveEvent(detail.id)} disabled={proofJob.busy}>
            Inclusion proof
          </button>
          <JobLine job={proofJob} what="prove the event (a checkpoint must cover it: tresor checkpoint)" />
          {proof && (
            <pre className="json" data-testid="event-proof">
              {JSON.stringify(proof, null, 2)}
            </pre>
          )}
        </section>
      )}
    </Panel>
  )
}
