/**
 * The `tresor` CLI. Every command takes --json. Exit codes: 0 ok, 2 usage
 * error, 3 verification failed or vault READ-ONLY, 1 anything else; each
 * failure prints one line on stderr.
 */
import {
  EXIT_PARTLY_REFUSED,
  ensureDeviceKey,
  exitStatus,
  exportYaml,
  guardStorageFaults,
  INTERNAL,
  own,
  stateHash,
  statusOf,
  STORAGE_DAMAGED,
  Vault,
  VAULT_FILE,
  VaultError,
  verifyYamlExport,
  type MemberSpec,
  type VaultStatus,
  type VerifyReport,
  relativeTime,
  reviewAction,
  type DeviceRow
} from '../core/index.js'
import { createWriteStream } from 'node:fs'
import { readFile, mkdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { finished } from 'node:stream/promises'
import { flag, parseArgs, required, usage, type ParsedArgs } from './args.js'
import { dirOf, progress, refuseExisting, withVault, type Out } from './cli-support.js'
import { GOVERNANCE_COMMANDS, GOVERNANCE_FLAGS, GOVERNANCE_HELP } from './cli-governance.js'
import { SYNC_COMMANDS, SYNC_FLAGS, SYNC_HELP } from './cli-sync.js'
import { PROOF_COMMANDS, PROOF_FLAGS, PROOF_HELP } from './cli-proofs.js'
import { DOCUMENT_COMMANDS, DOCUMENT_FLAGS, DOCUMENT_HELP } from './cli-documents.js'
import { TELEMETRY_COMMANDS, TELEMETRY_FLAGS, TELEMETRY_HELP } from './cli-telemetry.js'
import { getPassphrase } from './passphrase.js'
import { vaultApi, withApi } from './cli-client.js'
import { approve, commit, propose } from '../core/index.js'
import { exportBundle, importBundle } from '../core/index.js'

const SPEC = {
  dir: 'value',
  name: 'value',
  vault: 'value',
  roles: 'value',
  member: 'list',
  json: 'bool',
  full: 'bool',
  file: 'value',
  format: 'value',
  out: 'value',
  type: 'value',
  author: 'value',
  limit: 'value',
  text: 'value',
  help: 'bool',
  ...GOVERNANCE_FLAGS,
  ...SYNC_FLAGS,
  ...PROOF_FLAGS,
  ...DOCUMENT_FLAGS,
  ...TELEMETRY_FLAGS
} as const

const HELP = `tresor — local-first governance vault

  tresor keygen --dir D --name NAME            make this device's key (prints the public key)
  tresor init --dir D --vault NAME --name NAME --roles r1,r2 [--member NAME:ROLES:PUBKEY ...]
  tresor status --dir D                        health and feeds (incremental self-check)
  tresor verify --dir D [--full]               run the self-check; exit 3 if it fails
  tresor verify --file audit.yaml              check an exported audit chain, no vault needed
  tresor log --dir D [--type T] [--author K] [--limit N]
  tresor note --dir D --text TEXT              append a signed audit note
  tresor devices --dir D                       every member's devices as their signed statuses say: last seen,
                                               events behind, last check, READ-ONLY, forked or revoked
  tresor export --dir D --format yaml [--out F]
  tresor demo --dir D                          create a demo vault and show its verified status
${GOVERNANCE_HELP}
${SYNC_HELP}
${PROOF_HELP}
${DOCUMENT_HELP}
${TELEMETRY_HELP}

  Every command takes --json. Passphrase: TRESOR_PASSPHRASE or a prompt.`

export async function main(argv: string[]): Promise<number> {
  let args: ParsedArgs
  try {
    args = parseArgs(argv, SPEC as unknown as Record<string, 'bool' | 'value' | 'list'>)
  } catch (err) {
    return fail(err, argv.includes('--json'))
  }
  const json = args.flags.has('json')
  const out: Out = {
    json,
    print: (human, data) => process.stdout.write(json ? JSON.stringify(data, null, 2) + '\n' : human + '\n')
  }
  const [cmd] = args.command
  // A damaged database is a state to report, not a crash (core/storage.ts).
  guardStorageFaults()
  // Everything the vault writes (LevelDB's files too) is for this user alone: files 0600, folders 0700.
  process.umask(0o077)
  let said = false
  const write = process.stderr.write.bind(process.stderr)
  process.stderr.write = ((chunk: never, ...rest: never[]) => {
    said = true
    return write(chunk, ...rest)
  }) as typeof process.stderr.write
  try {
    if (!cmd || args.flags.has('help') || cmd === 'help') {
      process.stdout.write(HELP + '\n')
      return cmd ? 0 : 2
    }
    const handler = own(COMMANDS, cmd)
    if (!handler) {
      const near = nearest(cmd, Object.keys(COMMANDS))
      throw usage(`unknown command "${cmd.slice(0, 40)}"${near ? `: did you mean ${near}?` : ''} (try tresor help)`)
    }
    const code = await handler(args, out)
    // Every failure says so in one line on stderr, even when the command's own output already told the story.
    if (code !== 0 && !said)
      process.stderr.write(
        `tresor: ${cmd} ${code === 3 ? 'found the vault READ-ONLY or failing verification' : code === EXIT_PARTLY_REFUSED ? 'took its input but refused part of it, kept with the reasons' : 'failed'} (exit ${code}); see the output above\n`
      )
    return code
  } catch (err) {
    return fail(err, json, cmd)
  } finally {
    process.stderr.write = write
  }
}

/** One device in a line: who, which key, and what its latest signed status says (its own word, shown as such). */
export function describeDevice(r: DeviceRow, now = Date.now()): string {
  const s = r.status
  const facts = [
    `${r.member.padEnd(12)} ${r.key.slice(0, 12)}…${r.thisDevice ? ' (this device)' : ''}`,
    r.keyState === 'active' ? null : `key ${r.keyState}`,
    r.forkedAt !== null ? `FORKED at #${r.forkedAt}: frozen` : null,
    r.lastSeen ? `seen ${r.lastSeen} (${relativeTime(Date.parse(r.lastSeen) - now)})` : 'never reported',
    r.unreadable ? 'its status does not read as v1' : null,
    s ? (s.health === 'read-only' ? `READ-ONLY: ${s.why}` : 'ok') : null,
    s?.check
      ? `last check ${s.check.mode} ${s.check.ok ? 'passed' : `FAILED (${s.check.issues} issue(s))`} at ${s.check.at}`
      : null,
    r.behind !== null ? `${r.behind} event(s) behind this device` : null,
    s?.sync ? `sync ${s.sync.online ? 'online' : 'offline'}, ${s.sync.pendingUp} to push` : null,
    s ? `v${s.software}` : null
  ]
  return facts.filter((f) => f !== null).join(' · ')
}

/** The known command closest to a mistyped one (at most two edits away), for "did you mean". */
function nearest(typed: string, known: string[]): string | null {
  const t = typed.toLowerCase().slice(0, 40)
  const distance = (a: string, b: string): number => {
    let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
    for (let i = 1; i <= a.length; i++) {
      const row = [i]
      for (let j = 1; j <= b.length; j++)
        row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = row
    }
    return prev[b.length]!
  }
  let best: { name: string; d: number } | null = null
  for (const name of known) {
    const d = name.startsWith(t) && t.length >= 3 ? 1 : distance(t, name)
    if (d <= 2 && (!best || d < best.d)) best = { name, d }
  }
  return best?.name ?? null
}

function fail(err: unknown, json: boolean, cmd?: string): number {
  let e = err instanceof VaultError ? err : INTERNAL((err as Error)?.message ?? String(err))
  // A command that opens the vault itself, while tresor serve holds it: say which way works.
  if (e.code === 'IN_USE' && cmd && / open in tresor serve /.test(e.message)) {
    e = new VaultError(
      'IN_USE',
      `${e.message.replace(/: stop it first, or work through it$/, '')}: \`tresor ${cmd}\` runs the vault itself and not beside a daemon${cmd === 'daemon' ? ' (tresor serve --sync keeps sync running instead)' : ''}, so stop it first; every other command goes through it`
    )
  }
  const code = exitStatus(e)
  if (json)
    process.stdout.write(JSON.stringify({ error: { type: 'VaultError', code: e.code, message: e.message } }) + '\n')
  process.stderr.write(`tresor: ${e.message}\n`)
  return code
}

function parseMember(spec: string): MemberSpec {
  const [name, roles, key] = spec.split(':')
  if (!name || !roles || !key) throw usage(`--member must be NAME:ROLES:PUBKEY, got "${spec}"`)
  return { name, roles: roles.split(',').filter(Boolean), keys: [key] }
}

function describeStatus(s: VaultStatus): string {
  const lines = [
    `vault    ${s.name} (${s.vaultId})`,
    `device   ${s.device}`,
    `health   ${s.health.state === 'ok' ? 'OK' : 'READ-ONLY — ' + s.health.reason}`,
    `events   ${s.events} in ${Object.keys(s.feeds).length} feed(s)`
  ]
  if (s.lastCheck)
    lines.push(`check    ${s.lastCheck.mode}, ${s.lastCheck.checked} event(s) checked in ${s.lastCheck.durationMs} ms`)
  if (s.moved)
    lines.push(
      `MOVED    this folder last opened on ${s.moved.fromHost} at ${s.moved.fromDir}: if it is a copy and the original is still in use, do not sign from both (the key would fork); if it was moved, confirm in the app (Health)`
    )
  return lines.join('\n')
}

function describeReport(r: VerifyReport): string {
  const head = r.ok
    ? `verified: ${r.total} event(s), ${r.checked} checked (${r.mode}) in ${r.durationMs} ms`
    : `VERIFICATION FAILED: ${r.issues.length} issue(s)`
  const forks = r.forks.map(
    (f) =>
      `fork: key ${f.author.slice(0, 12)}… signed two events at seq ${f.seq} (${f.ids.map((i) => i.slice(0, 12)).join(' / ')}); the key is frozen from there: its events count only where another key had acknowledged them`
  )
  const issues = r.issues
    .slice(0, 50)
    .map((i) => `  ${i.code} ${i.docId}${i.seq ? ` (seq ${i.seq})` : ''}: ${i.message}`)
  return [head, ...forks, ...issues, ...(r.issues.length > 50 ? [`  … ${r.issues.length - 50} more`] : [])].join('\n')
}

const COMMANDS: Record<string, (args: ParsedArgs, out: Out) => Promise<number>> = {
  ...GOVERNANCE_COMMANDS,
  ...SYNC_COMMANDS,
  ...PROOF_COMMANDS,
  ...DOCUMENT_COMMANDS,
  ...TELEMETRY_COMMANDS,
  async keygen(args, out) {
    const dir = dirOf(args)
    const name = required(args, 'name')
    const key = await ensureDeviceKey(dir, name, await getPassphrase('New key passphrase: ', true))
    out.print(key.publicKey, { name, publicKey: key.publicKey, dir })
    return 0
  },

  async init(args, out) {
    const roles = required(args, 'roles').split(',').filter(Boolean)
    const members = (args.flags.get('member') ?? []).map(parseMember)
    const vault = await Vault.create({
      dir: dirOf(args),
      vaultName: required(args, 'vault'),
      memberName: required(args, 'name'),
      roles,
      members,
      passphrase: await getPassphrase('Device key passphrase: ', true)
    })
    out.print(describeStatus(statusOf(vault)), statusOf(vault))
    if (members.length === 0)
      process.stderr.write(
        'tresor: init: this vault has one member, so no change can ever be committed (every change needs two distinct members): found it with --member NAME:ROLES:PUBKEY (their key from tresor keygen)\n'
      )
    await vault.close()
    return 0
  },

  async status(args, out) {
    return withApi(await vaultApi(args), async (api) => {
      const s = await api.call('vault.status', {})
      out.print(describeStatus(s), s)
      if (s.health.state === 'ok') return 0
      process.stderr.write(`tresor: the vault is READ-ONLY: ${s.health.reason}\n`)
      return 3
    })
  },

  async verify(args, out) {
    const file = flag(args, 'file')
    if (file) {
      const report = await verifyYamlExport(await readFile(file, 'utf8'), progress('verifying'))
      out.print(`${report.name} (${report.vault})\n${describeReport(report)}`, report)
      return report.ok ? 0 : 3
    }
    const full = args.flags.has('full')
    // The vault opens with its normal (incremental) start; the check asked for runs once, after.
    return withApi(await vaultApi(args), async (api) => {
      const before = await api.call('vault.status', {})
      if (before.health.damaged) throw STORAGE_DAMAGED(before.health.reason ?? 'the database is damaged')
      // With the key, the check also signs the new verified point (TRESOR_PASSPHRASE here; a daemon uses its own).
      if (!api.via && process.env.TRESOR_PASSPHRASE)
        await api.call('vault.unlock', { passphrase: process.env.TRESOR_PASSPHRASE })
      const report = await api.call('vault.verify', { full })
      const after = await api.call('vault.status', {})
      out.print(describeReport(report), report)
      return report.ok && after.health.state === 'ok' ? 0 : 3
    })
  },

  async devices(args, out) {
    return withApi(await vaultApi(args), async (api) => {
      const rows = await api.call('devices.list', {})
      out.print(rows.map((r) => describeDevice(r)).join('\n') || 'no devices', rows)
      return 0
    })
  },

  async log(args, out) {
    const limit = Number(flag(args, 'limit') ?? 50)
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > 1000) throw usage('--limit must be 1-1000')
    return withApi(await vaultApi(args), async (api) => {
      const res = await api.call('log.list', {
        limit,
        type: flag(args, 'type'),
        author: flag(args, 'author'),
        payloads: true
      })
      // Authors by member name (the key's first characters beside it); a key no member holds says so.
      const names = new Map<string, string>()
      for (const m of await api.call('vault.members', {}))
        for (const k of [...m.keys, ...m.revokedKeys]) names.set(k, m.name)
      const who = (key: string) => `${names.get(key) ?? 'unknown key'} (${key.slice(0, 8)})`
      const lines = res.entries.map(
        (e) =>
          `${e.ts}  ${who(e.author)}#${e.seq}  ${e.type}  ${e.id.slice(0, 16)}  ${JSON.stringify(e.payload).slice(0, 80)}`
      )
      out.print([...lines, `(${res.entries.length} of ${res.total})`].join('\n'), res)
      return 0
    })
  },

  async note(args, out) {
    const text = required(args, 'text')
    return withApi(await vaultApi(args, { unlock: true }), async (api) => {
      const res = await api.call('log.appendNote', { text })
      out.print(`appended ${res.id} (seq ${res.seq})`, res)
      return 0
    })
  },

  async export(args, out) {
    if ((flag(args, 'format') ?? 'yaml') !== 'yaml') throw usage('only --format yaml is supported')
    const target = flag(args, 'out')
    return withApi(await vaultApi(args), async (api) => {
      const put = async (
        stream: NodeJS.WritableStream,
        exporting: (write: (chunk: string) => Promise<void>) => Promise<number>
      ) => {
        const write = (chunk: string) =>
          new Promise<void>((res, rej) => stream.write(chunk, (e) => (e ? rej(e) : res())))
        const n = await exporting(write)
        if (target) {
          stream.end()
          await finished(stream)
        }
        return n
      }
      if (target) await refuseExisting(target)
      const stream = () => (target ? createWriteStream(target, { flags: 'wx' }) : process.stdout)
      let n: number
      if (api.local) {
        // This process opened the vault: the export streams page by page (memory stays flat for big logs).
        const vault = api.local
        vault.assertWritable('an export of a log that does not verify')
        n = await put(stream(), (write) => exportYaml(vault, write, target ? progress('exporting') : undefined))
      } else {
        const { text, events } = await api.call('log.exportYaml', {})
        n = await put(stream(), async (write) => {
          await write(text)
          return events
        })
      }
      if (target) out.print(`exported ${n} event(s) to ${target}`, { events: n, file: target })
      return 0
    })
  },

  async demo(args, out) {
    const dir = dirOf(args)
    const exists = await stat(join(dir, VAULT_FILE)).then(
      () => true,
      () => false
    )
    const passphrase = await getPassphrase(
      exists ? 'Demo vault passphrase: ' : 'Choose a passphrase for the demo vault: ',
      !exists
    )
    if (!exists) await createDemo(dir, passphrase)
    const vault = await Vault.open({ dir, onProgress: progress('verifying') })
    return withVault(vault, async () => {
      await vault.unlock(passphrase)
      await vault.append('audit.note', { text: `demo run at ${new Date().toISOString()}` })
      const report = await vault.verify({ full: true })
      const { members, flags, proposals } = vault.state
      const governance = [
        `members  ${Object.values(members)
          .map((m) => `${m.name} (${m.roles.join(',')})`)
          .join(', ')}`,
        `flags on ${
          Object.keys(flags)
            .filter((f) => own(flags, f))
            .join(', ') || 'none'
        }`,
        `proposals ${Object.values(proposals)
          .map(
            (p) =>
              `${reviewAction(vault.state, p.action).title} → ${p.status}, signed by ${[p.proposer, ...p.approvals.map((a) => a.member)].join(' + ')}`
          )
          .join('; ')}`
      ]
      out.print(
        `${describeStatus(statusOf(vault))}\n${governance.join('\n')}\n${describeReport(report)}\n\nNext: tresor log --dir ${dir}   ·   tresor inbox --dir ${dir}   ·   tresor export --dir ${dir} --format yaml`,
        { status: statusOf(vault), report, stateHash: stateHash(vault.state) }
      )
      return report.ok ? 0 : 3
    })
  }
}

