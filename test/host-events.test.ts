/** What hosts tell their views: the vault's changes, coalesced for a view; a listener's failure stays its own. */
import { afterAll, describe, expect, it } from 'vitest'
import { followHost, type HostEvent, type ViewEvent } from '../core/host.js'
import { cleanupDirs, makeVault } from './helpers.js'

afterAll(cleanupDirs)

describe('host events', () => {
  it('events - the vault says what changed: each durable append, events taken in, a check; a listener that throws changes nothing', async () => {
    const vault = await makeVault({ notes: 0 })
    try {
      const seen: string[] = []
      vault.onChange(() => {
        throw new Error('a broken view')
      })
      const stop = vault.onChange((c) => seen.push(c.kind === 'append' ? `append ${c.type} #${c.seq}` : c.kind))
      const d = await vault.append('audit.note', { text: 'one' })
      expect(seen).toEqual([`append audit.note #${d.event.seq}`])
      await vault.verify({ full: true })
      expect(seen.at(-1)).toBe('check')
      stop()
      await vault.append('audit.note', { text: 'two' })
      expect(seen).toHaveLength(2)
    } finally {
      await vault.close()
    }
  })

  it('events - a view is told once per burst and topic, and hears nothing after it stops', async () => {
    const listeners = new Set<(e: HostEvent) => void>()
    const subscribe = (l: (e: HostEvent) => void) => {
      listeners.add(l)
      return () => listeners.delete(l)
    }
    const emit = (e: HostEvent) => listeners.forEach((l) => l(e))
    const told: ViewEvent[][] = []
    const stop = followHost(subscribe, (events) => told.push(events), 20)
    for (let i = 0; i < 100; i++)
      emit({ topic: 'vault', change: { kind: 'append', author: 'a', seq: i, id: String(i), type: 'audit.note' } })
    emit({ topic: 'sync' })
    await new Promise((r) => setTimeout(r, 60))
    expect(told).toEqual([[{ topic: 'vault', kind: 'append' }, { topic: 'sync' }]])
    stop()
    emit({ topic: 'sync' })
    await new Promise((r) => setTimeout(r, 60))
    expect(told).toHaveLength(1)
    expect(listeners.size).toBe(0)
  })
})
