/**
 * Governance commands of the `tresor` CLI: propose (one sub-form per action),
 * inbox, show, approve, reject, withdraw, commit, members, flags, ledger, and
 * offline transfer with bundles (export, import, join).
 */
import {
  dict,
  expiresAfter,
  MAX_BUNDLE_TEXT,
  own,
  parseBounded,
  settingPair,
  settingsAction,
  streamAction,
  Vault,
  type Action,
  type Json,
  type ProposalView,
  reviewAction,
  type GovState
} from '../core/index.js'
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { flag, required, usage, type ParsedArgs } from './args.js'
import { dirOf, refuseExisting, withVault, writeNewFile, type Out } from './cli-support.js'
import { confirm, getPassphrase } from './passphrase.js'
import { joinGitCommand } from './cli-sync.js'
import { vaultApi, withApi, type VaultApi } from './cli-client.js'
import { fileLine } from './cli-documents.js'
import { importBundle } from '../core/index.js'

export const GOVERNANCE_FLAGS = {
  reason: 'value',
  expires: 'value',
  yes: 'bool',
  for: 'value',
  status: 'value',
  who: 'value',
  key: 'value',
  on: 'bool',
  off: 'bool',
  register: 'value',
  set: 'list',
  since: 'value',
  bundle: 'value',
  flag: 'value',
  stream: 'value',
  schema: 'value',
  field: 'list'
} as const

export const GOVERNANCE_HELP = `
  tresor propose flag --flag F --on|--off --reason R [--expires 3d]
  tresor propose member-add --who NAME --roles r1,r2 --key PUBKEY --reason R
  tresor propose member-remove --who NAME --reason R
  tresor propose member-roles --who NAME --roles r1,r2 --reason R
  tresor propose key-add --who NAME --key PUBKEY --reason R
  tresor propose key-revoke --who NAME --key PUBKEY --reason R
  tresor propose policy --file policy.json --reason R
  tresor propose register --register ledger|company|network|streams --file entry.json --reason R
  tresor propose stream --stream S --schema 1 --field celsius:number:°C [--field note:string?] --reason R
  tresor propose settings --set key=value [--set …] --reason R
  tresor propose witnesses --file policy.txt --reason R    which witnesses' cosignatures a proof needs (Sigsum syntax)
  tresor inbox                               what needs you: to sign, ready to commit, your proposals waiting
  tresor proposals [--status open|committed|rejected|withdrawn|failed]
  tresor show ID | approve ID | reject ID --reason R | withdraw ID | commit ID   [--yes: sign without asking]
  tresor members | flags | ledger
  tresor bundle export --dir D --out FILE [--for MEMBER | --since status.json]
                                             --for: what that member's device(s) are not known to hold
  tresor bundle import --dir D --file FILE
  tresor join --dir D --bundle FILE           set up this device from a bundle
  (all take --dir D; ID is a proposal id or 8+ of its first hex characters)`

function expiry(args: ParsedArgs): string | undefined {
  const text = flag(args, 'expires')
  return text === undefined ? undefined : expiresAfter(text)
}

async function jsonFile(args: ParsedArgs): Promise<Json> {
  return parseBounded(await readFile(required(args, 'file'), 'utf8'), 1024 * 1024, 16)
}

const list = (text: string) =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)

