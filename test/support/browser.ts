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
