/** Selectors: what each view reads from the store (views never reach into slices directly). */
import { useMemo } from 'react'
import { useAppStore, type AppState, type Job } from './store.js'

const noJob: Job = { busy: false, error: null, done: null }

export const selectJob =
  (name: string) =>
  (s: AppState): Job =>
    s.jobs[name] ?? noJob
export const selectScreen = (s: AppState) => s.screen
export const selectStatus = (s: AppState) => s.status
export const selectReadOnly = (s: AppState) => s.status?.health.state === 'read-only'
export const selectUnlocked = (s: AppState) => s.status?.unlocked === true
/** What needs me now: proposals to sign and proposals ready to commit (my own waiting ones need others). */
export const selectInboxCount = (s: AppState) => s.inbox.toSign.length + s.inbox.toCommit.length
export const selectSelectedProposal = (s: AppState) => s.proposals.find((p) => p.id === s.selected) ?? null
export const selectMe = (s: AppState) => {
  const device = s.status?.device
  if (!device || !s.gov) return null
  return Object.values(s.gov.members).find((m) => m.active && m.keys.includes(device)) ?? null
}
export const selectMembers = (s: AppState) => s.gov?.members

/** A name lookup for device keys (memoised per members object: selectors must return stable values). */
export function useNameOf(): (key: string) => string | null {
  const members = useAppStore(selectMembers)
  return useMemo(() => {
    const byKey = new Map<string, string>()
    for (const m of Object.values(members ?? {})) for (const k of [...m.keys, ...m.revokedKeys]) byKey.set(k, m.name)
    return (key: string) => byKey.get(key) ?? null
  }, [members])
}
export const selectLogWindow = (s: AppState) => ({ total: s.logTotal, pages: s.logPages, generation: s.logGeneration })
