/**
 * The documents register (issue 17): every document the committed migrations and changes brought in, filtered by
 * lifecycle, class and domain; one document's header fields, versions (each with the event that proves it), a line
 * diff between two versions and its lifecycle history; proposing a lifecycle change the rules allow or a new version
 * (a READ-ONLY document only when the proposal says so). Migrating a ZIP: a dry run shows what each file would
 * become and what is refused, then ONE proposal. Nothing here enters the register before a second member approves.
 */
import { useEffect, useMemo, useState, type FormEvent } from 'react'
import { useShallow } from 'zustand/react/shallow'
import { useAppStore } from '../store.js'
import { selectJob, selectReadOnly, selectUnlocked } from '../selectors.js'
import { Empty, JobLine, Panel, Time } from '../ui.js'
import type { ProposalView } from '../../../core/index.js'
import type { AppResultOf } from '../../../main/contract.js'

const ALL = ''

/** A file's bytes as base64 (what the API takes), without a data: URL's header. */
async function base64Of(f: File): Promise<string> {
  const bytes = new Uint8Array(await f.arrayBuffer())
  let bin = ''
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(bin)
}

const withAll = (xs: string[]) => [{ value: ALL, label: 'all' }, ...xs.map((x) => ({ value: x, label: x }))]

/** A labelled select. */
function Choice(props: {
  label: string
  value: string
  set: (v: string) => void
  options: { value: string; label: string }[]
}) {
  return (
    <label>
      {props.label}{' '}
      <select value={props.value} onChange={(e) => props.set(e.target.value)}>
        {props.options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </label>
  )
}

type DiffLine = AppResultOf<'documents.diff'>['lines'][number]

/** A line diff; runs of more than 7 unchanged lines show their first and last 3 and how many are folded between. */
function DiffView({ lines, testid }: { lines: DiffLine[]; testid: string }) {
  const out: (DiffLine | { fold: number })[] = []
  for (let i = 0; i < lines.length;) {
    let j = i
    while (j < lines.length && lines[j]!.op === ' ') j++
    if (j - i > 7) out.push(...lines.slice(i, i + 3), { fold: j - i - 6 }, ...lines.slice(j - 3, j))
    else out.push(...lines.slice(i, j))
    if (j < lines.length) out.push(lines[j]!)
    i = j + 1
  }
  return (
    <pre className="diff" data-testid={testid}>
      {out.map((l, i) =>
        'fold' in l ? (
          <span key={i} className="muted">
            {`  ⋯ ${l.fold} unchanged line(s)\n`}
          </span>
        ) : (
          <span key={i} className={l.op === '+' ? 'diff-add' : l.op === '-' ? 'diff-del' : ''}>
            {`${l.op} ${l.text}\n`}
          </span>
        )
      )}
    </pre>
  )
}

type PlanFile = Pick<AppResultOf<'documents.proposalPlan'>['files'][number], 'class' | 'path' | 'doc' | 'version'> & {
  why?: string
}

/** A migration's files (what each becomes, and why where the plan says), and the entries it refused. */
function PlanFiles({
  files,
  refused = [],
  testid,
  caption
}: {
  files: PlanFile[]
  refused?: { name: string; reason: string }[]
  testid: string
  caption?: string
}) {
  const why = files.some((f) => f.why !== undefined) || refused.length > 0
  return (
    <div className="table-scroll">
      <table data-testid={testid}>
        {caption && <caption className="muted">{caption}</caption>}
        <thead>
          <tr>
            <th scope="col">Class</th>
            <th scope="col">Path</th>
            <th scope="col">Becomes</th>
            {why && <th scope="col">Why</th>}
          </tr>
        </thead>
        <tbody>
          {files.map((f) => (
            <tr key={f.path}>
              <td>{f.class}</td>
              <td className="raw">{f.path}</td>
              <td className="raw">
                {f.doc}
                {f.version ? ` ${f.version}` : ''}
              </td>
              {why && <td className="why">{f.why ?? ''}</td>}
            </tr>
          ))}
          {refused.map((r) => (
            <tr key={`refused-${r.name}`} className="bad">
              <td>REFUSED</td>
              <td className="raw">{r.name}</td>
              <td>—</td>
              <td className="why">{r.reason}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

function Migrate() {
  const { zipPlan, planZip, migrateZip } = useAppStore(
    useShallow((s) => ({ zipPlan: s.zipPlan, planZip: s.planZip, migrateZip: s.migrateZip }))
  )
  const unlocked = useAppStore(selectUnlocked)
  const readOnly = useAppStore(selectReadOnly)
  const planJob = useAppStore(selectJob('zip-plan'))
  const migrateJob = useAppStore(selectJob('zip-migrate'))
  const [reason, setReason] = useState('')
  const take = async (f: File | undefined) => {
    if (f) await planZip(f.name, await base64Of(f))
  }
  const submit = (e: FormEvent) => {
    e.preventDefault()
    void migrateZip(reason)
  }
  const plan = zipPlan?.plan
  return (
    <section aria-labelledby="migrate-head" className="detail">
      <h3 id="migrate-head">Migrate a ZIP of an old repository</h3>
      <p className="muted">
        The archive is read safely (no paths outside it, no links, bounded sizes, zip bombs refused) and nothing is
        written until you propose; then its files wait by digest for a second member&apos;s approval.
      </p>
      <label>
        ZIP file{' '}
        <input
          type="file"
          accept=".zip,application/zip"
          data-testid="zip-input"
          onChange={(e) => void take(e.target.files?.[0])}
        />
      </label>
      <JobLine job={planJob} what="read the archive" busyText="Reading the archive…" />
      {plan && (
        <>
          <p className="lead" data-testid="zip-plan-summary">
            Batch {plan.batch}: {plan.files.length} file(s) — {plan.counts.MIG_A} current, {plan.counts.MIG_B} to
            review, {plan.counts.MIG_C} legacy; {plan.counts.refused} refused
          </p>
          <PlanFiles files={plan.files} refused={plan.refused} testid="zip-plan" />
          <form className="inline-form" onSubmit={submit} aria-label="Propose the migration">
            <label>
              Reason <input value={reason} onChange={(e) => setReason(e.target.value)} required maxLength={1000} />
            </label>
            <button type="submit" disabled={!unlocked || readOnly || migrateJob.busy || plan.files.length === 0}>
              Propose the migration
            </button>
            {!unlocked && <span className="muted">Unlock the signing key to propose.</span>}
          </form>
        </>
      )}
      <JobLine job={migrateJob} what="propose the migration" />
    </section>
  )
}

function DocumentDetail() {
  const { docs, docRules, docOpen, docText, docDiff, docProof, openDocument, diffVersions, proveVersion } = useAppStore(
    useShallow((s) => ({
      docs: s.docs,
      docRules: s.docRules,
      docOpen: s.docOpen,
      docText: s.docText,
      docDiff: s.docDiff,
      docProof: s.docProof,
      openDocument: s.openDocument,
      diffVersions: s.diffVersions,
      proveVersion: s.proveVersion
    }))
  )
  const { proposeLifecycle, proposeVersion } = useAppStore(
    useShallow((s) => ({ proposeLifecycle: s.proposeLifecycle, proposeVersion: s.proposeVersion }))
  )
  const unlocked = useAppStore(selectUnlocked)
  const readOnlyVault = useAppStore(selectReadOnly)
  const diffJob = useAppStore(selectJob('doc-diff'))
  const proofJob = useAppStore(selectJob('doc-proof'))
  const lifecycleJob = useAppStore(selectJob('doc-lifecycle'))
  const versionJob = useAppStore(selectJob('doc-version'))
  const d = docs?.documents.find((x) => x.id === docOpen)
  const [from, setFrom] = useState('')
  const [to, setTo] = useState('')
  const [next, setNext] = useState('')
  const [reason, setReason] = useState('')
  const [version, setVersion] = useState('')
  const [vReason, setVReason] = useState('')
  const [sayReadOnly, setSayReadOnly] = useState(false)
  const [file, setFile] = useState<File | null>(null)
  useEffect(() => {
    if (!d) return
    setFrom(d.versions.at(-2)?.digest ?? d.versions[0]!.digest)
    setTo(d.versions.at(-1)!.digest)
    setNext('')
  }, [d])
  if (!d) return null
  // lifecycle names come from files: looked up as the record's own keys only
  const transitions = docRules?.transitions ?? {}
  const allowed = d.lifecycle
    ? Object.prototype.hasOwnProperty.call(transitions, d.lifecycle)
      ? transitions[d.lifecycle]!
      : []
    : [...(docRules?.live ?? []), ...(docRules?.retired ?? [])]
  const canSign = unlocked && !readOnlyVault
  const label = (digest: string) => {
    const v = d.versions.find((x) => x.digest === digest)
    return v ? `${v.version ?? '(no version)'} · ${v.path}` : digest.slice(0, 12)
  }
  const versionOptions = d.versions.map((v) => ({ value: v.digest, label: label(v.digest) }))
  const submitLifecycle = (e: FormEvent) => {
    e.preventDefault()
    if (next) void proposeLifecycle(d.id, next, reason)
  }
  const submitVersion = (e: FormEvent) => {
    e.preventDefault()
    if (!file) return
    void base64Of(file).then((content) =>
      proposeVersion({ doc: d.id, version, content, reason: vReason, readOnly: sayReadOnly })
    )
  }
  return (
    <section aria-labelledby="doc-head" className="detail" data-testid="document-detail">
      <div className="panel-head">
        <h3 id="doc-head">{d.id}</h3>
        <button type="button" className="secondary" onClick={() => void openDocument(null)}>
          Close
        </button>
      </div>
      <dl className="facts">
        <dt>Title</dt>
        <dd>{d.title ?? '—'}</dd>
        <dt>Lifecycle</dt>
        <dd data-testid="doc-lifecycle">{d.lifecycle ?? '—'}</dd>
        <dt>Class</dt>
        <dd>{d.class}</dd>
        <dt>Domain</dt>
        <dd>{d.domain ?? '—'}</dd>
        <dt>Mode</dt>
        <dd className={d.mode === 'READ-ONLY' ? 'bad' : ''}>{d.mode ?? '—'}</dd>
        <dt>Classification</dt>
        <dd>{d.private ? `private: ${d.private} (never written to the Git mirror)` : (d.classification ?? '—')}</dd>
      </dl>
      <h4>Versions</h4>
      <div className="table-scroll">
        <table data-testid="doc-versions">
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">Path</th>
              <th scope="col">Size</th>
              <th scope="col">SHA-256</th>
              <th scope="col">From</th>
              <th scope="col">Proof</th>
            </tr>
          </thead>
          <tbody>
            {d.versions.map((v) => (
              <tr key={v.digest}>
                <td>
                  {v.version ?? '—'}
                  {v.digest === d.current ? ' (current)' : ''}
                </td>
                <td className="raw">{v.path}</td>
                <td className="num">{v.size.toLocaleString()}</td>
                <td>
                  <code className="key" title={v.digest}>
                    {v.digest.slice(0, 12)}…
                  </code>
                </td>
                <td>{v.batch ? `batch ${v.batch}` : 'a proposed version'}</td>
                <td>
                  <button type="button" className="link" onClick={() => void proveVersion(v.event)}>
                    Inclusion proof
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <JobLine job={proofJob} what="prove the version (a checkpoint must cover it: tresor checkpoint)" />
      {docProof && (
        <pre className="json" data-testid="doc-proof">
          {JSON.stringify(docProof, null, 2)}
        </pre>
      )}
      {d.versions.length > 1 && (
        <form
          className="inline-form"
          aria-label="Compare versions"
          onSubmit={(e) => {
            e.preventDefault()
            void diffVersions(from, to)
          }}
        >
          <Choice label="From" value={from} set={setFrom} options={versionOptions} />
          <Choice label="To" value={to} set={setTo} options={versionOptions} />
          <button type="submit">Compare</button>
        </form>
      )}
      <JobLine job={diffJob} what="compare the versions" />
      {docDiff && (
        <>
          <p className="muted">
            {label(docDiff.from)} → {label(docDiff.to)}: {docDiff.added} line(s) added, {docDiff.removed} removed
          </p>
          <DiffView lines={docDiff.lines} testid="doc-diff" />
        </>
      )}
      {d.history.length > 0 && (
        <>
          <h4>Lifecycle history</h4>
          <ul className="list">
            {d.history.map((h) => (
              <li key={h.proposal}>
                {h.from ?? '—'} → {h.to}
              </li>
            ))}
          </ul>
        </>
      )}
      <h4>Current text</h4>
      {docText?.digest === d.current ? (
        docText.text === null ? (
          <p className="muted">Not text (UTF-8): its bytes are kept by digest.</p>
        ) : (
          <pre className="doc-text" data-testid="doc-text">
            {docText.text}
          </pre>
        )
      ) : (
        <p className="muted">Its bytes are not on this device yet (they arrive with sync).</p>
      )}
      <h4>Propose a change</h4>
      <p className="muted">Either needs a second member&apos;s approval before the register changes.</p>
      <form className="inline-form" onSubmit={submitLifecycle} aria-label="Propose a lifecycle change">
        <label>
          New lifecycle{' '}
          <select value={next} onChange={(e) => setNext(e.target.value)} required>
            <option value="">choose…</option>
            {allowed.map((l) => (
              <option key={l} value={l}>
                {l}
              </option>
            ))}
          </select>
        </label>
        <label>
          Reason <input value={reason} onChange={(e) => setReason(e.target.value)} required maxLength={1000} />
        </label>
        <button type="submit" disabled={!canSign || lifecycleJob.busy || allowed.length === 0}>
          Propose the change
        </button>
        {allowed.length === 0 && <span className="muted">The rules allow no change from {d.lifecycle}.</span>}
      </form>
      <JobLine job={lifecycleJob} what="propose the lifecycle change" />
      <form className="form" onSubmit={submitVersion} aria-label="Propose a new version">
        <label>
          New version&apos;s file <input type="file" onChange={(e) => setFile(e.target.files?.[0] ?? null)} required />
        </label>
        <label>
          Version <input value={version} onChange={(e) => setVersion(e.target.value)} required maxLength={200} />
        </label>
        <label>
          Reason <input value={vReason} onChange={(e) => setVReason(e.target.value)} required maxLength={1000} />
        </label>
        {d.mode === 'READ-ONLY' && (
          <label className="check">
            <input type="checkbox" checked={sayReadOnly} onChange={(e) => setSayReadOnly(e.target.checked)} /> This
            document is READ-ONLY: the proposal says it changes it anyway
          </label>
        )}
        <button type="submit" disabled={!canSign || versionJob.busy}>
          Propose the new version
        </button>
      </form>
      <JobLine job={versionJob} what="propose the new version" />
    </section>
  )
}

export function Documents() {
  const { docs, docQuarantine, docOpen, loadDocuments, openDocument } = useAppStore(
    useShallow((s) => ({
      docs: s.docs,
      docQuarantine: s.docQuarantine,
      docOpen: s.docOpen,
      loadDocuments: s.loadDocuments,
      openDocument: s.openDocument
    }))
  )
  const job = useAppStore(selectJob('documents'))
  const [lifecycle, setLifecycle] = useState(ALL)
  const [klass, setKlass] = useState(ALL)
  const [domain, setDomain] = useState(ALL)
  useEffect(() => {
    void loadDocuments()
  }, [loadDocuments])
  const all = useMemo(() => docs?.documents ?? [], [docs])
  const options = (f: (d: (typeof all)[number]) => string | null) =>
    [...new Set(all.map(f).filter((x): x is string => x !== null))].sort()
  const shown = all.filter(
    (d) =>
      (lifecycle === ALL || d.lifecycle === lifecycle) &&
      (klass === ALL || d.class === klass) &&
      (domain === ALL || d.domain === domain)
  )
  return (
    <Panel
      id="documents"
      title="Documents"
      actions={
        <button type="button" className="secondary" onClick={() => void loadDocuments()}>
          Refresh
        </button>
      }
    >
      <p className="muted">
        The register: what committed migrations and changes brought in, the same on every device that holds their
        events. Each version is kept by its SHA-256 and checked whenever it is read.
      </p>
      <JobLine job={job} what="read the documents register" />
      {docQuarantine.length > 0 && (
        <p className="note note-error" role="alert" data-testid="doc-quarantine">
          {docQuarantine.length} document blob(s) refused on arrival: {docQuarantine[0]!.reason} (from{' '}
          {docQuarantine[0]!.source}, <Time iso={docQuarantine[0]!.at} />
          ). They were not kept; the true bytes arrive from a device that holds them.
        </p>
      )}
      {(docs?.notApplied ?? []).map((n) => (
        <p className="note note-error" key={n.proposal} data-testid="doc-not-applied">
          A committed {n.kind} of {n.doc} was not applied: {n.reason}.
        </p>
      ))}
      {(docs?.waiting ?? []).map((w) => (
        <p className="note muted" key={w}>
          Waiting for a plan: {w}
        </p>
      ))}
      <div className="filters" role="group" aria-label="Filter documents">
        <Choice label="Lifecycle" value={lifecycle} set={setLifecycle} options={withAll(options((d) => d.lifecycle))} />
        <Choice label="Class" value={klass} set={setKlass} options={withAll(['MIG_A', 'MIG_B', 'MIG_C'])} />
        <Choice label="Domain" value={domain} set={setDomain} options={withAll(options((d) => d.domain))} />
      </div>
      {docs && all.length === 0 ? (
        <Empty title="No documents yet.">
          <p>Migrate a ZIP below; its files enter the register once a second member approves the proposal.</p>
        </Empty>
      ) : (
        <div className="table-scroll">
          <table data-testid="documents">
            <thead>
              <tr>
                <th scope="col">Document</th>
                <th scope="col">Lifecycle</th>
                <th scope="col">Class</th>
                <th scope="col">Domain</th>
                <th scope="col">Versions</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((d) => (
                <tr key={d.id} aria-selected={d.id === docOpen}>
                  <td className="raw">
                    <button type="button" className="link" onClick={() => void openDocument(d.id)}>
                      {d.id}
                    </button>
                    {d.title ? <span className="why">{d.title}</span> : null}
                    {d.mode === 'READ-ONLY' && <span className="badge badge-unchecked">READ-ONLY</span>}{' '}
                    {d.private && <span className="badge badge-unchecked">private</span>}
                  </td>
                  <td>{d.lifecycle ?? '—'}</td>
                  <td>{d.class}</td>
                  <td className="raw">{d.domain ?? '—'}</td>
                  <td className="num">{d.versions.length}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <DocumentDetail />
      <Migrate />
    </Panel>
  )
}

/** What a document proposal brings, for its review: a migration's every file, a new version's diff. */
export function DocumentChanges({ p }: { p: ProposalView }) {
  const { files, loadProposalFiles, docs, loadDocuments, diffVersions, docDiff } = useAppStore(
    useShallow((s) => ({
      files: s.proposalFiles.get(p.id),
      loadProposalFiles: s.loadProposalFiles,
      docs: s.docs,
      loadDocuments: s.loadDocuments,
      diffVersions: s.diffVersions,
      docDiff: s.docDiff
    }))
  )
  const job = useAppStore(selectJob('proposal-files'))
  const kind = p.action.kind
  const args = p.action.args as { doc?: string; digest?: string }
  const current = docs?.documents.find((d) => d.id === args.doc)?.current
  useEffect(() => {
    if (kind === 'doc.migrate') void loadProposalFiles(p.id)
    if (kind === 'doc.version') void loadDocuments()
  }, [kind, p.id, loadProposalFiles, loadDocuments])
  useEffect(() => {
    if (kind === 'doc.version' && current && args.digest) void diffVersions(current, args.digest)
  }, [kind, current, args.digest, diffVersions])
  if (kind === 'doc.migrate')
    return (
      <>
        <JobLine job={job} what="read the plan's files" />
        {files && (
          <PlanFiles files={files} testid="proposal-files" caption={`Every file it brings in (${files.length}):`} />
        )}
      </>
    )
  if (kind === 'doc.version' && docDiff && docDiff.to === args.digest)
    return <DiffView lines={docDiff.lines} testid="proposal-diff" />
  return null
}