/** The action a `propose` sub-form describes. */
async function actionOf(form: string | undefined, args: ParsedArgs): Promise<Action> {
  switch (form) {
    case 'flag': {
      const on = args.flags.has('on'),
        off = args.flags.has('off')
      if (on === off) throw usage('say --on or --off')
      return { kind: 'flag.set', args: { flag: required(args, 'flag'), value: on } }
    }
    case 'member-add':
      return {
        kind: 'member.add',
        args: { name: required(args, 'who'), roles: list(required(args, 'roles')), keys: [required(args, 'key')] }
      }
    case 'member-remove':
      return { kind: 'member.remove', args: { name: required(args, 'who') } }
    case 'member-roles':
      return { kind: 'member.roles', args: { name: required(args, 'who'), roles: list(required(args, 'roles')) } }
    case 'key-add':
      return { kind: 'key.add', args: { member: required(args, 'who'), key: required(args, 'key') } }
    case 'key-revoke':
      return { kind: 'key.revoke', args: { member: required(args, 'who'), key: required(args, 'key') } }
    case 'policy':
      return { kind: 'policy.set', args: { policy: await jsonFile(args) } }
    case 'register':
      return { kind: 'register.append', args: { register: required(args, 'register'), entry: await jsonFile(args) } }
    case 'stream':
      return streamAction(required(args, 'stream'), required(args, 'schema'), args.flags.get('field') ?? [])
    case 'settings':
      return settingsAction((args.flags.get('set') ?? []).map(settingPair))
    case 'witnesses':
      return { kind: 'witness.policy', args: { policy: await readFile(required(args, 'file'), 'utf8') } }
    default:
      throw usage(
        'propose what? flag, member-add, member-remove, member-roles, key-add, key-revoke, policy, register, stream, settings, witnesses'
      )
  }
}

/** A proposal as the reviewer reads it: what it changes (before → after, core/review.ts), who signed, who can still. */
function describe(p: ProposalView, state: GovState): string {
  const review = reviewAction(state, p.action)
  const lines = [
    `proposal ${p.id}`,
    `  ${review.title}`,
    ...review.changes.map((c) => `    ${c.what}: ${c.before} → ${c.after}`),
    `  by ${p.proposer} at ${p.createdAt}, expires ${p.expiresAt}${p.expired ? ' (EXPIRED)' : ''}`,
    `  reason: ${p.reason}`,
    `  status: ${p.status}${p.failure ? ` (${p.failure})` : ''}`,
    `  approved by: ${p.approvals.map((a) => `${a.member} [${a.roles.join(',')}]`).join(', ') || 'nobody yet'}`
  ]
  for (const r of p.rejections) lines.push(`  rejected by ${r.member}: ${r.reason}`)
  if (p.status === 'open')
    lines.push(
      p.missing.length === 0
        ? '  quorum met: ready to commit'
        : `  still needed: ${p.missing.join('; ')}${p.canApprove.length ? ` (can approve: ${p.canApprove.join(', ')})` : ''}`
    )
  return lines.join('\n')
}

const STEP: Record<'approve' | 'reject' | 'withdraw' | 'commit', string> = {
  approve: 'an approval of',
  reject: 'a rejection of',
  withdraw: 'the withdrawal of',
  commit: 'the commit of'
}

/**
 * Before a step is signed: show what the proposal changes and the id the signature names, and ask — unless `--yes`.
 * Without a terminal to ask on, `--yes` is required: nothing is signed unseen.
 */
async function confirmStep(api: VaultApi, args: ParsedArgs, step: keyof typeof STEP): Promise<void> {
  const p = await api.call('gov.show', { proposal: positional(args, 'a proposal id') })
  if (args.flags.has('yes')) return
  const { state } = await api.call('gov.state', {})
  process.stderr.write(
    `${describe(p, state)}${await migrationFiles(api, p)}\n  you sign ${STEP[step]} proposal ${p.id}\n`
  )
  if (!process.stdin.isTTY)
    throw usage(`\`tresor ${step}\` asks before it signs: add --yes to sign without being asked`)
  if (!(await confirm(`Sign ${STEP[step]} this proposal?`))) throw usage('nothing was signed')
}

/** A migration's files, for the reviewer (its plan events; a plan not here yet says so). */
async function migrationFiles(api: VaultApi, p: ProposalView): Promise<string> {
  if (p.action.kind !== 'doc.migrate') return ''
  try {
    const { files } = await api.call('documents.proposalPlan', { proposal: p.id })
    const shown = files.slice(0, 50).map((f) => `\n      ${fileLine(f)}`)
    return `\n    files:${shown.join('')}${files.length > 50 ? `\n      … and ${files.length - 50} more (tresor migrate index after it is committed)` : ''}`
  } catch (err) {
    return `\n    files: not readable here yet (${(err as Error).message})`
  }
}

function positional(args: ParsedArgs, what: string): string {
  const v = args.command[1]
  if (!v) throw usage(`${args.command[0]} needs ${what}`)
  return v
}

