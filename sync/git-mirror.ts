/**
 * The Git mirror: the vault as files in a Git repository reached over smart
 * HTTP with a token (GitHub, Gitea or any host). Layout 2 (written now): each
 * device feed is a tiled transparency log under `logs/<device key>/`
 * (c2sp.org/tlog-tiles: hash tiles, entry bundles, the events' signed bytes
 * in bundles of 256, the feed's signed checkpoint note; sync/mirror-logs.ts),
 * so any tlog-tiles client can read it, a full tile never changes, and a round
 * costs what was added. Layout 1 (`feeds/<author>/<seq>.json`, one file per
 * event) is still read, never written or removed. Checkpoints are anchored as
 * an append-only YAML chain (`anchors/<n>.yaml`, each naming the hash of the
 * one before). The mirror is untrusted: everything read from it passes the
 * ingestion gate, and anchors are an outside witness: a history that was
 * force-pushed, anchors rewritten or removed, full tiles removed or changed,
 * truncated bundles, or anchors that disagree with this device's log are
 * reported and nothing of them is applied.
 *
 * Nothing private leaves the device: an event whose payload has a `private`
 * field is written as a redacted stub (ids, position and the SHA-256 of the
 * private value), never its bytes; and no secret is ever written.
 */
import {
  blobExchangeOf,
  syncFolders,
  canonicalize,
  checkCheckpointPayload,
  decodeEvent,
  dict,
  dictFrom,
  eventDocId,
  GENESIS_TYPE,
  indexLog,
  makeIncident,
  MAX_INCIDENT_MARKS,
  NOT_FOUND,
  own,
  readJsonFileIfExists,
  REMOTE_REFUSED,
  rootOf,
  sha256Hex,
  toHex,
  VERIFY_FAILED,
  writeJsonFile,
  type CheckpointPayload,
  type IncidentMark,
  type Json,
  type SignedEvent,
  type Vault
} from '../core/index.js'
import fs from 'node:fs'
import { mkdir, mkdtemp, open, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { bookOf, reportIncidents, type IncidentBook } from './incidents.js'
import {
  allFeedDocs,
  checkLaidOut,
  checkMirrorCheckpoint,
  layOutFeed,
  LOGS_DIR,
  mirroredFeeds,
  mirroredSize,
  readFeed,
  writeCheckpoint
} from './mirror-logs.js'
import { tilePath, TILE_WIDTH } from './tiles.js'
import { lazyPackage } from '../core/index.js'

const yaml = lazyPackage<typeof import('yaml')>('yaml')
const git = lazyPackage<typeof import('isomorphic-git')>('isomorphic-git')
const http = lazyPackage<typeof import('isomorphic-git/http/node')>('isomorphic-git/http/node')

export const MIRROR_DIR = 'git-mirror'
export const GIT_STATE_FILE = 'sync-git.json'
const AUTHOR = { name: 'Tresor', email: 'tresor@localhost' }
/** Above this many events to lay out, read the store once in sequence rather than feed by feed. */
const BULK_READ = 20_000
const README = `# Tresor vault mirror

This repository mirrors a Tresor vault. Each device's feed is a tiled
transparency log (https://c2sp.org/tlog-tiles) whose origin is
\`tresor.vault/<vault id>/<device key>\`:

- \`vault.json\`: the vault id (the SHA-256 of its genesis event) and name.
- \`logs/<device key>/checkpoint\`: the device's latest signed checkpoint
  (a C2SP signed note) with the cosignatures of the devices that witnessed it.
- \`logs/<device key>/tile/<L>/<N>\`, \`tile/entries/<N>\`: hash tiles and entry
  bundles (each entry is an event id); full tiles never change, partial ones
  (\`.p/<W>\`) are replaced as the feed grows.
- \`logs/<device key>/events/<N>\`: the same entries as signed events, one per
  line. Events with private fields appear as redacted stubs.
- \`anchors/<n>.yaml\`: signed checkpoints (every feed's length and Merkle root),
  each naming the SHA-256 of the anchor before it. Append-only.

To verify: \`tresor join --git <this repository's URL> --dir <empty folder>\`
checks every signature, chain link and governance rule, or check single
events with \`tresor verify-proof\`.
`

export interface GitState {
  v: 1
  url: string
  /** The commit this device last pushed (or found) on the mirror: the mirror's history must keep it. */
  lastCommit: string | null
  /** Anchors seen on the mirror: number → SHA-256 of the file. */
  anchors: Record<string, string>
  lastSuccess: string | null
  lastError: string | null
  lastRollback: { at: string; message: string } | null
  /** What the mirror did wrong, signed as sync.incident events (or waiting to be). Absent in files from before. */
  incidents?: IncidentBook
  /** Layout 2: each feed's size as the mirror laid it out at the last round (a hint; the mirror's files decide). */
  laidOut?: Record<string, number>
  /** Layout 1: the tree of `feeds/` last read (unchanged: not read again). */
  legacyTree?: string | null
  /** Layout 2: the SHA-256 of each feed's checkpoint file last checked. */
  checkpoints?: Record<string, string>
}

export interface GitRound {
  read: number
  admitted: number
  duplicates: number
  quarantined: number
  private: number
  written: number
  anchored: number
  pushed: boolean
  problems: string[]
  /** Ids of the sync.incident events this round signed (what the mirror did wrong, now or waiting for the key). */
  incidents: string[]
  /** Document blobs taken in from the mirror (through the blob gate) and written to it. */
  blobs: { pulled: number; written: number }
}

interface RedactedStub {
  format: 'tresor-redacted-event'
  v: 1
  id: string
  author: string
  seq: number
  type: string
  ts: string
  private: string
}

async function loadState(dir: string, url: string): Promise<GitState> {
  const s = (await readJsonFileIfExists(join(dir, GIT_STATE_FILE), 16 * 1024 * 1024, 6).catch(
    () => null
  )) as GitState | null
  // File names the mirror chose are keys here: a null-prototype record.
  return s?.v === 1 && s.url === url
    ? {
        ...s,
        anchors: dictFrom(s.anchors),
        laidOut: dictFrom(s.laidOut ?? {}),
        checkpoints: dictFrom(s.checkpoints ?? {})
      }
    : { v: 1, url, lastCommit: null, anchors: dict(), lastSuccess: null, lastError: null, lastRollback: null }
}

const anchorPath = (n: number) => `anchors/${String(n).padStart(6, '0')}.yaml`

/** The line an event becomes in the mirror: its bytes, or a stub when it carries private data. */
export function mirrorFile(raw: string, id: string): string {
  if (!raw.includes('"private":')) return raw + '\n' // canonical JSON: a private field is spelled so
  const event = JSON.parse(raw) as SignedEvent
  if (!Object.prototype.hasOwnProperty.call(event.payload, 'private')) return raw + '\n'
  const stub: RedactedStub = {
    format: 'tresor-redacted-event',
    v: 1,
    id,
    author: event.author,
    seq: event.seq,
    type: event.type,
    ts: event.ts,
    private: `sha256:${sha256Hex(canonicalize(event.payload.private as Json))}`
  }
  return JSON.stringify(stub) + '\n'
}

/** Fetch the mirror's main branch into `work` and check it out; null when the mirror is empty. */
async function fetchMain(work: string, url: string, token: string): Promise<string | null> {
  const onAuth = () => ({ username: 'tresor', password: token })
  await git().addRemote({ fs, dir: work, remote: 'origin', url, force: true })
  const res = await git().fetch({
    fs,
    http: http(),
    dir: work,
    remote: 'origin',
    ref: 'main',
    singleBranch: true,
    tags: false,
    onAuth
  })
  if (!res.fetchHead) return null // an empty mirror
  await git().writeRef({ fs, dir: work, ref: 'refs/heads/main', value: res.fetchHead, force: true })
  await git().checkout({ fs, dir: work, ref: 'main', force: true })
  return res.fetchHead
}

async function listFiles(dir: string, sub: string): Promise<string[]> {
  const out: string[] = []
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(join(dir, rel), { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(join(rel, e.name))
      else out.push(join(rel, e.name))
    }
  }
  await walk(sub)
  return out.sort()
}

/** One round: fetch, check the witness, take in what others pushed (through the gate), add ours, push. */
export async function syncGit(vault: Vault, options: { url: string; token: string }): Promise<GitRound> {
  const state = await loadState(vault.dir, options.url)
  const work = join(vault.dir, MIRROR_DIR)
  await mkdir(work, { recursive: true })
  if (!fs.existsSync(join(work, '.git'))) await git().init({ fs, dir: work, defaultBranch: 'main' })
  const round: GitRound = {
    read: 0,
    admitted: 0,
    duplicates: 0,
    quarantined: 0,
    private: 0,
    written: 0,
    anchored: 0,
    pushed: false,
    problems: [],
    incidents: [],
    blobs: { pulled: 0, written: 0 }
  }
  try {
    const head = await fetchMain(work, options.url, options.token)
    const book = bookOf(state.incidents)
    state.incidents = book
    const incident = (kind: 'rollback' | 'rewrite', detail: string, marks: IncidentMark[] = []) =>
      makeIncident({ witness: 'git', kind, url: options.url, detail, marks, seenAt: new Date().toISOString() })
    const witness = await checkWitness(vault, work, head, state)
    if (witness.problems.length > 0) {
      round.problems.push(...witness.problems)
      state.lastRollback = { at: new Date().toISOString(), message: witness.problems.join('; ') }
      if (witness.mirrorAtFault)
        round.incidents.push(
          ...(await reportIncidents(vault, book, [
            incident(witness.rolledBack ? 'rollback' : 'rewrite', witness.problems.join('; '))
          ]))
        )
      throw VERIFY_FAILED(
        `the mirror disagrees with what this device saw before: ${witness.problems[0]}; nothing applied, nothing pushed`
      )
    }
    // A fast-forward that takes an event file or a full tile away, or rewrites one, is reported (once: the next round
    // starts after it); what was taken away is written back below. Nothing is read from a mirror that did it.
    const found =
      head && state.lastCommit && head !== state.lastCommit
        ? await rewritingCommits(work, head, state.lastCommit)
        : { problems: [], marks: [] }
    round.problems.push(...found.problems)
    round.incidents.push(
      ...(await reportIncidents(
        vault,
        book,
        found.problems.length > 0 ? [incident('rewrite', found.problems.join('; '), found.marks)] : []
      ))
    )
    const sizes = await mirrorSizes(vault, work, state)
    if (found.problems.length === 0) {
      await takeIn(vault, work, head, state, sizes, round)
      await takeBlobs(vault, work, options.url, round)
    }
    // What the mirror lays out of feeds this device holds must be what this device holds.
    for (const [author, size] of sizes) {
      const checked = await checkLaidOut(vault, work, author, own(state.laidOut ?? {}, author) ?? 0, size)
      round.problems.push(...checked.problems)
      sizes.set(author, checked.from)
    }
    const { added, removed } = await writeOurs(vault, work, sizes, round)
    if (added.length > 0 || removed.length > 0) {
      // isomorphic-git opens every file of one add at once: batches keep it under the open-file limit
      for (let i = 0; i < added.length; i += 256) await git().add({ fs, dir: work, filepath: added.slice(i, i + 256) })
      for (const filepath of removed) await git().remove({ fs, dir: work, filepath })
      const oid = await git().commit({
        fs,
        dir: work,
        message: `tresor: ${round.written} event(s), ${round.anchored} anchor(s)`,
        author: AUTHOR
      })
      const res = await git().push({
        fs,
        http: http(),
        dir: work,
        url: options.url,
        ref: 'main',
        onAuth: () => ({ username: 'tresor', password: options.token })
      })
      if (!res.ok) throw REMOTE_REFUSED(`the mirror refused the push: ${JSON.stringify(res.refs)}`)
      round.pushed = true
      state.lastCommit = oid
    } else {
      state.lastCommit = head ?? state.lastCommit
    }
    state.laidOut = dictFrom(Object.fromEntries(sizes))
    for (const f of await listFiles(work, 'anchors')) state.anchors[f] = sha256Hex(await readFile(join(work, f)))
    state.lastSuccess = new Date().toISOString()
    state.lastError = null
    return round
  } catch (err) {
    state.lastError = (err as Error).message.replace(options.token, '***')
    throw err
  } finally {
    await writeJsonFile(join(vault.dir, GIT_STATE_FILE), state)
  }
}

/** Force-push, rewritten or removed anchors, anchors that disagree with this device's log. */
async function checkWitness(
  vault: Vault,
  work: string,
  head: string | null,
  state: GitState
): Promise<{ problems: string[]; mirrorAtFault: boolean; rolledBack: boolean }> {
  const problems: string[] = []
  let rolledBack = false
  if (state.lastCommit) {
    const kept =
      head !== null &&
      (head === state.lastCommit ||
        (await git()
          .isDescendent({ fs, dir: work, oid: head, ancestor: state.lastCommit, depth: -1 })
          .catch(() => false)))
    if (!kept) {
      problems.push(
        `the mirror's history no longer contains commit ${state.lastCommit.slice(0, 12)} (force-pushed or replaced: rollback)`
      )
      rolledBack = true
    }
  }
  for (const [file, sha] of Object.entries(state.anchors)) {
    const text = await readFile(join(work, file)).catch(() => null)
    if (!text) problems.push(`anchor ${file} was removed`)
    else if (sha256Hex(text) !== sha) problems.push(`anchor ${file} was rewritten`)
  }
  if (problems.length > 0) return { problems, mirrorAtFault: true, rolledBack }
  const verdict = { problems, mirrorAtFault: false, rolledBack }
  const anchors = await listFiles(work, 'anchors')
  // Anchors checked at an earlier round are unchanged (above): only the new ones are read against the log.
  if (anchors.every((f) => own(state.anchors, f) !== undefined)) return verdict
  const index = await indexLog(vault)
  let prev = 'genesis'
  for (const file of anchors) {
    const text = await readFile(join(work, file), 'utf8')
    const a = yaml().parse(text, { maxAliasCount: 0 }) as { prev?: string; checkpoint?: string }
    if (a?.prev !== prev) problems.push(`anchor ${file} does not continue the anchor chain`)
    prev = sha256Hex(text)
    if (own(state.anchors, file) !== undefined) continue
    let payload: CheckpointPayload
    try {
      const cp = decodeEvent(String(a?.checkpoint), vault.vaultId)
      payload = checkCheckpointPayload(cp.event.payload)
    } catch (err) {
      problems.push(`anchor ${file} holds no valid checkpoint: ${(err as Error).message}`)
      continue
    }
    for (const f of payload.feeds) {
      const leaves = index.leaves.get(f.author) ?? []
      if (f.author === vault.device && leaves.length < f.length)
        problems.push(
          `anchor ${file} shows this device's feed at ${f.length} events, the log here holds ${leaves.length}: this device was rolled back`
        )
      else if (leaves.length >= f.length && toHex(rootOf(leaves, 0, f.length)) !== f.root)
        problems.push(`anchor ${file} disagrees with the log for feed ${f.author.slice(0, 8)}… (fork)`)
    }
  }
  return verdict
}

/** The most commits one round looks through (a mirror gets one per round of each device). */
const MAX_COMMITS_CHECKED = 10_000

/**
 * Commits since `since` that remove or change an event or anchor file: the
 * mirror is append-only, so even a fast-forward that takes something away
 * (or rewrites it and puts it back later) is reported.
 */
async function rewritingCommits(
  work: string,
  head: string,
  since: string
): Promise<{ problems: string[]; marks: IncidentMark[] }> {
  const problems: string[] = []
  const marks: IncidentMark[] = []
  const seen = new Set<string>([since])
  const queue = [head]
  while (queue.length > 0) {
    const oid = queue.shift()!
    if (seen.has(oid)) continue
    seen.add(oid)
    if (seen.size > MAX_COMMITS_CHECKED) {
      problems.push(
        `more than ${MAX_COMMITS_CHECKED} new commits on the mirror since the last round: not all were checked for removed or changed files`
      )
      break
    }
    const { commit } = await git().readCommit({ fs, dir: work, oid })
    for (const parent of commit.parent) {
      const { commit: before } = await git().readCommit({ fs, dir: work, oid: parent })
      for (const lost of await lostFiles(work, before.tree, commit.tree, '')) {
        problems.push(`commit ${oid.slice(0, 12)} ${lost.kind} ${lost.path} (the mirror is append-only)`)
        const m = /^feeds\/([0-9a-f]{64})\/(\d{12})\.json$/.exec(lost.path)
        if (m && marks.length < MAX_INCIDENT_MARKS) {
          // The event as the mirror served it before: its id is what was taken away.
          const { blob } = await git().readBlob({ fs, dir: work, oid: lost.oid })
          marks.push({ author: m[1]!, seq: Number(m[2]), id: sha256Hex(Buffer.from(blob).toString('utf8').trimEnd()) })
        }
      }
      queue.push(parent)
    }
  }
  return { problems, marks }
}

/** Event and anchor files of tree `before` that tree `after` lacks or holds different (equal subtrees are not read). */
type Lost = { path: string; oid: string; kind: 'removes' | 'changes' }

async function lostFiles(
  work: string,
  before: string,
  after: string | null,
  prefix: string,
  out: Lost[] = []
): Promise<Lost[]> {
  if (before === after) return out
  const old = (await git().readTree({ fs, dir: work, oid: before })).tree
  const now = new Map(
    after === null ? [] : (await git().readTree({ fs, dir: work, oid: after })).tree.map((e) => [e.path, e])
  )
  for (const e of old) {
    if (prefix === '' && e.path !== 'feeds' && e.path !== 'anchors' && e.path !== LOGS_DIR) continue
    const path = `${prefix}${e.path}`
    const n = now.get(e.path)
    // Layout 2: a feed's checkpoint note and its partial tiles are replaced as it grows (each device checks what they
    // hold against its own copy of the feed: sync/mirror-logs.ts); full tiles and bundles never change.
    if (/^logs\/[0-9a-f]{64}\/checkpoint$/.test(path)) continue
    if (e.type !== 'tree' && /\.p\/\d+$/.test(path)) continue
    // Subtrees add to the same list (a feed folder may hold more files than a spread takes arguments).
    if (e.type === 'tree')
      // n not a tree: every file under it is gone
      await lostFiles(work, e.oid, n?.type === 'tree' ? n.oid : null, `${path}/`, out)
    else if (!n) out.push({ path, oid: e.oid, kind: 'removes' })
    else if (n.oid !== e.oid || n.type !== e.type) out.push({ path, oid: e.oid, kind: 'changes' })
  }
  return out
}

/** Each feed's size as the mirror lays it out (layout 2), for every feed it or this device holds. */
async function mirrorSizes(vault: Vault, work: string, state: GitState): Promise<Map<string, number>> {
  const sizes = new Map<string, number>()
  for (const a of new Set([...(await mirroredFeeds(work)), ...Object.keys(vault.heads())]))
    sizes.set(a, await mirroredSize(work, a, own(state.laidOut ?? {}, a) ?? 0))
  return sizes
}

/** What the mirror holds past this device's copy goes through the vault's ingestion gate. */
async function takeIn(
  vault: Vault,
  work: string,
  head: string | null,
  state: GitState,
  sizes: Map<string, number>,
  round: GitRound
): Promise<void> {
  const incoming: { docId: string; raw: unknown }[] = []
  // Layout 1, as older rounds wrote it: read whole, and again only when its tree changed.
  const legacy = head
    ? await git()
        .readTree({ fs, dir: work, oid: head, filepath: 'feeds' })
        .then(
          (t) => t.oid,
          () => null
        )
    : null
  if (legacy !== null && legacy !== state.legacyTree) {
    for (const file of await listFiles(work, 'feeds')) {
      const m = /^feeds\/([0-9a-f]{64})\/(\d{12})\.json$/.exec(file)
      if (!m) {
        round.problems.push(`unexpected file ${file}`)
        continue
      }
      const text = (await readFile(join(work, file), 'utf8')).trimEnd()
      round.read++
      if (text.includes('"format":"tresor-redacted-event"')) {
        round.private++
        continue
      }
      incoming.push({ docId: eventDocId(m[1]!, Number(m[2])), raw: text })
    }
  }
  const heads = vault.heads()
  for (const [author, size] of sizes) {
    const held = heads[author]?.length ?? 0
    if (size <= held) continue
    const r = await readFeed(work, author, held, size)
    round.read += r.read
    round.private += r.redacted
    if (r.problems.length > 0) {
      round.problems.push(...r.problems)
      continue // nothing of a feed whose bundles do not hold together
    }
    incoming.push(...r.events)
  }
  if (incoming.length > 0)
    for (const v of await vault.ingestAll(incoming)) {
      if (v.decision === 'ADMIT') round.admitted++
      else if (v.decision === 'DUPLICATE') round.duplicates++
      else if (v.decision === 'QUARANTINE') {
        round.quarantined++
        round.problems.push(`${v.docId}: ${v.reason}`)
      }
    }
  state.legacyTree = legacy ?? state.legacyTree ?? null
  // A feed's checkpoint note, when it changed: signed by its device and true to the events this device holds.
  const checked = (state.checkpoints ??= dict())
  for (const author of sizes.keys()) {
    const text = await readFile(join(work, LOGS_DIR, author, 'checkpoint')).catch(() => null)
    if (!text || own(checked, author) === sha256Hex(text)) continue
    const problem = await checkMirrorCheckpoint(vault, work, author)
    if (problem) round.problems.push(problem)
    else checked[author] = sha256Hex(text)
  }
}

async function readAtMost(path: string, max: number): Promise<Buffer> {
  const fh = await open(path, 'r')
  try {
    const buf = Buffer.alloc(max)
    const { bytesRead } = await fh.read(buf, 0, max, 0)
    return buf.subarray(0, bytesRead)
  } finally {
    await fh.close()
  }
}

/** The most of one blob file read from the mirror (the largest document bound a vault can govern, and one byte). */
const MAX_BLOB_READ = 256 * 2 ** 20 + 1

const blobPath = (digest: string) => `blobs/sha256/${digest.slice(0, 2)}/${digest}`

/** The blobs the documents need and this device lacks, from the mirror, each through the blob gate. */
async function takeBlobs(vault: Vault, work: string, url: string, round: GitRound): Promise<void> {
  const x = blobExchangeOf(vault)
  const wanted = await x.wanted()
  const folders = new Set<string>()
  for (const digest of await x.missing()) {
    const path = join(work, blobPath(digest))
    const size = await stat(path).then(
      (st) => st.size,
      () => null
    )
    if (size === null) continue // not on the mirror (yet)
    // a file larger than its plan says is not read whole: its first bytes are kept as evidence
    const bytes = await readAtMost(path, Math.min(size, wanted.get(digest)!.size + 1, MAX_BLOB_READ))
    const verdict = await x.accept(digest, bytes, url, folders)
    if (verdict === 'ADMIT') round.blobs.pulled++
    else if (verdict !== 'DUPLICATE' && verdict !== 'KNOWN') {
      round.quarantined++
      round.problems.push(`blob ${digest.slice(0, 16)}…: ${verdict.reason} (quarantined)`)
    }
  }
  await syncFolders(folders) // what was kept is durable before the round reports it
}

/** Lay out what this device holds past the mirror's size of each feed, anchor the new checkpoints. */
async function writeOurs(
  vault: Vault,
  work: string,
  sizes: Map<string, number>,
  round: GitRound
): Promise<{ added: string[]; removed: string[] }> {
  const added: string[] = []
  const removed: string[] = []
  const put = async (path: string, text: string) => {
    await mkdir(join(work, path, '..'), { recursive: true })
    await writeFile(join(work, path), text)
    added.push(path)
  }
  if (!fs.existsSync(join(work, 'vault.json'))) {
    await put(
      'vault.json',
      JSON.stringify(
        { format: 'tresor-git-mirror', v: 2, vault: vault.vaultId, name: vault.config.name, layout: 'tlog-tiles' },
        null,
        2
      ) + '\n'
    )
    await put('README.md', README)
  }
  await vault.flush() // every acknowledged append is in the store the layout reads
  const heads = vault.heads()
  const checkpoints: string[] = []
  // Cosignatures among what is laid out now, by checkpoint body (filled as the feeds are laid out).
  const cosigned = new Map<string, string[]>()
  const plans: [string, number, number][] = []
  for (const [author, h] of Object.entries(heads)) {
    const from = sizes.get(author) ?? 0
    if (h.length > from) plans.push([author, from, h.length])
  }
  // Most of the log to lay out (a first push): one sequential read of the store instead of a range read per feed.
  const bulk =
    plans.reduce((n, [, from, to]) => n + to - from, 0) > BULK_READ
      ? await allFeedDocs(
          vault,
          new Map(
            plans.map(([author, from, to]) => [author, { start: Math.floor(from / TILE_WIDTH) * TILE_WIDTH, to }])
          )
        )
      : null
  for (const [author, from, to] of plans) {
    const laid = await layOutFeed(vault, work, author, from, to, mirrorFile, cosigned, bulk?.get(author))
    bulk?.delete(author) // its bodies are not needed any more
    added.push(...laid.written)
    removed.push(...laid.removed)
    checkpoints.push(...laid.checkpoints)
    round.written += laid.events
    sizes.set(author, to)
  }
  // The cosignatures among what was laid out, merged into the notes of the checkpoints they cosign.
  for (const [body] of cosigned) {
    for (const author of sizes.keys()) {
      const note = await readFile(join(work, LOGS_DIR, author, 'checkpoint'), 'utf8').catch(() => null)
      if (note === null || !note.startsWith(body)) continue
      const path = await writeCheckpoint(work, author, note, cosigned.get(body)!)
      if (path && !added.includes(path)) added.push(path)
    }
  }
  // The documents' blobs this device holds, except private ones; one the mirror holds with other bytes is written back.
  for (const digest of await blobExchangeOf(vault).held(true)) {
    const path = blobPath(digest)
    const there = await readFile(join(work, path)).catch(() => null)
    if (there && sha256Hex(there) === digest) continue
    if (there) round.problems.push(`blob ${digest.slice(0, 16)}… on the mirror did not hash to its name: written back`)
    await mkdir(join(work, path, '..'), { recursive: true })
    await writeFile(join(work, path), await blobExchangeOf(vault).blobs.get(digest))
    added.push(path)
    round.blobs.written++
  }
  const anchored = new Set<string>()
  const anchors = await listFiles(work, 'anchors')
  let prev = 'genesis'
  for (const file of anchors) {
    const text = await readFile(join(work, file), 'utf8')
    anchored.add(String((yaml().parse(text, { maxAliasCount: 0 }) as { checkpoint?: string })?.checkpoint))
    prev = sha256Hex(text)
  }
  let n = anchors.length
  for (const raw of checkpoints) {
    if (anchored.has(raw)) continue
    const text = `# Tresor anchor: a signed checkpoint, chained to the anchor before it\n${yaml().stringify({ anchor: ++n, vault: vault.vaultId, prev, checkpoint: raw }, { lineWidth: 0 })}`
    await put(anchorPath(n), text)
    prev = sha256Hex(text)
    round.anchored++
  }
  return { added, removed }
}

/**
 * The text of the mirror's genesis event: the one that hashes to the vault id (of the mirror's vault.json, or
 * `vaultId`).
 */
async function genesisIn(scratch: string, vaultId?: string): Promise<string | null> {
  const id = vaultId ?? (JSON.parse(await readFile(join(scratch, 'vault.json'), 'utf8')) as { vault?: string }).vault
  // Layout 2: the first line of a feed's first event bundle; layout 1: a feed's first file.
  const firsts: string[] = []
  for (const author of await mirroredFeeds(scratch)) {
    const size = await mirroredSize(scratch, author)
    if (size === 0) continue
    const bundle = await readFile(
      join(scratch, LOGS_DIR, author, tilePath('events', 0, Math.min(size, TILE_WIDTH))),
      'utf8'
    )
    firsts.push(bundle.slice(0, bundle.indexOf('\n')))
  }
  for (const f of await listFiles(scratch, 'feeds'))
    if (f.endsWith('/000000000001.json')) firsts.push((await readFile(join(scratch, f), 'utf8')).trimEnd())
  for (const text of firsts) {
    try {
      const d = decodeEvent(text, String(id))
      if (d.event.type === GENESIS_TYPE && d.id === id) return text
    } catch {
      /* not the genesis */
    }
  }
  return null
}

/** Set up a vault on this device from a mirror, verifying everything it reads. */
export async function joinFromGit(opts: {
  dir: string
  url: string
  token: string
  passphrase: string
  adopt: (genesisRaw: string) => Promise<Vault>
}): Promise<{ vault: Vault; round: GitRound }> {
  const scratch = join(opts.dir, MIRROR_DIR)
  await mkdir(scratch, { recursive: true })
  await git().init({ fs, dir: scratch, defaultBranch: 'main' })
  const head = await fetchMain(scratch, opts.url, opts.token)
  if (!head) throw NOT_FOUND('the mirror is empty')
  const genesisRaw = await genesisIn(scratch)
  if (!genesisRaw) throw VERIFY_FAILED('the mirror holds no genesis event that hashes to its vault id')
  const vault = await opts.adopt(genesisRaw)
  const round = await syncGit(vault, { url: opts.url, token: opts.token })
  return { vault, round }
}

/**
 * The genesis of vault `vaultId` as the mirror holds it (recovery of a vault
 * whose database lost it). Read into a scratch clone of its own, which is
 * removed after; null when the mirror does not hold it.
 */
export async function genesisFromGit(opts: {
  dir: string
  url: string
  token: string
  vaultId: string
}): Promise<string | null> {
  const scratch = await mkdtemp(join(opts.dir, '.genesis-'))
  try {
    await git().init({ fs, dir: scratch, defaultBranch: 'main' })
    if (!(await fetchMain(scratch, opts.url, opts.token))) return null
    return await genesisIn(scratch, opts.vaultId)
  } finally {
    await rm(scratch, { recursive: true, force: true })
  }
}
