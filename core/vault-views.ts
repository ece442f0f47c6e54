/**
 * The narrow views of a vault that the domains beside the kernel take, as
 * interfaces the kernel (`Vault`, core/vault.ts) implements. A domain written
 * against a view depends on what it uses, not on the kernel's module, so the
 * kernel can call the domain back (the checkpoint made at close) without an
 * import circle.
 */
import type { DecodedEvent } from './envelope.js'
import type { Json } from './canonical.js'
import type { LogStore } from './store.js'
import type { GovEvent } from './governance/fold.js'
import type { GovState, MemberState } from './governance/state.js'
import type { VerifyReport } from './verify-report.js'

export type HealthState = 'ok' | 'read-only'

export interface Health {
  state: HealthState
  reason: string | null
  report: VerifyReport | null
  /** The database itself is damaged (STORAGE_DAMAGED): `tresor recover` is the way back. */
  damaged?: boolean
}

/** What reading the whole log takes: its store, the feeds' heads, and its governance events in fold order. */
export interface LogHolder {
  readonly vaultId: string
  readonly store: LogStore
  heads(): Record<string, { length: number; head: string }>
  /** Wait until every acknowledged append is indexed. */
  flush(): Promise<void>
  /** READ-ONLY's one gate: throws for `what` unless the vault may be written. */
  assertWritable(what: string): void
  governanceEvents(): GovEvent[]
}

/** A log holder that also signs events of its own: who it is, its health, the governed state. */
export interface Appender extends LogHolder {
  readonly dir: string
  readonly unlocked: boolean
  readonly health: Health
  readonly member: MemberState | null
  readonly state: GovState
  append(type: string, payload: Record<string, Json>, now?: Date): Promise<DecodedEvent>
}