type Command = (args: ParsedArgs, out: Out) => Promise<number>

/** A command that signs one governance event (through the vault's API) and prints the proposal afterwards. */
const signing =
  (act: (api: VaultApi, args: ParsedArgs) => Promise<ProposalView>): Command =>
  async (args, out) =>
    withApi(await vaultApi(args, { unlock: true }), async (api) => {
      const step = args.command[0]
      if (step === 'approve' || step === 'reject' || step === 'withdraw' || step === 'commit')
        await confirmStep(api, args, step)
      const p = await act(api, args)
      out.print(describe(p, (await api.call('gov.state', {})).state), p)
      return 0
    })

export const GOVERNANCE_COMMANDS: Record<string, Command> = {
  propose: async (args, out) => {
    const action = await actionOf(args.command[1], args)
    const reason = required(args, 'reason')
    const expiresAt = expiry(args)
    return signing((api) => api.call('gov.propose', { action, reason, ...(expiresAt ? { expiresAt } : {}) }))(args, out)
  },
  approve: signing((api, args) => api.call('gov.approve', { proposal: positional(args, 'a proposal id') })),
  reject: signing((api, args) =>
    api.call('gov.reject', { proposal: positional(args, 'a proposal id'), reason: required(args, 'reason') })
  ),
  withdraw: signing((api, args) => api.call('gov.withdraw', { proposal: positional(args, 'a proposal id') })),
  commit: signing((api, args) => api.call('gov.commit', { proposal: positional(args, 'a proposal id') })),

  async inbox(args, out) {
    return withApi(await vaultApi(args), async (api) => {
      const inbox = await api.call('gov.inbox', {})
      const { state } = await api.call('gov.state', {})
      const group = (title: string, items: ProposalView[]) =>
        items.length === 0 ? [] : [`${title} (${items.length})`, ...items.map((p) => describe(p, state))]
      const lines = [
        ...group('awaiting your signature', inbox.toSign),
        ...group('ready for you to commit', inbox.toCommit),
        ...group('your proposals, waiting on others', inbox.waiting)
      ]
      out.print(lines.length === 0 ? 'nothing needs you' : lines.join('\n\n'), inbox)
      return 0
    })
  },

  async proposals(args, out) {
    const status = flag(args, 'status')
    if (status && !['open', 'committed', 'rejected', 'withdrawn', 'failed'].includes(status))
      throw usage('--status is open, committed, rejected, withdrawn or failed')
    return withApi(await vaultApi(args), async (api) => {
      const items = await api.call('gov.proposals', status ? { status: status as ProposalView['status'] } : {})
      const { state } = await api.call('gov.state', {})
      out.print(
        items.length === 0
          ? `no ${status ?? ''} proposals`.replace('  ', ' ')
          : items.map((p) => describe(p, state)).join('\n\n'),
        items
      )
      return 0
    })
  },

  async show(args, out) {
    const proposal = positional(args, 'a proposal id')
    return withApi(await vaultApi(args), async (api) => {
      const p = await api.call('gov.show', { proposal })
      out.print(describe(p, (await api.call('gov.state', {})).state) + (await migrationFiles(api, p)), p)
      return 0
    })
  },

  async members(args, out) {
    return withApi(await vaultApi(args), async (api) => {
      const { state, hash } = await api.call('gov.state', {})
      const members = Object.values(state.members)
      const lines = members.map(
        (m) =>
          `${m.active ? ' ' : 'x'} ${m.name.padEnd(16)} ${m.roles.join(',').padEnd(24)} keys ${m.keys.map((k) => k.slice(0, 12)).join(' ')}${m.revokedKeys.length ? `  revoked ${m.revokedKeys.map((k) => k.slice(0, 12)).join(' ')}` : ''}`
      )
      out.print(lines.join('\n'), { members, stateHash: hash })
      return 0
    })
  },

  async flags(args, out) {
    return withApi(await vaultApi(args), async (api) => {
      const { flags, policy } = (await api.call('gov.state', {})).state
      const rows = Object.keys(flags)
        .sort()
        .map((f) => ({ flag: f, on: own(flags, f) === true, gate: own(policy.flags, f) ?? null }))
      out.print(
        rows
          .map(
            (r) =>
              `${r.on ? 'ON ' : 'off'} ${r.flag.padEnd(26)} gate: ${r.gate?.clauses.map((c) => c.role).join(' + ') || 'any 2 members'} — ${r.gate?.criterion ?? ''}`
          )
          .join('\n'),
        rows
      )
      return 0
    })
  },

  async ledger(args, out) {
    return withApi(await vaultApi(args), async (api) => {
      const { entries, balances } = await api.call('ledger.balances', {})
      const lines = Object.entries(balances).flatMap(([account, byCur]) =>
        Object.entries(byCur).map(([cur, v]) => `${account.padEnd(24)} ${cur} ${(v / 100).toFixed(2).padStart(14)}`)
      )
      out.print(lines.length ? lines.join('\n') : 'the ledger is empty', { entries, balances })
      return 0
    })
  },

  async bundle(args, out) {
    const sub = args.command[1]
    if (sub === 'export') {
      const since = dict<number>()
      const sinceFile = flag(args, 'since')
      if (sinceFile) {
        const status = parseBounded(await readFile(sinceFile, 'utf8'), 16 * 1024 * 1024, 8) as {
          feeds?: Record<string, { length: number }>
        }
        for (const [author, f] of Object.entries(status.feeds ?? {})) since[author] = Number(f.length) || 0
      }
      const target = required(args, 'out')
      const member = flag(args, 'for')
      if (member && sinceFile) throw usage('give --for NAME or --since status.json, not both')
      await refuseExisting(target)
      return withApi(await vaultApi(args, { unlock: true }), async (api) => {
        const bundle = await api.call('bundle.export', member ? { for: member } : { since })
        await writeNewFile(target, bundle.text + '\n')
        const whom = bundle.for
          ? bundle.for.known
            ? ` for ${bundle.for.member}: what their device(s) are not known to hold`
            : ` for ${bundle.for.member}: everything (nothing is known yet of what their device holds)`
          : ''
        out.print(`wrote ${bundle.events} event(s) to ${target}${whom}`, {
          events: bundle.events,
          file: target,
          for: bundle.for
        })
        return 0
      })
    }
    if (sub === 'import') {
      const text = await readFile(required(args, 'file'), 'utf8')
      return withApi(await vaultApi(args), async (api) => {
        // A bundle file may be up to 512 MiB; an API call carries 48 MiB (through a daemon, a bigger one waits until it
        // stops).
        const receipt =
          api.local && text.length > MAX_BUNDLE_TEXT
            ? await importBundle(api.local, text)
            : await api.call('bundle.import', { text })
        const summary = receipt
        out.print(
          [
            `admitted ${summary.admitted} event(s), ${summary.duplicates} already here${summary.from ? ` (from ${summary.from})` : ''}`,
            ...summary.arrived.map((line) => `  ${line}`),
            ...(summary.witnessError ? [`not witnessed here: ${summary.witnessError}`] : []),
            ...(summary.blobs
              ? [
                  `documents' bytes: ${summary.blobs.admitted} kept${summary.blobs.quarantined ? `, ${summary.blobs.quarantined} QUARANTINED (tresor docs quarantine)` : ''}`
                ]
              : [])
          ].join('\n'),
          summary
        )
        return 0
      })
    }
    throw usage('bundle export or bundle import')
  },

  async join(args, out) {
    if (flag(args, 'git')) return joinGitCommand(args, out, dirOf(args))
    const text = await readFile(required(args, 'bundle'), 'utf8')
    const vault = await Vault.join({
      dir: dirOf(args),
      bundle: text,
      passphrase: await getPassphrase('Device key passphrase: ')
    })
    return withVault(vault, async () => {
      const me = vault.member
      out.print(
        `joined ${vault.config.name} (${vault.vaultId})\n${me ? `this device signs for ${me.name}` : 'this device key is not a key of the vault yet: ask a member to propose key-add; until then it can review but not sign'}`,
        { vaultId: vault.vaultId, member: me?.name ?? null, dir: resolve(dirOf(args)) }
      )
      return 0
    })
  }
}
