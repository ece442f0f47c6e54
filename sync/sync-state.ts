/** What a device remembers about its CouchDB sync (no secrets): high-water marks, waiting docs, last results. */
import { dict, dictFrom, readJsonFileIfExists, writeJsonFile } from '../core/index.js'
import { join } from 'node:path'
import type { Denied } from './remote.js'
import type { IncidentBook } from './incidents.js'
import type { PullPoint } from './couch-pull.js'

export const SYNC_STATE_FILE = 'sync-couch.json'

export interface SyncState {
  v: 1
  url: string
  user: string | null
  /** Per feed, the highest event this device knows the server held (pulled from it or pushed to it). */
  highWater: Record<string, { seq: number; id: string }>
  /** Staged documents waiting for a predecessor or for their author to become a member. */
  waiting: string[]
  /** Staging change sequence the gate has processed. */
  gateSeq: number | string
  lastSuccess: string | null
  lastError: string | null
  lastRollback: { at: string; message: string } | null
  denied: Denied[]
  design: string | null
  /** Where this device is in the server's changes feed (sync/couch-pull.ts). Absent in files from before: read all. */
  pull?: PullPoint
  /** Rollbacks seen, signed as sync.incident events (or waiting to be). Absent in files from before. */
  incidents?: IncidentBook
}

export function freshState(url: string, user: string | null): SyncState {
  return {
    v: 1,
    url,
    user,
    highWater: dict(),
    waiting: [],
    gateSeq: 0,
    lastSuccess: null,
    lastError: null,
    lastRollback: null,
    denied: [],
    design: null
  }
}

export async function loadSyncState(dir: string): Promise<SyncState | null> {
  const s = (await readJsonFileIfExists(join(dir, SYNC_STATE_FILE), 64 * 1024 * 1024, 8).catch(
    () => null
  )) as SyncState | null
  return s?.v === 1 && typeof s.url === 'string' ? { ...s, highWater: dictFrom(s.highWater) } : null
}

export async function saveSyncState(dir: string, state: SyncState): Promise<void> {
  await writeJsonFile(join(dir, SYNC_STATE_FILE), state)
}
