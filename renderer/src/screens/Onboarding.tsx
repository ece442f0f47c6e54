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
      roles: form.roles
        .split(',')
        .map((r) => r.trim())
        .filter(Boolean),
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
                </code>
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
                A member exports it with <code>tresor bundle export</code>.
              </p>
              <label>
                Bundle file{' '}
                <input
                  type="file"
                  accept=".json,application/json"
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
