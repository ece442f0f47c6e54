/**
 * Preload for the sandboxed renderer (built as CommonJS: a sandboxed preload
 * cannot be an ES module). Exposes exactly one frozen object, `window.tresor`;
 * ipcRenderer itself never reaches the page.
 */
import { contextBridge, ipcRenderer } from 'electron'
import type { IpcResult } from './ipc-handlers.js'

/** The bridge the renderer sees as `window.tresor`. */
export interface TresorBridge {
  /** Call one core method; resolves with a result envelope, never rejects for a core error. */
  invoke(method: string, args: unknown): Promise<IpcResult>
}

const api: TresorBridge = Object.freeze({
  invoke: (method: string, args: unknown) => ipcRenderer.invoke('tresor:invoke', method, args) as Promise<IpcResult>
})

contextBridge.exposeInMainWorld('tresor', api)
