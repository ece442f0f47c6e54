/**
 * The app shell: onboarding until the folder holds a vault; then a header
 * (vault, READ-ONLY banner, lock state), a keyboard-reachable navigation and
 * one screen. Status, inbox and proposals refresh every few seconds so work
 * synced in from other devices shows up.
 */
import { useEffect, useRef, useState, type FormEvent } from 'react'
import { reviewAction } from '../../core/review.js'
import { useShallow } from 'zustand/react/shallow'
import { useAppStore, type Screen } from './store.js'
import { follow } from './api-client.js'
import { selectInboxCount, selectJob, selectReadOnly, selectScreen, selectStatus, selectUnlocked } from './selectors.js'
import { ErrorNote, JobLine, Key } from './ui.js'
import { Onboarding } from './screens/Onboarding.js'
import { Health, ReadOnlyBanner } from './screens/Health.js'
import { Flags, Inbox, Members, ProposalDetail, Registers } from './screens/Governance.js'
import { AuditLog } from './screens/AuditLog.js'
import { Telemetry } from './screens/Telemetry.js'
import { Sync } from './screens/Sync.js'
import { Devices } from './screens/Devices.js'
import { Documents } from './screens/Documents.js'

const NAV: { screen: Screen; label: string }[] = [
  { screen: 'health', label: 'Health' },
  { screen: 'inbox', label: 'Inbox' },
  { screen: 'log', label: 'Audit log' },
  { screen: 'members', label: 'Members & keys' },
  { screen: 'devices', label: 'Devices' },
  { screen: 'flags', label: 'Flags & gates' },
  { screen: 'registers', label: 'Registers' },
  { screen: 'documents', label: 'Documents' },
  { screen: 'telemetry', label: 'Telemetry' },
  { screen: 'sync', label: 'Sync & bundles' }
]

/** How often the app polls while the push channel is down (never while it is up). */
const POLL_MS = 2000

function LockControl() {
  const unlocked = useAppStore(selectUnlocked)
  const keychain = useAppStore((s) => s.status?.keychain)
  const { unlock, lock } = useAppStore(useShallow((s) => ({ unlock: s.unlock, lock: s.lock })))
  const job = useAppStore(selectJob('unlock'))
  const [passphrase, setPassphrase] = useState('')
  const [remember, setRemember] = useState(false)
  if (unlocked) {
    return (
      <div className="lock">
        <span className="good">Signing key unlocked</span>
        <button type="button" className="secondary" onClick={() => void lock()}>
          Lock
        </button>
        {keychain?.remembered && (
          <button type="button" className="secondary" onClick={() => void lock(true)}>
            Lock and forget the passphrase
          </button>
        )}
      </div>
    )
  }
  const submit = (e: FormEvent) => {
    e.preventDefault()
    void unlock(passphrase, remember).then(() => setPassphrase(''))
  }
  return (
    <form className="lock" onSubmit={submit} aria-label="Unlock the device key">
      <label>
        Passphrase{' '}
        <input
          type="password"
          autoComplete="current-password"
          value={passphrase}
          onChange={(e) => setPassphrase(e.target.value)}
          required
        />
      </label>
      {keychain?.ok && (
        <label className="check">
          <input type="checkbox" checked={remember} onChange={(e) => setRemember(e.target.checked)} /> remember in the
          OS keychain
        </label>
      )}
      <button type="submit" disabled={job.busy}>
        Unlock
      </button>
      {job.error && (
        <span className="note-error" role="alert">
          {job.error.code === 'KEY_AUTH_FAILED' ? 'Wrong passphrase.' : job.error.message}
        </span>
      )}
    </form>
  )
}

const NOTIFY_KEY = 'tresor.notify'

/**
 * What needs me, outside the inbox: a count in the window title, and (opted into, per device) a notification for
 * each item that newly needs me — a proposal to sign, or one that became ready to commit. Items already there when
 * the app opens are not announced.
 */
function Attention() {
  const inbox = useAppStore((s) => s.inbox)
  const gov = useAppStore((s) => s.gov)
  const count = useAppStore(selectInboxCount)
  const supported = typeof Notification !== 'undefined'
  const [on, setOn] = useState(() => supported && localStorage.getItem(NOTIFY_KEY) === 'on')
  const seen = useRef<Set<string> | null>(null)
  useEffect(() => {
    document.title = count > 0 ? `(${count}) Tresor` : 'Tresor'
  }, [count])
  useEffect(() => {
    if (!gov) return
    const items = [
      ...inbox.toSign.map((p) => ({ key: `sign:${p.id}`, p, what: 'awaits your signature' })),
      ...inbox.toCommit.map((p) => ({ key: `commit:${p.id}`, p, what: 'is ready for you to commit' }))
    ]
    const first = seen.current === null
    const known = (seen.current ??= new Set())
    const fresh = items.filter((i) => !known.has(i.key))
    for (const i of fresh) known.add(i.key)
    if (first || !on || Notification.permission !== 'granted') return
    for (const i of fresh.slice(0, 3)) {
      new Notification('Tresor', { body: `${reviewAction(gov, i.p.action).title} ${i.what}`, tag: i.key })
    }
  }, [inbox, gov, on])
  if (!supported) return null
  const toggle = async () => {
    if (on) {
      localStorage.setItem(NOTIFY_KEY, 'off')
      setOn(false)
      return
    }
    const permission = Notification.permission === 'granted' ? 'granted' : await Notification.requestPermission()
    if (permission !== 'granted') return
    localStorage.setItem(NOTIFY_KEY, 'on')
    setOn(true)
  }
  return (
    <button type="button" className="secondary small" aria-pressed={on} onClick={() => void toggle()}>
      {on ? 'Notifications on' : 'Notify me of new items'}
    </button>
  )
}

