/**
 * Replays one counterexample of the adversarial model and prints where honest devices disagree (a debugging aid: npx
 * tsx test/support/replay-adversary.ts '<counterexample>').
 */
import { play, roundTrip, type Cmd } from './adversary-world.js'
import { stateHash } from '../../core/governance/state.js'
import { own } from '../../core/dict.js'

const [cmds, seed] = JSON.parse(process.argv[2]!) as [Cmd[], number]
const w = play(cmds, seed)
const report = (label: string) => {
  console.log(
    label,
    w.devices.map((d) => stateHash(d.fold.state).slice(0, 8))
  )
  const ids = new Set(w.devices.flatMap((d) => [...d.fold.events(), ...d.fold.evidenceEvents()].map((e) => e.id)))
  for (const id of ids) {
    const outs = w.devices.map((d) => JSON.stringify(d.fold.outcome(id)))
    if (new Set(outs).size > 1)
      console.log(
        ' ',
        id.slice(0, 10),
        w.all.get(id)?.d?.event.type,
        w.all.get(id)?.d?.event.author.slice(0, 6),
        w.all.get(id)?.d?.event.seq,
        outs
      )
  }
  for (const [i, d] of w.devices.entries())
    console.log(
      ' ',
      i,
      JSON.stringify({
        frozen: d.fold.state.frozen.map((f) => f.seq),
        height: d.fold.state.height,
        evidence: d.evidence.size,
        slots: d.slots.size
      })
    )
}
report('after delivery')
try {
  if (own(w.devices[0]!.fold.state.members, 'mallory')?.active)
    roundTrip(w, 0, { kind: 'member.remove', args: { name: 'mallory' } })
  report('after removal')
  roundTrip(w, 0, { kind: 'flag.set', args: { flag: 'avatars_enabled', value: true } })
} catch (err) {
  console.log('ERR', (err as Error).message)
}
report('after liveness')
if (process.env.WHERE) {
  for (const [i, d] of w.devices.entries()) {
    const hits: string[] = []
    for (const [k, v] of d.slots) if (v.id.startsWith(process.env.WHERE)) hits.push(`slot ${k.slice(-3)}`)
    for (const [k] of d.evidence) if (k.startsWith(process.env.WHERE)) hits.push('evidence')
    console.log(
      'where',
      i,
      hits,
      JSON.stringify(
        d.fold.outcome(
          [...d.slots.values(), ...d.evidence.values()].find((x) => x.id.startsWith(process.env.WHERE!))?.id ?? ''
        )
      )
    )
  }
}
if (process.env.MALLORY) {
  for (const [i, d] of w.devices.entries()) {
    const rows: string[] = []
    for (const [, v] of d.slots)
      if (v.event.author.startsWith(process.env.MALLORY))
        rows.push(`feed ${v.event.seq} ${v.id.slice(0, 6)} prev ${v.event.prev?.slice(0, 6)}`)
    for (const [, v] of d.evidence)
      if (v.event.author.startsWith(process.env.MALLORY))
        rows.push(`evid ${v.event.seq} ${v.id.slice(0, 6)} prev ${v.event.prev?.slice(0, 6)}`)
    console.log('mallory on', i, rows.sort())
  }
}
