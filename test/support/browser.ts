/**
 * Debian's chromium (installed by .ci/run) driven by playwright-core, headless,
 * with a temporary profile; screenshots go to test-artifacts/screenshots/.
 */
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const CHROMIUM = process.env.TRESOR_CHROMIUM ?? '/usr/bin/chromium'
export const SHOTS = fileURLToPath(new URL('../../test-artifacts/screenshots/', import.meta.url))

export interface Browser {
  context: BrowserContext
  newPage(url: string): Promise<Page>
  close(): Promise<void>
  errors: string[]
}

export async function launchBrowser(): Promise<Browser> {
  const profile = await mkdtemp(join(tmpdir(), 'tresor-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    viewport: { width: 1280, height: 860 }
  })
  await mkdir(SHOTS, { recursive: true })
  const errors: string[] = []
  return {
    context,
    errors,
    async newPage(url) {
      const page = await context.newPage()
      // Uncaught errors and CSP violations are collected; the tests assert there are none.
      page.on('pageerror', (err) => errors.push(err.message))
      page.on('console', (msg) => {
        if (msg.type() === 'error') errors.push(msg.text())
      })
      await page.goto(url)
      return page
    },
    async close() {
      await context.close()
      await rm(profile, { recursive: true, force: true })
    }
  }
}

export async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })
}

const AXE = fileURLToPath(new URL('../../node_modules/axe-core/axe.min.js', import.meta.url))

/**
 * The page's accessibility problems as axe-core (Deque's maintained rule engine) finds them against WCAG 2.1 A and AA:
 * one line per rule and element ("rule: element — what is wrong"). The engine is evaluated through the debugging
 * protocol, so the page's strict CSP stays as it is.
 */
export async function accessibilityProblems(page: Page): Promise<string[]> {
  const { readFile } = await import('node:fs/promises')
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(await readFile(AXE, 'utf8'))
  return page.evaluate(async () => {
    const axe = (window as unknown as { axe: AxeLike }).axe
    const r = await axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] }
    })
    return r.violations.flatMap((v) => v.nodes.map((n) => `${v.id}: ${n.target.join(' ')} — ${n.failureSummary}`))
  })
}

interface AxeLike {
  run(
    context: Document,
    options: object
  ): Promise<{ violations: { id: string; nodes: { target: string[]; failureSummary: string }[] }[] }>
}
