import { describe, expect, test } from 'vitest'
import { readFile } from 'node:fs/promises'
import { CONTENT_SECURITY_POLICY, isRendererUrl, isSafeExternalUrl, windowOptions } from '../main/window-options.js'

function directives(csp: string): Map<string, string[]> {
  return new Map(
    csp
      .split(';')
      .map((d) => d.trim())
      .filter(Boolean)
      .map((d) => {
        const [name, ...values] = d.split(/\s+/)
        return [name!, values]
      })
  )
}

describe('window options', () => {
  test('window - renderer stays isolated and sandboxed', () => {
    const web = windowOptions('/app/out/preload/index.cjs').webPreferences
    expect(web).toMatchObject({
      preload: '/app/out/preload/index.cjs',
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false
    })
  })

  test('window - CSP stays strict', () => {
    const csp = directives(CONTENT_SECURITY_POLICY)
    expect(csp.get('default-src')).toEqual(["'none'"])
    expect(csp.get('script-src')).toEqual(["'self'"])
    expect(csp.get('style-src')).toEqual(["'self'"])
    for (const name of ['base-uri', 'form-action', 'frame-ancestors']) expect(csp.get(name)).toEqual(["'none'"])
    for (const weak of [
      "'unsafe-inline'",
      "'unsafe-eval'",
      "'unsafe-hashes'",
      "'wasm-unsafe-eval'",
      '*',
      'http:',
      'https:'
    ]) {
      expect(CONTENT_SECURITY_POLICY).not.toContain(weak)
    }
  })

  test('window - index.html carries the same CSP (less frame-ancestors, which a meta tag cannot set)', async () => {
    const html = await readFile(new URL('../renderer/index.html', import.meta.url), 'utf8')
    const meta = /<meta http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)?.[1]
    const header = directives(CONTENT_SECURITY_POLICY)
    header.delete('frame-ancestors')
    expect(meta && directives(meta)).toEqual(header)
  })

  test('window - only the renderer page is a trusted sender', () => {
    const page = 'file:///opt/Tresor/out/renderer/index.html'
    expect(isRendererUrl(page, page)).toBe(true)
    expect(isRendererUrl(page, `${page}#/health`)).toBe(true)
    expect(isRendererUrl(page, 'file:///tmp/evil/index.html')).toBe(false)
    expect(isRendererUrl(page, 'https://evil.example/opt/Tresor/out/renderer/index.html')).toBe(false)
    expect(isRendererUrl(page, 'not a url')).toBe(false)
    expect(isRendererUrl('http://localhost:5173', 'http://localhost:5173/src/x')).toBe(true)
    expect(isRendererUrl('http://localhost:5173', 'http://localhost:5174/')).toBe(false)
  })

  test('window - only https links may open externally', () => {
    expect(isSafeExternalUrl('https://example.org/docs')).toBe(true)
    for (const url of [
      'http://example.org',
      'file:///etc/passwd',
      'smb://host/share',
      'javascript:alert(1)',
      'tresor://x',
      'nonsense'
    ]) {
      expect(isSafeExternalUrl(url)).toBe(false)
    }
  })
})