function Nav() {
  const screen = useAppStore(selectScreen)
  const go = useAppStore((s) => s.go)
  const inbox = useAppStore(selectInboxCount)
  // In a narrow window the list folds behind a menu button (CSS shows the button only there); it folds again after
  // each choice so the screen gets the room.
  const [open, setOpen] = useState(false)
  const label = NAV.find((n) => n.screen === screen || (n.screen === 'inbox' && screen === 'proposal'))?.label
  return (
    <nav aria-label="Screens" className={open ? undefined : 'collapsed'}>
      <button type="button" className="nav-toggle secondary" aria-expanded={open} onClick={() => setOpen(!open)}>
        ☰ {label ?? 'Screens'}
        {inbox > 0 ? <span className="count">{inbox}</span> : null}
      </button>
      <ul>
        {NAV.map((n) => (
          <li key={n.screen}>
            <button
              type="button"
              className={screen === n.screen || (n.screen === 'inbox' && screen === 'proposal') ? 'nav on' : 'nav'}
              aria-current={screen === n.screen ? 'page' : undefined}
              onClick={() => {
                go(n.screen)
                setOpen(false)
              }}
            >
              {n.label}
              {n.screen === 'inbox' && inbox > 0 ? (
                <span className="count" aria-label={`${inbox} need you`}>
                  {inbox}
                </span>
              ) : null}
            </button>
          </li>
        ))}
      </ul>
    </nav>
  )
}

function Current() {
  const screen = useAppStore(selectScreen)
  const { loadLedger } = useAppStore(useShallow((s) => ({ loadLedger: s.loadLedger })))
  useEffect(() => {
    if (screen === 'registers') void loadLedger()
  }, [screen, loadLedger])
  switch (screen) {
    case 'health':
      return <Health />
    case 'inbox':
      return <Inbox />
    case 'proposal':
      return <ProposalDetail />
    case 'log':
      return <AuditLog />
    case 'members':
      return <Members />
    case 'devices':
      return <Devices />
    case 'flags':
      return <Flags />
    case 'registers':
      return <Registers />
    case 'documents':
      return <Documents />
    case 'telemetry':
      return <Telemetry />
    case 'sync':
      return <Sync />
  }
}

export function App() {
  const status = useAppStore(selectStatus)
  const readOnly = useAppStore(selectReadOnly)
  const { onboard, statusError, loadOnboard, loadStatus, loadGov, refreshOn, setPush } = useAppStore(
    useShallow((s) => ({
      onboard: s.onboard,
      statusError: s.statusError,
      loadOnboard: s.loadOnboard,
      loadStatus: s.loadStatus,
      loadGov: s.loadGov,
      refreshOn: s.refreshOn,
      setPush: s.setPush
    }))
  )
  const govJob = useAppStore(selectJob('gov'))
  useEffect(() => {
    void loadOnboard()
  }, [loadOnboard])
  const hasVault = onboard?.hasVault === true
  useEffect(() => {
    if (!hasVault) return
    const tick = () => {
      void loadStatus()
      void loadGov()
    }
    tick()
    // The host pushes what changed and the store fetches that again; only while the push channel is down does the
    // app poll (and it fetches everything once it is back).
    let timer: ReturnType<typeof setInterval> | null = null
    const stop = follow(
      (events) => void refreshOn(events),
      (state) => {
        setPush(state)
        if (state === 'live') {
          if (timer) {
            clearInterval(timer)
            timer = null
            tick()
          }
        } else timer ??= setInterval(tick, POLL_MS)
      }
    )
    return () => {
      stop()
      if (timer) clearInterval(timer)
    }
  }, [hasVault, loadStatus, loadGov, refreshOn, setPush])

  return (
    <>
      <header className="top">
        <h1>Tresor</h1>
        {status && (
          <p className="vault-name">
            {status.name} <Key hex={status.vaultId} />
          </p>
        )}
        {status && <Attention />}
        {status && <LockControl />}
      </header>
      {readOnly && status && (
        <div className="banner-wrap">
          <ReadOnlyBanner reason={status.health.reason} damaged={status.health.damaged} />
        </div>
      )}
      <div className={hasVault ? 'layout' : 'layout single'}>
        {hasVault && <Nav />}
        <main>
          {!onboard && !statusError && <p className="muted">Opening the vault…</p>}
          {onboard?.error && (
            <section className="panel">
              <ErrorNote
                error={{ code: onboard.error.code, message: onboard.error.message } as never}
                what="open the vault"
              />
            </section>
          )}
          {statusError && !hasVault && (
            <section className="panel">
              <ErrorNote error={statusError} what="reach the vault" />
              <button type="button" onClick={() => void loadOnboard()}>
                Try again
              </button>
            </section>
          )}
          {onboard && !onboard.hasVault && !onboard.error && <Onboarding />}
          {hasVault && status && <Current />}
          {hasVault && govJob.error && <JobLine job={govJob} what="load governance" />}
        </main>
      </div>
    </>
  )
}
