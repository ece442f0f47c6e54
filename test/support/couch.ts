/**
 * Starts the suite's CouchDB-protocol server (express-pouchdb, test/support/couch-server.mjs)
 * as a child process on a free loopback port, with an admin, users and `_security`
 * set on the vault database; stops it by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const SERVER = fileURLToPath(new URL('../../test/support/couch-server.mjs', import.meta.url) /* also from out/bench/ */)
export const ADMIN = { username: 'admin', password: 'admin-secret' }
export const WRITER = { username: 'writer', password: 'writer-secret' }
export const REVIEWER = { username: 'reviewer', password: 'reviewer-secret' }

export interface Couch {
  root: string
  dbUrl: string
  port: number
  pid: number
  stop(signal?: NodeJS.Signals): Promise<void>
  start(): Promise<void>
  request(
    method: string,
    path: string,
    body?: unknown,
    auth?: { username: string; password: string }
  ): Promise<{ status: number; json: Record<string, unknown> }>
}

function launch(dataDir: string, port: number): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SERVER, dataDir, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    const timer = setTimeout(() => reject(new Error(`couch server did not start: ${out}`)), 20_000)
    child.stdout!.on('data', (c) => {
      out += c
      const m = /listening (\d+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve({ child, port: Number(m[1]) })
      }
    })
    child.stderr!.on('data', (c) => {
      out += c
    })
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`couch server exited ${code}: ${out}`))
    })
  })
}

export async function startCouch(dataDir: string): Promise<Couch> {
  let { child, port } = await launch(dataDir, 0)
  const base = () => `http://127.0.0.1:${port}`
  const couch: Couch = {
    root: base(),
    dbUrl: `${base()}/vault`,
    port,
    pid: child.pid!,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve())
        process.kill(child.pid!, signal)
      })
    },
    async start() {
      ;({ child, port } = await launch(dataDir, port))
      couch.pid = child.pid!
    },
    async request(method, path, body, auth) {
      const headers: Record<string, string> = { 'Content-Type': 'application/json' }
      if (auth) headers.Authorization = 'Basic ' + Buffer.from(`${auth.username}:${auth.password}`).toString('base64')
      const send = () =>
        fetch(`${base()}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
      // After a restart the client's pooled keep-alive socket is dead: one retry on a fresh one.
      const res = await send().catch(() => send())
      return { status: res.status, json: (await res.json().catch(() => ({}))) as Record<string, unknown> }
    }
  }
  // Databases first, then the admin (express-pouchdb cannot create databases once an admin exists: pouchdb-server
  // #374).
  for (const db of ['vault', '_users']) await couch.request('PUT', `/${db}`)
  await couch.request('PUT', `/_config/admins/${ADMIN.username}`, ADMIN.password)
  await addUser(couch, WRITER.username, WRITER.password, ['tresor-writer'])
  await addUser(couch, REVIEWER.username, REVIEWER.password, [])
  await couch.request(
    'PUT',
    '/vault/_security',
    {
      admins: { names: [ADMIN.username], roles: [] },
      members: { names: [WRITER.username, REVIEWER.username], roles: [] }
    },
    ADMIN
  )
  return couch
}

export async function addUser(couch: Couch, name: string, password: string, roles: string[]): Promise<void> {
  const id = `org.couchdb.user:${name}`
  const prior = await couch.request('GET', `/_users/${encodeURIComponent(id)}`, undefined, ADMIN)
  const rev = prior.status === 200 ? { _rev: prior.json._rev } : {}
  const res = await couch.request(
    'PUT',
    `/_users/${encodeURIComponent(id)}`,
    { _id: id, name, password, roles, type: 'user', ...rev },
    ADMIN
  )
  if (res.status >= 300) throw new Error(`could not save user ${name}: ${JSON.stringify(res.json)}`)
}

/** A hostile operator's first step: remove the database's `_design/tresor` (its write-once rule), if it has one. */
export async function removeDesignDoc(couch: Couch, dbPath: string): Promise<void> {
  const design = await couch.request('GET', `${dbPath}/_design/tresor`, undefined, ADMIN)
  if (design.status === 404) return
  const res = await couch.request(
    'DELETE',
    `${dbPath}/_design/tresor?rev=${String(design.json._rev)}`,
    undefined,
    ADMIN
  )
  if (res.status >= 300) throw new Error(`could not remove the design document: ${JSON.stringify(res.json)}`)
}
