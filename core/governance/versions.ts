/**
 * Authority versions: who may sign, as seen from an event's causal past.
 *
 * An event is judged against the members, keys and policy that the committed
 * authority actions in its own causal past establish (Matrix authorises an
 * event "based on the state before the event" the same way), never against
 * events its author could not have seen. A version is the set of committed
 * authority actions in some causal past; its authority applies them in the
 * vault's order. That order restricted to a causal past is the past's own
 * order (a greedy topological order restricted to a down-set is the greedy
 * order of the down-set), so a version's authority never changes as events
 * arrive.
 *
 * Authority commits are numbered in the vault's order (0, 1, 2…). A version
 * is written as "every commit up to `top`, except `missing`": the commits
 * placed before `top` that this past has not seen. A recent event has seen
 * almost everything, so `missing` stays short, joins cost what two pasts
 * disagree on, and an authority is built from the nearest prefix (the
 * vault's own running authority after each commit) instead of from the
 * genesis: the cost per event does not grow with the vault.
 */
import type { Action } from './actions.js'
import { applyAuthority, checkAuthority } from './actions.js'
import type { Authority } from './state.js'

export interface Version {
  /** The last authority commit in it (-1: none). */
  top: number
  /** Commits before `top` that it lacks, ascending. */
  missing: number[]
  key: string
  /** Built on first use. */
  auth: Authority | null
}

export class Versions {
  readonly root: Version
  private readonly byKey = new Map<string, Version>()
  private readonly joins = new Map<string, Version>()
  /** The authority after commits 0..i, each applied if it fits (the vault's running authority). */
  private readonly prefix: Authority[] = []

  constructor(
    private readonly rootAuth: Authority,
    private readonly actionAt: (ac: number) => Action
  ) {
    this.root = this.intern(-1, [])
    this.root.auth = rootAuth
  }

  /** Number of authority commits placed. */
  get count(): number {
    return this.prefix.length
  }

  /** A commit was placed (number `count`): record the running authority after it. */
  placed(after: Authority): number {
    this.prefix.push(after)
    return this.prefix.length - 1
  }

  /** Take the last placed commit back out (rollback). */
  unplace(): void {
    this.prefix.pop()
    this.byKey.clear()
    this.joins.clear()
    this.byKey.set(this.root.key, this.root)
  }

  /** `v` plus commit `ac`, the newest placed: the commits between `v.top` and `ac` were concurrent, so missing. */
  extend(v: Version, ac: number): Version {
    const gap: number[] = []
    for (let x = v.top + 1; x < ac; x++) gap.push(x)
    return this.intern(ac, [...v.missing, ...gap])
  }

  /**
   * The version of a causal past made of the pasts of `parents` (null entries: parts that do not reach the genesis).
   */
  joinAll(parents: (Version | null)[]): Version | null {
    let out: Version | null = null
    for (const v of parents) {
      if (v === null || v === out) continue
      out = out === null ? v : this.join(out, v)
    }
    return out
  }

  private join(a: Version, b: Version): Version {
    if (a.top > b.top || (a.top === b.top && a.key > b.key)) [a, b] = [b, a]
    const memo = `${a.key}|${b.key}`
    const hit = this.joins.get(memo)
    if (hit) return hit
    // b reaches further; of what b lacks, a supplies whatever a has (everything above a.top a lacks too).
    const lacksA = new Set(a.missing)
    const missing = b.missing.filter((x) => x > a.top || lacksA.has(x))
    const out = this.intern(b.top, missing)
    this.joins.set(memo, out)
    return out
  }

  private intern(top: number, missing: number[]): Version {
    const key = `${top}/${missing.join(',')}`
    let v = this.byKey.get(key)
    if (!v) this.byKey.set(key, (v = { top, missing, key, auth: null }))
    return v
  }

  /** Who may sign in version `v`: the nearest complete prefix, then the commits it saw after that. */
  authority(v: Version): Authority {
    if (v.auth) return v.auth
    const first = v.missing.length > 0 ? v.missing[0]! : v.top + 1
    let auth = first === 0 ? this.rootAuth : this.prefix[first - 1]!
    const lacks = new Set(v.missing)
    for (let x = first; x <= v.top; x++) if (!lacks.has(x)) auth = applyIfFits(auth, this.actionAt(x))
    v.auth = auth
    return auth
  }
}

/**
 * An authority action that does not fit (e.g. a key two concurrent commits both added) leaves the authority as it was.
 */
export function applyIfFits(auth: Authority, action: Action): Authority {
  try {
    checkAuthority(auth, action)
  } catch {
    return auth
  }
  return applyAuthority(auth, action)
}
