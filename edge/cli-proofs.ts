/** Proof commands of the `tresor` CLI: checkpoint, prove, verify-proof (the last needs no vault). */
import { readFile } from 'node:fs/promises'
import { verifyProofFile } from '../core/index.js'
import { flag, required, usage, type ParsedArgs } from './args.js'
import { writeNewFile, type Out } from './cli-support.js'
import { vaultApi, withApi } from './cli-client.js'

export const PROOF_FLAGS = { consistency: 'value' } as const

export const PROOF_HELP = `
  tresor checkpoint --dir D                    sign a checkpoint: every feed's length and Merkle root
  tresor prove EVENT_ID --dir D --out F        inclusion proof of an event in the latest checkpoint covering it
  tresor prove --consistency CP1 --dir D --out F CP2   the later checkpoint CP2 extends CP1
  tresor verify-proof F                        check a proof file on any machine, no vault needed`

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
    return withApi(await vaultApi(args), async (api) =>
      write(
        first ? await api.call('proof.consistency', { from: first, to: id }) : await api.call('proof.event', { id })
      )
    )
  },

  async 'verify-proof'(args, out) {
    const file = args.command[1] ?? flag(args, 'file')
    if (!file) throw usage('verify-proof FILE')
    const result = verifyProofFile(await readFile(file, 'utf8'))
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
