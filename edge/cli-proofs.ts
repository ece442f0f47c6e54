/** Proof commands of the `tresor` CLI: checkpoint, prove, verify-proof (the last needs no vault). */
import { readFile } from 'node:fs/promises'
import { verifyProofFile, verifyTlogProof, TLOG_PROOF_HEADER, type TlogProofResult } from '../core/index.js'
import { flag, required, usage, type ParsedArgs } from './args.js'
import { writeNewFile, type Out } from './cli-support.js'
import { vaultApi, withApi } from './cli-client.js'

export const PROOF_FLAGS = { consistency: 'value', tlog: 'bool', policy: 'value' } as const

export const PROOF_HELP = `
  tresor checkpoint --dir D                    sign a checkpoint: every feed's length and Merkle root
  tresor prove EVENT_ID --dir D --out F        inclusion proof of an event in the latest checkpoint covering it
  tresor prove --consistency CP1 --dir D --out F CP2   the later checkpoint CP2 extends CP1
  tresor prove EVENT_ID --tlog --dir D --out F.tlog-proof   the same as c2sp.org/tlog-proof@v1: its device's
                                               checkpoint note with every cosignature this vault holds
  tresor verify-proof F [--policy P]           check a proof file on any machine, no vault needed; a tlog-proof
                                               against a witness policy (Sigsum syntax): who cosigned, quorum
  tresor witness status --dir D                the governed witness policy, split-view evidence judged here
  tresor witness template --dir D              a policy naming every member device as log and witness
  tresor witness cosign --dir D                cosign the other devices' checkpoints taken in (a daemon does it
                                               as they arrive)`

export const PROOF_COMMANDS: Record<string, (args: ParsedArgs, out: Out) => Promise<number>> = {
  async checkpoint(args, out) {
    return withApi(await vaultApi(args, { unlock: true }), async (api) => {
      const cp = await api.call('proof.checkpoint', {})
      out.print(
        `checkpoint ${cp.id}\n  root ${cp.payload.root}\n${cp.payload.feeds.map((f) => `  ${f.author.slice(0, 12)}… ${String(f.length).padStart(8)} events  ${f.root}`).join('\n')}`,
        cp
      )
      return 0
    })
  },

  async prove(args, out) {
    const target = required(args, 'out')
    const first = flag(args, 'consistency')
    const id = args.command[1]?.toLowerCase()
    if (!id || !/^[0-9a-f]{8,64}$/i.test(id))
      throw usage(
        first
          ? 'prove --consistency CP1 CP2: give the later checkpoint id'
          : 'prove EVENT_ID: give the event id (64 hex characters)'
      )
    const write = async (proof: { kind: string }) => {
      await writeNewFile(target, JSON.stringify(proof, null, 1) + '\n')
      out.print(`wrote ${proof.kind === 'inclusion' ? 'an' : 'a'} ${proof.kind} proof to ${target}`, {
        kind: proof.kind,
        file: target
      })
      return 0
    }
    if (args.flags.has('tlog')) {
      if (first) throw usage('a tlog-proof proves one event: prove EVENT_ID --tlog')
      return withApi(await vaultApi(args), async (api) => {
        const { text } = await api.call('proof.tlog', { id })
        await writeNewFile(target, text)
        out.print(`wrote a tlog-proof (c2sp.org/tlog-proof@v1) to ${target}`, { kind: 'tlog', file: target })
        return 0
      })
    }
    return withApi(await vaultApi(args), async (api) =>
      write(
        first ? await api.call('proof.consistency', { from: first, to: id }) : await api.call('proof.event', { id })
      )
    )
  },

  async witness(args, out) {
    const sub = args.command[1]
    if (sub === 'cosign')
      return withApi(await vaultApi(args, { unlock: true }), async (api) => {
        const r = await api.call('witness.cosign', {})
        out.print(
          `cosigned ${r.cosigned} checkpoint(s)${r.splitViews ? `; SPLIT VIEW: ${r.splitViews} checkpoint(s) conflict with what this device cosigned (evidence signed)` : ''}`,
          r
        )
        return r.splitViews > 0 ? 3 : 0
      })
    if (sub !== 'status' && sub !== 'template') throw usage('witness status, witness template or witness cosign')
    return withApi(await vaultApi(args), async (api) => {
      const s = await api.call('witness.status', {})
      if (sub === 'template') {
        out.print(s.template.trimEnd(), { template: s.template })
        return 0
      }
      const lines = [
        `this device as a witness: ${s.me.name}\n  key ${s.me.key}\n  vkey ${s.me.vkey}`,
        s.policy === null
          ? 'witness policy: none governed yet (tresor witness template; tresor propose witnesses --file F)'
          : `witness policy:\n${s.policy.trimEnd().replace(/^/gm, '  ')}`,
        s.splitViews.length === 0
          ? 'split views: none seen'
          : `SPLIT VIEWS: ${s.splitViews.filter((v) => v.confirmed).length} confirmed of ${s.splitViews.length}`,
        ...s.splitViews.map(
          (v) =>
            `  ${v.confirmed ? 'CONFIRMED' : 'unfounded'}  log of ${v.member ?? 'no member'} (${v.log.slice(0, 12)}…), sizes ${v.sizes.join(' and ')}, reported by ${v.reportedBy.slice(0, 12)}… at ${v.ts}: ${v.why}`
        )
      ]
      out.print(lines.join('\n'), s)
      return s.splitViews.some((v) => v.confirmed) ? 3 : 0
    })
  },

  async 'verify-proof'(args, out) {
    const file = args.command[1] ?? flag(args, 'file')
    if (!file) throw usage('verify-proof FILE')
    const text = await readFile(file, 'utf8')
    if (text.startsWith(`${TLOG_PROOF_HEADER}\n`)) {
      const policyFile = flag(args, 'policy')
      if (!policyFile) throw usage('a tlog-proof is checked against a witness policy: verify-proof F --policy POLICY')
      const r = verifyTlogProof(text, await readFile(policyFile, 'utf8'))
      out.print(describeTlog(r), r)
      return r.ok ? 0 : 3
    }
    const result = verifyProofFile(text)
    const what = result.event
      ? `event ${result.event.id} (${result.event.type}, #${result.event.seq} of ${result.event.author.slice(0, 12)}…)`
      : `checkpoints ${(result.checkpoints ?? []).map((c) => c.slice(0, 12)).join(' → ')}`
    out.print(
      result.ok
        ? `VALID ${result.kind} proof: ${what} in vault ${result.vault}`
        : `INVALID ${result.kind} proof: ${result.reason}`,
      result
    )
    return result.ok ? 0 : 3
  }
}

function describeTlog(r: TlogProofResult): string {
  const who = r.witnesses
    ? `\n  cosigned by: ${r.witnesses.signed.join(', ') || 'no policy witness'}${r.witnesses.missing.length ? `\n  not cosigned by: ${r.witnesses.missing.join(', ')}` : ''}${r.witnesses.ignored ? `\n  ${r.witnesses.ignored} signature(s) from keys the policy does not name, not counted` : ''}`
    : ''
  const quorum = r.quorum ? `\n  quorum: ${r.quorum.holds ? 'holds' : `does NOT hold (needs ${r.quorum.needs})`}` : ''
  return r.ok
    ? `VALID tlog-proof: event ${r.event!.id} (${r.event!.type}, #${r.event!.seq} of ${r.event!.author.slice(0, 12)}…) in the log of size ${r.size}${who}${quorum}`
    : `INVALID tlog-proof: ${r.reason}${who}${quorum}`
}
