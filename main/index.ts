/**
 * Electron main process: one window, one IPC channel, one open vault.
 * Thin on purpose: what it decides is in window-options.ts and
 * ipc-handlers.ts, where tests can reach it.
 */
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { app, BrowserWindow, ipcMain, safeStorage, session, shell, type WebContents } from 'electron'
import { Keychain } from './keychain.js'
import { unlockFromKeychain, withKeychain } from './desktop-host.js'
import { createIpcHandler } from './ipc-handlers.js'
import { openVaultHost, type SyncHostMethods, type VaultHost } from './vault-host.js'
import { CONTENT_SECURITY_POLICY, isRendererUrl, isSafeExternalUrl, windowOptions } from './window-options.js'
import { followHost, guardStorageFaults } from '../core/index.js'

const here = import.meta.dirname

// The vault's files are this user's alone (LevelDB's too), and damaged storage is a state the window shows, not a
// crash.
process.umask(0o077)
guardStorageFaults()
const rendererUrl =
  !app.isPackaged && process.env.ELECTRON_RENDERER_URL
    ? process.env.ELECTRON_RENDERER_URL
    : pathToFileURL(join(here, '../renderer/index.html')).href

let win: BrowserWindow | null = null
let host: VaultHost<SyncHostMethods> | null = null

/** The one way out of the app: https links, opened by the system browser. */
function openExternalSafely(url: string): void {
  if (isSafeExternalUrl(url)) void shell.openExternal(url)
}

/** Every web contents (window, devtools, anything later) denies new windows, navigation and webviews. */
function lockDown(contents: WebContents): void {
  contents.setWindowOpenHandler(({ url }) => {
    openExternalSafely(url)
    return { action: 'deny' }
  })
  contents.on('will-navigate', (event) => event.preventDefault())
  contents.on('will-attach-webview', (event) => event.preventDefault())
}

function lockDownSession(): void {
  const ses = session.defaultSession
  ses.setPermissionRequestHandler((_contents, _permission, callback) => callback(false))
  ses.setPermissionCheckHandler(() => false)
  ses.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CONTENT_SECURITY_POLICY] } })
  })
}

function createWindow(): void {
  win = new BrowserWindow(windowOptions(join(here, '../preload/index.cjs')))
  win.once('ready-to-show', () => win?.show())
  win.on('closed', () => {
    win = null
  })
  void win.loadURL(rendererUrl)
}

function start(): void {
  const dir = process.env.TRESOR_DIR || join(app.getPath('userData'), 'vault')
  host = openVaultHost(dir)
  // The passphrase may live in the OS keychain (never basic_text on Linux); it unlocks once at start.
  const keychain = new Keychain(dir, safeStorage)
  const handlers = withKeychain(host.handlers, keychain)
  void unlockFromKeychain(handlers, keychain)
  const handle = createIpcHandler(handlers, (frameUrl) => isRendererUrl(rendererUrl, frameUrl), host.registry)
  ipcMain.handle('tresor:invoke', (event, method, args) => handle(event, method, args))
  // What changed is pushed to the window (coalesced), so the renderer refreshes on it instead of polling.
  followHost(host.subscribe, (events) => win?.webContents.send('tresor:events', events))
  lockDownSession()
  createWindow()
}

if (!app.requestSingleInstanceLock()) {
  // Another Tresor owns this vault (LevelDB allows one process); it takes focus instead.
  app.quit()
} else {
  app.on('second-instance', () => {
    if (win?.isMinimized()) win.restore()
    win?.focus()
  })
  app.on('web-contents-created', (_event, contents) => lockDown(contents))
  app.on('window-all-closed', () => app.quit())
  let closed = false
  app.on('before-quit', (event) => {
    if (closed || !host) return
    // Close the vault first so the verified point is saved and the next start is incremental.
    event.preventDefault()
    closed = true
    host
      .close()
      .catch((err: unknown) =>
        console.error('tresor: closing the vault failed:', err instanceof Error ? err.message : err)
      )
      .finally(() => app.quit())
  })
  void app.whenReady().then(start)
}