/**
 * The demo: alice's vault in `dir`, bob's device in `dir/bob-device`, and one
 * dual-authorized change carried between them in bundles, as on a USB stick.
 */
async function createDemo(dir: string, passphrase: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const bobDir = join(dir, 'bob-device')
  const bobKey = await ensureDeviceKey(bobDir, 'bob', passphrase)
  const alice = await Vault.create({
    dir,
    vaultName: 'Demo vault',
    memberName: 'alice',
    roles: ['operator', 'auditor'],
    passphrase,
    members: [{ name: 'bob', roles: ['operator', 'chain'], keys: [bobKey.publicKey] }]
  })
  for (const text of [
    'vault opened for the demo',
    'boot self-check is part of every start',
    'signed notes are append-only'
  ]) {
    await alice.append('audit.note', { text })
  }
  const proposal = await propose(
    alice,
    { kind: 'flag.set', args: { flag: 'streaming_enabled', value: true } },
    'demo: metering and proof chain are ready'
  )
  const bob = await Vault.join({ dir: bobDir, bundle: JSON.stringify(await exportBundle(alice)), passphrase })
  await approve(bob, proposal.id)
  const lengths = Object.fromEntries(Object.entries(alice.heads()).map(([a, h]) => [a, h.length]))
  await importBundle(alice, JSON.stringify(await exportBundle(bob, lengths)))
  await bob.close()
  await commit(alice, proposal.id)
  await alice.close()
}
