/**
 * Preload for the sandboxed renderer (built as CommonJS: a sandboxed preload
 * cannot be an ES module). Exposes exactly one frozen object, `window.tresor`;
 * ipcRenderer itself never reaches the page.
 */
import { contextBridge, ipcRenderer } from 'electron'
import type { IpcResult } from './ipc-handlers.js'
import type { ViewEvent } from '../core/index.js'

/** The bridge the renderer sees as `window.tresor`. */
export interface TresorBridge {
  /** Call one core method; resolves with a result envelope, never rejects for a core error. */
  invoke(method: string, args: unknown): Promise<IpcResult>
  /** Be told what changed in the vault (main pushes it, coalesced); returns the stop. */
  onEvents(listener: (events: ViewEvent[]) => void): () => void
}

const api: TresorBridge = Object.freeze({
  invoke: (method: string, args: unknown) => ipcRenderer.invoke('tresor:invoke', method, args) as Promise<IpcResult>,
  onEvents: (listener: (events: ViewEvent[]) => void) => {
    // The page gets the events only, never the IPC event object (it would hand it ipcRenderer's sender).
    const handler = (_event: unknown, events: ViewEvent[]) => listener(events)
    ipcRenderer.on('tresor:events', handler)
    return () => {
      ipcRenderer.removeListener('tresor:events', handler)
    }
  }
})

contextBridge.exposeInMainWorld('tresor', api)
