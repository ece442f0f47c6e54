/**
 * Witness policies in Sigsum's policy file syntax (sigsum-go doc/policy.md):
 *   log <pubkey hex> [<url>]
 *   witness <name> <pubkey hex> [<url>]
 *   group <name> all|any|<k> <name>...
 *   quorum <name>              (exactly one; `none` needs no cosignature)
 * `#` starts a comment; a name is defined before it is used, so groups never
 * loop. A witness's name is also its cosigner key name (tlog-cosignature), so
 * a policy names exactly which signature lines count. Stricter than Sigsum
 * where it matters for counting: one key under two names, a name defined
 * twice, or a group naming a member twice is refused, so no cosigner counts
 * twice toward a quorum.
 */
import { isHex } from '../bytes.js'
import { isWeakPublicKey } from '../ed25519.js'
import { MALFORMED } from '../errors.js'
import { isKeyName } from '../signed-note.js'

export const MAX_POLICY_BYTES = 16 * 1024
const MAX_WITNESSES = 64

export interface PolicyWitness {
  name: string
  key: string
  url: string | null
}
interface Group {
  k: number
  members: string[]
}
export interface WitnessPolicy {
  logs: { key: string; url: string | null }[]
  witnesses: Map<string, PolicyWitness>
  groups: Map<string, Group>
  quorum: string
  /** The policy text as given (what governance signs). */
  text: string
}

const URL_RE = /^https?:\/\/[^\s]+$/

function key(v: string | undefined, line: number): string {
  if (!isHex(v, 32) || isWeakPublicKey(Buffer.from(v, 'hex')))
    throw MALFORMED(`policy line ${line}: a public key is 64 lower-case hex characters of an Ed25519 key`)
  return v
}

function url(v: string | undefined, line: number): string | null {
  if (v === undefined) return null
  if (!URL_RE.test(v) || v.length > 512) throw MALFORMED(`policy line ${line}: a URL is http(s)://…`)
  return v
}

/** Parse a policy; MALFORMED with the line and the reason. */
export function parseWitnessPolicy(text: string): WitnessPolicy {
  if (typeof text !== 'string' || Buffer.byteLength(text) > MAX_POLICY_BYTES)
    throw MALFORMED(`a witness policy is text of at most ${MAX_POLICY_BYTES} bytes`)
  const logs: WitnessPolicy['logs'] = []
  const witnesses = new Map<string, PolicyWitness>()
  const groups = new Map<string, Group>()
  const keys = new Set<string>()
  let quorum: string | null = null
  const defined = (n: string) => witnesses.has(n) || groups.has(n)
  for (const [i, raw] of text.split('\n').entries()) {
    const line = i + 1
    const words = raw.replace(/#.*$/, '').trim().split(/\s+/).filter(Boolean)
    if (words.length === 0) continue
    const [what, ...rest] = words as [string, ...string[]]
    const name = (n: string | undefined) => {
      if (n === undefined || !isKeyName(n) || n.length > 256 || n === 'none' || /^(all|any|\d+)$/.test(n))
        throw MALFORMED(
          `policy line ${line}: a name is a cosigner key name (no spaces or "+"), not none/all/any/a number`
        )
      if (defined(n)) throw MALFORMED(`policy line ${line}: ${n} is defined twice`)
      return n
    }
    switch (what) {
      case 'log':
        if (rest.length < 1 || rest.length > 2) throw MALFORMED(`policy line ${line}: log <pubkey> [<url>]`)
        logs.push({ key: key(rest[0], line), url: url(rest[1], line) })
        break
      case 'witness': {
        if (rest.length < 2 || rest.length > 3) throw MALFORMED(`policy line ${line}: witness <name> <pubkey> [<url>]`)
        const w = { name: name(rest[0]), key: key(rest[1], line), url: url(rest[2], line) }
        if (keys.has(w.key)) throw MALFORMED(`policy line ${line}: the key of ${w.name} is already another witness's`)
        if (witnesses.size >= MAX_WITNESSES) throw MALFORMED(`a policy names at most ${MAX_WITNESSES} witnesses`)
        keys.add(w.key)
        witnesses.set(w.name, w)
        break
      }
      case 'group': {
        if (rest.length < 3) throw MALFORMED(`policy line ${line}: group <name> all|any|<k> <name>...`)
        const g = name(rest[0])
        const members = rest.slice(2)
        for (const m of members)
          if (!defined(m)) throw MALFORMED(`policy line ${line}: ${m} is not defined on an earlier line`)
        if (new Set(members).size !== members.length) throw MALFORMED(`policy line ${line}: a group names each once`)
        const k = rest[1] === 'all' ? members.length : rest[1] === 'any' ? 1 : Number(rest[1])
        if (!/^(all|any|[1-9]\d{0,2})$/.test(rest[1]!) || k > members.length)
          throw MALFORMED(`policy line ${line}: the threshold is all, any or 1..${members.length}`)
        groups.set(g, { k, members })
        break
      }
      case 'quorum': {
        if (rest.length !== 1) throw MALFORMED(`policy line ${line}: quorum <name>`)
        if (quorum !== null) throw MALFORMED(`policy line ${line}: a policy has one quorum line`)
        if (rest[0] !== 'none' && !defined(rest[0]!))
          throw MALFORMED(`policy line ${line}: ${rest[0]} is not defined on an earlier line`)
        quorum = rest[0]!
        break
      }
      default:
        throw MALFORMED(`policy line ${line}: unknown keyword ${what.slice(0, 20)} (log, witness, group, quorum)`)
    }
  }
  if (quorum === null) throw MALFORMED('a policy has one quorum line')
  return { logs, witnesses, groups, quorum, text }
}

/** Does the set of witnesses (by name) whose cosignatures verified satisfy the quorum? */
export function quorumHolds(policy: WitnessPolicy, signed: ReadonlySet<string>): boolean {
  const acts = (n: string): boolean => {
    if (policy.witnesses.has(n)) return signed.has(n)
    const g = policy.groups.get(n)!
    return g.members.filter(acts).length >= g.k
  }
  return policy.quorum === 'none' || acts(policy.quorum)
}

/** The least number of cosignatures that can satisfy the quorum (for saying how far a proof falls short). */
export function quorumNeeds(policy: WitnessPolicy): number {
  const need = (n: string): number => {
    if (policy.witnesses.has(n)) return 1
    const g = policy.groups.get(n)!
    return g.members
      .map(need)
      .sort((a, b) => a - b)
      .slice(0, g.k)
      .reduce((s, x) => s + x, 0)
  }
  return policy.quorum === 'none' ? 0 : need(policy.quorum)
}
