/**
 * The security settings of every Tresor window, in one place so a test can pin
 * them. Runs in the main process; imports no Electron value so it loads in Node.
 */
import type { BrowserWindowConstructorOptions } from 'electron'

/** Strict CSP for the renderer (core/ui-policy.ts: the same one the edge daemon serves). */
export { CONTENT_SECURITY_POLICY } from '../core/index.js'

/** BrowserWindow options: isolated, sandboxed renderer whose only bridge is `preloadPath`. */
export function windowOptions(preloadPath: string): BrowserWindowConstructorOptions {
  return {
    width: 1100,
    height: 760,
    minWidth: 640,
    minHeight: 480,
    show: false,
    title: 'Tresor',
    backgroundColor: '#f7f7f5',
    webPreferences: {
      preload: preloadPath,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      spellcheck: false
    }
  }
}

function parse(url: string): URL | null {
  try {
    return new URL(url)
  } catch {
    return null
  }
}

/**
 * Whether `frameUrl` is the app's own renderer page: the same file for the
 * built app (file:), the same origin for the dev server.
 */
export function isRendererUrl(rendererUrl: string, frameUrl: string): boolean {
  const expected = parse(rendererUrl)
  const actual = parse(frameUrl)
  if (!expected || !actual) return false
  if (expected.protocol === 'file:') {
    return actual.protocol === 'file:' && actual.host === expected.host && actual.pathname === expected.pathname
  }
  return actual.origin === expected.origin
}

/** Only https: links may leave the app (to the system browser); never file:, smb:, custom schemes. */
export function isSafeExternalUrl(url: string): boolean {
  return parse(url)?.protocol === 'https:'
}
