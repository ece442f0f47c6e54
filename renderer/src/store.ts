/**
 * The UI's view of core: one zustand store built from slices. Actions call the
 * API client, then refresh from core; core stays the source of truth.
 */
import { create, type StateCreator } from 'zustand'
import type { LogEntry, VaultStatus, VerifyReport } from '../../core/index.js'
import { ApiError, send, type Send } from './api-client.js'

/** How many log entries the audit list shows. */
export const LOG_PAGE = 100

function asApiError(err: unknown): ApiError {
  return err instanceof ApiError ? err : new ApiError('TRANSPORT', err instanceof Error ? err.message : String(err))
}

export interface HealthSlice {
  status: VaultStatus | null
  statusError: ApiError | null
  statusLoading: boolean
  verifying: boolean
  verifyResult: VerifyReport | null
  verifyError: ApiError | null
  loadStatus(): Promise<void>
  runFullCheck(): Promise<void>
}

export interface LogSlice {
  entries: LogEntry[]
  total: number
  logError: ApiError | null
  logLoading: boolean
  loadLog(): Promise<void>
}

export type AppState = HealthSlice & LogSlice
type Slice<T> = StateCreator<AppState, [], [], T>

const healthSlice = (client: Send): Slice<HealthSlice> => (set, get) => ({
  status: null,
  statusError: null,
  statusLoading: false,
  verifying: false,
  verifyResult: null,
  verifyError: null,
  loadStatus: async () => {
    set({ statusLoading: true })
    try {
      set({ status: await client('vault.status', {}), statusError: null })
    } catch (err) {
      set({ status: null, statusError: asApiError(err) })
    } finally {
      set({ statusLoading: false })
    }
  },
  runFullCheck: async () => {
    if (get().verifying) return
    set({ verifying: true, verifyError: null })
    try {
      set({ verifyResult: await client('vault.verify', { full: true }) })
    } catch (err) {
      set({ verifyError: asApiError(err) })
    } finally {
      set({ verifying: false })
    }
    // A full check can lift or set READ-ONLY: show what core now says.
    await Promise.all([get().loadStatus(), get().loadLog()])
  }
})

const logSlice = (client: Send): Slice<LogSlice> => (set) => ({
  entries: [],
  total: 0,
  logError: null,
  logLoading: false,
  loadLog: async () => {
    set({ logLoading: true })
    try {
      const { entries, total } = await client('log.list', { offset: 0, limit: LOG_PAGE })
      set({ entries, total, logError: null })
    } catch (err) {
      set({ entries: [], total: 0, logError: asApiError(err) })
    } finally {
      set({ logLoading: false })
    }
  }
})

/** Assemble the store over a client (the real one by default; tests may pass their own). */
export function createAppStore(client: Send = send) {
  return create<AppState>()((...a) => ({ ...healthSlice(client)(...a), ...logSlice(client)(...a) }))
}

export const useAppStore = createAppStore()
