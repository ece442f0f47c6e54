import { beforeAll, describe, expect, test } from 'vitest'
import { fileURLToPath } from 'node:url'
import { ESLint } from 'eslint'

const RULE = '@typescript-eslint/no-restricted-imports'
let eslint: ESLint

/** Lint `code` as if it lived at `filePath`; return the boundary-rule hits. */
async function boundaryHits(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath })
  return result!.messages.filter((m) => m.ruleId === RULE).map((m) => m.message)
}

beforeAll(() => {
  eslint = new ESLint({ cwd: fileURLToPath(new URL('..', import.meta.url)) })
})

describe('lint boundaries', () => {
  test('lint - core importing electron fails', async () => {
    expect(await boundaryHits('core/probe.ts', "import { app } from 'electron'\nexport const a = app\n")).toHaveLength(
      1
    )
    expect(
      await boundaryHits('core/probe.ts', "import type { App } from 'electron'\nexport type A = App\n")
    ).toHaveLength(1)
  })

  test('lint - core importing sync/ fails', async () => {
    expect(await boundaryHits('core/probe.ts', "import { x } from '../sync/x.js'\nexport const y = x\n")).toHaveLength(
      1
    )
  })

  test('lint - renderer importing a value from core fails', async () => {
    expect(
      await boundaryHits(
        'renderer/src/probe.ts',
        "import { createHandlers } from '../../core/api.js'\nexport const h = createHandlers\n"
      )
    ).toHaveLength(1)
  })

  test('lint - renderer importing a type from core passes', async () => {
    const [result] = await eslint.lintText(
      "import type { Method } from '../../core/index.js'\nexport type M = Method\n",
      { filePath: 'renderer/src/probe.ts' }
    )
    expect(result!.errorCount + result!.warningCount).toBe(0)
  })

  test('lint - renderer importing Node built-ins fails', async () => {
    expect(
      await boundaryHits(
        'renderer/src/probe.ts',
        "import { readFile } from 'node:fs/promises'\nexport const r = readFile\n"
      )
    ).toHaveLength(1)
    expect(
      await boundaryHits('renderer/src/probe.ts', "import { join } from 'path'\nexport const j = join\n")
    ).toHaveLength(1)
  })
})

describe('lint formats', () => {
  const hits = async (filePath: string, code: string) => {
    const [result] = await eslint.lintText(code, { filePath })
    return result!.messages.filter((m) => m.ruleId === 'no-restricted-syntax').map((m) => m.message)
  }

  test('lint - a document id prefix or a signing domain tag written out anywhere but core/formats.ts fails', async () => {
    expect(await hits('sync/probe.ts', "export const a = 'ev!' + 'x'\n")).toHaveLength(1)
    expect(await hits('core/probe.ts', 'export const b = (x: string) => `fork!${x}`\n')).toHaveLength(1)
    expect(await hits('edge/probe.ts', 'export const c = (v: string) => `tresor/v1/bundle/${v}\\n`\n')).toHaveLength(1)
    expect(await hits('core/formats.ts', "export const EVENT_PREFIX = 'ev!'\n")).toHaveLength(0)
    expect(await hits('core/probe.ts', "export const d = 'every!'\n")).toHaveLength(0)
  })
})

describe('lint core surface', () => {
  test('lint - sync/, edge/ and main/ take core through core/index.js only', async () => {
    expect(
      await boundaryHits('sync/probe.ts', "import { Vault } from '../core/vault.js'\nexport const v = Vault\n")
    ).toHaveLength(1)
    expect(
      await boundaryHits(
        'edge/probe.ts',
        "import type { VerifyReport } from '../core/verify.js'\nexport type R = VerifyReport\n"
      )
    ).toHaveLength(1)
    expect(
      await boundaryHits('main/probe.ts', "import { Vault } from '../core/index.js'\nexport const v = Vault\n")
    ).toHaveLength(0)
  })
})

describe('lint silent catches', () => {
  const hits = async (code: string) => {
    const [result] = await eslint.lintText(code, { filePath: 'core/probe.ts' })
    return result!.messages.filter((m) => m.ruleId === 'tresor/silent-catch').length
  }

  test('lint - a catch that swallows an error without a comment saying why fails', async () => {
    expect(await hits('export async function f(p: Promise<void>) { await p.catch(() => undefined) }\n')).toBe(1)
    expect(await hits('export function g() { try { JSON.parse("x") } catch { } }\n')).toBe(1)
    expect(
      await hits(
        'export async function f(p: Promise<void>) { await p.catch(() => undefined) // gone already is fine\n}\n'
      )
    ).toBe(0)
    expect(
      await hits(
        'export function g() { try { JSON.parse("x") } catch { /* not JSON: the caller asked only whether it is */ } }\n'
      )
    ).toBe(0)
    // a default value is not silence
    expect(await hits('export async function f(p: Promise<number>) { return p.catch(() => 0) }\n')).toBe(0)
  })
})
