/** The vault itself: status, members, the self-check, the key's lock, recovery. */
import type { Health, Vault } from '../vault.js'
import type { MemberState } from '../governance/state.js'
import type { VerifyReport } from '../verify.js'
import type { RecoveryReport } from '../recover.js'
import { BAD_ARGUMENT, UNKNOWN_METHOD } from '../errors.js'
import { BUNDLE_ARGS, obj, optString, reads, signs, type Domain } from './meta.js'

export interface VaultStatus {
  vaultId: string
  name: string
  device: string
  unlocked: boolean
  /** `damaged`: the database itself is damaged; `vault.recover` (tresor recover) is the way back. */
  health: { state: Health['state']; reason: string | null; damaged: boolean }
  /**
   * After a recovery: the length this device's own feed must reach again before it signs (null: nothing to wait for).
   */
  catchUp: number | null
  /**
   * This folder opened somewhere other than where it last lived: copied (then both copies hold one device key, and
   * signing from both forks it) or moved. Null once confirmed as moved (`vault.confirmHome`), or at home.
   */
  moved: { fromHost: string; fromDir: string } | null
  events: number
  feeds: Record<string, { length: number; head: string }>
  lastCheck: Pick<VerifyReport, 'ok' | 'mode' | 'checked' | 'total' | 'durationMs' | 'verifiedAt'> | null
}

/** What a recovery brought back (core/recover.ts), and one line per peer asked. */
export interface RecoveryResult extends RecoveryReport {
  peers: string[]
}

export interface VaultMethods {
  'vault.status': (args: Record<string, never>) => Promise<VaultStatus>
  'vault.members': (args: Record<string, never>) => Promise<MemberState[]>
  'vault.verify': (args: { full?: boolean }) => Promise<VerifyReport>
  /** How far the running full check is (null when none runs): for a progress bar. */
  'vault.progress': (args: Record<string, never>) => Promise<{ task: 'verify'; done: number; total: number } | null>
  /** Hosts may extend it (the desktop's `remember`: main/contract.ts). */
  'vault.unlock': (args: { passphrase: string }) => Promise<{ unlocked: true }>
  'vault.lock': (args: Record<never, never>) => Promise<{ unlocked: false }>
  /** The person says this folder was moved here, not copied: it is its home now, and the warning ends. */
  'vault.confirmHome': (args: Record<never, never>) => Promise<VaultStatus>
  /**
   * Rebuild a damaged vault (run by the host, which holds the vault): the
   * database is moved aside, never deleted; the log is rebuilt from what still
   * reads, the journal, the bundle given and, with `peers`, the CouchDB server
   * and Git mirror the vault syncs with, all through the gate.
   */
  'vault.recover': (args: { passphrase: string; bundle?: string; peers?: boolean }) => Promise<RecoveryResult>
}

export function statusOf(vault: Vault): VaultStatus {
  const report = vault.health.report
  const feeds = vault.heads()
  return {
    vaultId: vault.vaultId,
    name: vault.config.name,
    device: vault.device,
    unlocked: vault.unlocked,
    health: { state: vault.health.state, reason: vault.health.reason, damaged: vault.health.damaged === true },
    catchUp: vault.awaitingCatchUp,
    moved: vault.moved && { fromHost: vault.moved.from.host, fromDir: vault.moved.from.dir },
    events: Object.values(feeds).reduce((n, f) => n + f.length, 0),
    feeds,
    lastCheck: report && {
      ok: report.ok,
      mode: report.mode,
      checked: report.checked,
      total: report.total,
      durationMs: report.durationMs,
      verifiedAt: report.verifiedAt
    }
  }
}

export const vaultDomain: Domain<VaultMethods> = {
  meta: {
    'vault.status': reads,
    'vault.members': reads,
    // A full check signs the new verified point.
    'vault.verify': { ...signs, writes: false },
    'vault.progress': reads,
    'vault.unlock': { ...signs, writes: false },
    'vault.lock': { ...reads, local: true },
    'vault.confirmHome': { ...reads, local: true },
    'vault.recover': { signs: true, writes: true, maxArgBytes: BUNDLE_ARGS, host: true }
  },
  build: ({ vault }) => {
    let progress: { task: 'verify'; done: number; total: number } | null = null
    return {
      'vault.status': async () => statusOf(vault),
      'vault.members': async () => Object.values(vault.state.members),
      'vault.verify': async (args) => {
        progress = { task: 'verify', done: 0, total: 0 }
        try {
          return await vault.verify({
            full: obj(args).full === true,
            onProgress: (done, total) => {
              progress = { task: 'verify', done, total }
            }
          })
        } finally {
          progress = null
        }
      },
      'vault.progress': async () => progress,
      'vault.unlock': async (args) => {
        const passphrase = optString(obj(args).passphrase, 'passphrase', 1024)
        if (!passphrase) throw BAD_ARGUMENT('passphrase is required')
        await vault.unlock(passphrase)
        return { unlocked: true }
      },
      'vault.lock': async () => {
        vault.lock()
        return { unlocked: false }
      },
      'vault.confirmHome': async () => {
        await vault.confirmHome()
        return statusOf(vault)
      },
      'vault.recover': async () => {
        throw UNKNOWN_METHOD(
          'recovery is run by the host that holds the vault (tresor serve, the desktop app) or by tresor recover'
        )
      }
    }
  }
}
