/**
 * One member's key in an attacker's hands (mallory), modelled with
 * fast-check. Honest members (alice, bob, carol) act on partial knowledge
 * through the same writer, gate and fold a vault uses (test/support/model-device.ts);
 * mallory signs anything: forged and wrong-position citations, forks at any
 * position, backdated and future timestamps, replays, events of a revoked
 * key, prototype names, oversized citation lists, commits without quorum,
 * v1 events with forged heads. Everything is delivered in random orders with
 * duplicates. After full delivery:
 *   - every honest device holds byte-identical state;
 *   - no honest commit is undone, and no event of mallory's that an honest
 *     member had built on is undone;
 *   - alice and bob (a quorum) can still remove mallory and then propose,
 *     approve and commit, whatever mallory does meanwhile;
 *   - inbox, proposals, members, flags and ledger always answer, and nothing
 *     leaks onto Object.prototype.
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { stateHash } from '../core/governance/state.js'
import { GovFold } from '../core/governance/fold.js'
import { own } from '../core/dict.js'
import { readFileSync } from 'node:fs'
import { answers, cmd, play, roundTrip, type Cmd } from './support/adversary-world.js'

const regressions = (
  JSON.parse(readFileSync(new URL('./fixtures/adversary-regressions.json', import.meta.url), 'utf8')) as {
    cases: [Cmd[], number][]
  }
).cases

describe('governance against a hostile member', () => {
  it('governance - whatever one stolen key signs, honest devices converge, keep what they committed and can still govern', () => {
    fc.assert(
      fc.property(fc.array(cmd, { minLength: 5, maxLength: 45 }), fc.nat(), (cmds, seed) => {
        const w = play(cmds, seed)
        // convergence
        const hashes = w.devices.map((d) => stateHash(d.fold.state))
        expect(new Set(hashes).size, 'honest devices disagree').toBe(1)
        for (const d of w.devices) answers(d.fold.state)
        // the same events folded in another order (with duplicates) give the same state
        const f = w.devices[0]!.fold
        const mix = <T>(xs: T[]) =>
          xs
            .map((x, i) => [((i + 1) * 2654435761 + seed) % 4294967296, x] as const)
            .sort((a, b) => a[0] - b[0])
            .map(([, x]) => x)
        const again = GovFold.build(w.sim.vaultId, mix([...f.events(), ...f.events().slice(0, 3)]), [], {
          forks: f.forked,
          evidence: mix(f.evidenceEvents())
        })
        expect(stateHash(again.state)).toBe(hashes[0])
        // nothing honest undone; nothing mallory did that honest members built on undone
        for (const dev of w.devices) {
          for (const c of w.honestCommits) {
            expect(
              ['ok', 'ignored'],
              `honest commit ${c.id.slice(0, 8)}: ${JSON.stringify(dev.fold.outcome(c.id))}`
            ).toContain(dev.fold.outcome(c.id)?.kind)
            expect(['committed', 'failed']).toContain(own(dev.fold.state.proposals, c.proposal)?.status)
          }
          for (const id of w.acknowledged)
            expect(
              ['ok', 'ignored'],
              `acknowledged ${id.slice(0, 8)}: ${JSON.stringify(dev.fold.outcome(id))}`
            ).toContain(dev.fold.outcome(id)?.kind)
        }
        // liveness: alice and bob remove mallory, then govern, while she vetoes everything she can
        if (own(w.devices[0]!.fold.state.members, 'mallory')?.active)
          roundTrip(w, 0, { kind: 'member.remove', args: { name: 'mallory' } })
        for (const d of w.devices) expect(own(d.fold.state.members, 'mallory')?.active).toBe(false)
        const flag = 'avatars_enabled'
        const id = roundTrip(w, 0, {
          kind: 'flag.set',
          args: { flag, value: own(w.devices[0]!.fold.state.flags, flag) !== true }
        })
        expect(id).not.toBeNull()
        for (const d of w.devices) expect(own(d.fold.state.proposals, id!)?.status).toBe('committed')
        expect(new Set(w.devices.map((d) => stateHash(d.fold.state))).size).toBe(1)
        for (const d of w.devices) answers(d.fold.state)
        expect(Object.keys(Object.prototype)).toEqual([])
        expect(({} as Record<string, unknown>).EUR).toBeUndefined()
      }),
      { numRuns: Number(process.env.TRESOR_FC_RUNS ?? 60), endOnFailure: true, examples: regressions }
    )
  }, 600_000)
})
