/**
 * Onboarding: a folder without a vault becomes one (create, keygen, join from
 * a bundle, CouchDB or Git). The host implements these (`core/host.ts`);
 * with a vault open, they say so.
 */
import { ALREADY_EXISTS } from '../errors.js'
import { BUNDLE_ARGS, reads, signs, type Domain } from './meta.js'
import type { Vault } from '../vault.js'

/** Whether the host's folder holds a vault yet (the UI shows onboarding until it does). */
export interface OnboardStatus {
  hasVault: boolean
  dir: string
  deviceKey: string | null
  error: { code: string; message: string } | null
}

export interface OnboardMethods {
  'onboard.status': (args: Record<string, never>) => Promise<OnboardStatus>
  /** A new vault with its founders: this device's member and at least one co-founder (every change needs two). */
  'onboard.create': (args: {
    vaultName: string
    memberName: string
    roles: string[]
    cofounders: { name: string; roles: string[]; key: string }[]
    passphrase: string
  }) => Promise<OnboardStatus>
  'onboard.keygen': (args: { name: string; passphrase: string }) => Promise<{ publicKey: string }>
  'onboard.join': (args: { bundle: string; passphrase: string }) => Promise<OnboardStatus>
  'onboard.joinCouch': (args: {
    url: string
    user?: string
    password?: string
    passphrase: string
  }) => Promise<OnboardStatus>
  'onboard.joinGit': (args: { url: string; token: string; passphrase: string }) => Promise<OnboardStatus>
}

const hosted = { ...signs, host: true } as const

export const onboardDomain: Domain<OnboardMethods, Pick<Vault, 'dir' | 'device'>> = {
  meta: {
    'onboard.status': { ...reads, host: true },
    'onboard.create': hosted,
    'onboard.keygen': hosted,
    'onboard.join': { ...hosted, maxArgBytes: BUNDLE_ARGS },
    'onboard.joinCouch': hosted,
    'onboard.joinGit': hosted
  },
  build: ({ vault }) => {
    const opened = async () => {
      throw ALREADY_EXISTS('this folder already holds a vault')
    }
    return {
      'onboard.status': async () => ({ hasVault: true, dir: vault.dir, deviceKey: vault.device, error: null }),
      'onboard.create': opened,
      'onboard.keygen': opened,
      'onboard.join': opened,
      'onboard.joinCouch': opened,
      'onboard.joinGit': opened
    }
  }
}
