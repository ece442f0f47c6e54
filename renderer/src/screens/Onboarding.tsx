/** First run: create a vault, or make this device's key and join from a bundle a member exported. */
import { useState, type FormEvent } from 'react'
import { useShallow } from 'zustand/react/shallow'
import { useAppStore } from '../store.js'
import { selectJob } from '../selectors.js'
import { JobLine, Panel } from '../ui.js'

export function Onboarding() {
  const { onboard, createVault, makeKey, joinVault, joinFrom } = useAppStore(
    useShallow((s) => ({
      onboard: s.onboard,
      createVault: s.createVault,
      makeKey: s.makeKey,
      joinVault: s.joinVault,
      joinFrom: s.joinFrom
    }))
  )
  const job = useAppStore(selectJob('onboard'))
  const keyJob = useAppStore(selectJob('keygen'))
  const [mode, setMode] = useState<'create' | 'join'>('create')
  const [form, setForm] = useState({
    vaultName: '',
    memberName: '',
    roles: 'operator',
    passphrase: '',
    repeat: '',
    bundle: '',
    url: '',
    user: '',
    password: '',
    token: ''
  })
  const [source, setSource] = useState<'bundle' | 'couch' | 'git'>('bundle')
  const [cofounders, setCofounders] = useState([{ name: '', roles: 'operator', key: '' }])
  const [copied, setCopied] = useState(false)
  const setCofounder = (i: number, patch: Partial<(typeof cofounders)[number]>) =>
    setCofounders(cofounders.map((c, j) => (j === i ? { ...c, ...patch } : c)))
  const splitRoles = (text: string) =>
    text
      .split(',')
      .map((r) => r.trim())
      .filter(Boolean)
  const [deviceKey, setDeviceKey] = useState<string | null>(onboard?.deviceKey ?? null)
  const mismatch = form.repeat !== '' && form.passphrase !== form.repeat
  const field = (name: keyof typeof form) => ({
    value: form[name],
    onChange: (e: { target: { value: string } }) => setForm({ ...form, [name]: e.target.value })
  })

  const submitCreate = (e: FormEvent) => {
    e.preventDefault()
    if (mismatch) return
    void createVault({
      vaultName: form.vaultName,
      memberName: form.memberName,
      roles: splitRoles(form.roles),
      cofounders: cofounders.map((c) => ({ name: c.name.trim(), roles: splitRoles(c.roles), key: c.key.trim() })),
      passphrase: form.passphrase
    })
  }
  const submitKey = async (e: FormEvent) => {
    e.preventDefault()
    if (mismatch) return
    setDeviceKey(await makeKey({ name: form.memberName, passphrase: form.passphrase }))
  }
  const submitJoin = (e: FormEvent) => {
    e.preventDefault()
    void joinVault({ bundle: form.bundle, passphrase: form.passphrase })
  }
  const readFile = async (file: File | undefined) => {
    if (file) setForm({ ...form, bundle: await file.text() })
  }

  return (
    <Panel id="onboarding" title="Set up this device">
      <p>
        This folder holds no vault yet
        {onboard ? (
          <>
            {' '}
            (<code>{onboard.dir}</code>)
          </>
        ) : null}
        . Create a new vault, or join one a member invited you to.
      </p>
      <div className="tabs" role="tablist" aria-label="Set up">
        <button
          type="button"
          role="tab"
          aria-selected={mode === 'create'}
          className={mode === 'create' ? 'tab on' : 'tab'}
          onClick={() => setMode('create')}
        >
          Create a vault
        </button>
        <button
          type="button"
          role="tab"
          aria-selected={mode === 'join'}
          className={mode === 'join' ? 'tab on' : 'tab'}
          onClick={() => setMode('join')}
        >
          Join a vault
        </button>
      </div>
      {mode === 'create' && (
        <form className="form" onSubmit={submitCreate} aria-label="Create a vault">
          <label>
            Vault name <input required maxLength={128} {...field('vaultName')} />
          </label>
          <label>
            Your member name <input required maxLength={64} {...field('memberName')} />
          </label>
          <label>
            Your roles (comma-separated) <input required {...field('roles')} />
          </label>
          <fieldset className="cofounders">
            <legend>Co-founders</legend>
            <p className="muted">
              Every change to a Tresor vault needs approvals from two distinct members, so a vault is founded by at
              least two: you and a co-founder. Ask them to open Tresor on their device, choose{' '}
              <em>Join a vault → 1. This device's key</em> (or run <code>tresor keygen</code>), and send you the public
              key it shows.
            </p>
            {cofounders.map((c, i) => (
              <div className="cofounder" key={i} role="group" aria-label={`Co-founder ${i + 1}`}>
                <label>
                  Name{' '}
                  <input
                    required
                    maxLength={64}
                    value={c.name}
                    onChange={(e) => setCofounder(i, { name: e.target.value })}
                  />
                </label>
                <label>
                  Roles <input required value={c.roles} onChange={(e) => setCofounder(i, { roles: e.target.value })} />
                </label>
                <label>
                  Public key (64 hex characters){' '}
                  <input
                    required
                    pattern="[0-9a-fA-F]{64}"
                    spellCheck={false}
                    value={c.key}
                    onChange={(e) => setCofounder(i, { key: e.target.value })}
                  />
                </label>
                {cofounders.length > 1 && (
                  <button
                    type="button"
                    className="secondary small"
                    onClick={() => setCofounders(cofounders.filter((_, j) => j !== i))}
                  >
                    Remove co-founder {i + 1}
                  </button>
                )}
              </div>
            ))}
            <button
              type="button"
              className="secondary small"
              disabled={cofounders.length >= 16}
              onClick={() => setCofounders([...cofounders, { name: '', roles: 'operator', key: '' }])}
            >
              Add another co-founder
            </button>
            <p data-testid="founding-policy">
              The vault starts with the default policy: every change needs the proposer and one other member (
              {1 + cofounders.length} founding members); flags also need their gate's roles — e.g.{' '}
              <code>finance_enabled</code> an operator, <code>corepay_enabled</code> an operator and a chain member.
            </p>
          </fieldset>
          <label>
            Passphrase for this device's key (10+ characters){' '}
            <input type="password" required minLength={10} autoComplete="new-password" {...field('passphrase')} />
          </label>
          <label>
            Repeat the passphrase{' '}
            <input type="password" required autoComplete="new-password" {...field('repeat')} aria-invalid={mismatch} />
          </label>
          {mismatch && (
            <p className="note-error" role="alert">
              The passphrases differ.
            </p>
          )}
          <button type="submit" disabled={job.busy}>
            Create the vault
          </button>
          <JobLine job={job} what="create the vault" busyText="Creating the vault and checking it…" />
        </form>
      )}
      {mode === 'join' && (
        <div className="steps">
          <form className="form" onSubmit={(e) => void submitKey(e)} aria-label="Make this device's key">
            <h3>1. This device's key</h3>
            {deviceKey ? (
              <p>
                Send this public key to a member; they propose <code>key-add</code> or <code>member-add</code> for you:{' '}
                <code className="key" data-testid="device-key">
                  {deviceKey}
                </code>{' '}
                <button
                  type="button"
                  className="secondary small"
                  onClick={() =>
                    void navigator.clipboard
                      ?.writeText(deviceKey)
                      .then(() => setCopied(true))
                      .catch(() => setCopied(false))
                  }
                >
                  {copied ? 'Copied' : 'Copy the key'}
                </button>
              </p>
            ) : (
              <>
                <label>
                  Your member name <input required maxLength={64} {...field('memberName')} />
                </label>
                <label>
                  Passphrase for the key (10+ characters){' '}
                  <input type="password" required minLength={10} autoComplete="new-password" {...field('passphrase')} />
                </label>
                <label>
                  Repeat the passphrase{' '}
                  <input
                    type="password"
                    required
                    autoComplete="new-password"
                    {...field('repeat')}
                    aria-invalid={mismatch}
                  />
                </label>
                <button type="submit" disabled={keyJob.busy}>
                  Make the key
                </button>
              </>
            )}
            <JobLine job={keyJob} what="make the key" />
          </form>
          <fieldset className="form">
            <legend>2. Join from</legend>
            <div className="tabs" role="radiogroup" aria-label="Join from">
              {(['bundle', 'couch', 'git'] as const).map((k) => (
                <label key={k} className="check">
                  <input type="radio" name="source" checked={source === k} onChange={() => setSource(k)} />{' '}
                  {{ bundle: 'a bundle file', couch: 'CouchDB', git: 'a Git mirror' }[k]}
                </label>
              ))}
            </div>
            <p className="muted">
              Everything is verified through the ingestion gate before anything is kept. Without a key the members
              added, this device can review but not sign.
            </p>
          </fieldset>
          {source === 'bundle' && (
            <form className="form" onSubmit={submitJoin} aria-label="Join from a bundle">
              <p className="muted">
                A member exports it for you in <em>Sync &amp; bundles → Export for</em> (or with{' '}
                <code>tresor bundle export --for NAME</code>).
              </p>
              <label>
                Bundle file{' '}
                <input
                  type="file"
                  accept=".bundle,.json,application/json"
                  onChange={(e) => void readFile(e.target.files?.[0])}
                />
              </label>
              <label>
                Device key passphrase{' '}
                <input type="password" required autoComplete="current-password" {...field('passphrase')} />
              </label>
              <button type="submit" disabled={job.busy || form.bundle === ''}>
                Join
              </button>
            </form>
          )}
          {source !== 'bundle' && (
            <form
              className="form"
              aria-label={source === 'couch' ? 'Join from CouchDB' : 'Join from Git'}
              onSubmit={(e) => {
                e.preventDefault()
                void joinFrom(source, {
                  url: form.url,
                  user: form.user,
                  password: form.password,
                  token: form.token,
                  passphrase: form.passphrase
                })
              }}
            >
              <label>
                {source === 'couch'
                  ? 'Database URL (https://host:6984/vault)'
                  : 'Repository URL (https://host/owner/repo.git)'}{' '}
                <input type="url" required {...field('url')} />
              </label>
              {source === 'couch' && (
                <label>
                  User <input autoComplete="username" {...field('user')} />
                </label>
              )}
              {source === 'couch' && (
                <label>
                  Password <input type="password" autoComplete="current-password" {...field('password')} />
                </label>
              )}
              {source === 'git' && (
                <label>
                  Access token <input type="password" required {...field('token')} />
                </label>
              )}
              <label>
                Device key passphrase (10+ characters; a new key is made if there is none){' '}
                <input type="password" required minLength={10} {...field('passphrase')} />
              </label>
              <button type="submit" disabled={job.busy}>
                Join
              </button>
              <p className="muted">
                The {source === 'couch' ? 'password' : 'token'} is kept sealed with the device passphrase, never in
                clear.
              </p>
            </form>
          )}
          <JobLine job={job} what="join" busyText="Fetching and verifying every event…" />
        </div>
      )}
    </Panel>
  )
}
