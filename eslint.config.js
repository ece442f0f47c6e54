// @ts-check
/**
 * Lint for Tresor. Its main job is the layout: which layer may import which.
 *   core/     the vault; knows no host, no UI, no sync
 *   sync/     replication; knows core, no host, no UI
 *   main/     Electron main + preload; no UI code
 *   edge/     CLI and daemon; no UI code
 *   renderer/ the UI; sees core and main only as types, and nothing of Node
 * Every boundary uses @typescript-eslint/no-restricted-imports (the base rule
 * plus `allowTypeImports`), so one rule per layer holds all of its limits.
 */
import { builtinModules } from 'node:module'
import { defineConfig } from 'eslint/config'
import tseslint from 'typescript-eslint'

const RULE = '@typescript-eslint/no-restricted-imports'
const SOURCES = ['**/*.ts', '**/*.tsx', '**/*.js', '**/*.mjs', '**/*.cjs']
const inLayer = (/** @type {string} */ dir) => SOURCES.map((glob) => `${dir}/${glob}`)

/** A pattern that matches an import path containing the folder `dir` (e.g. `../sync/x.js`). */
const folder = (/** @type {string} */ dir, /** @type {string} */ message) => ({ regex: `(^|/)${dir}(/|$)`, message })
const pkg = (/** @type {string} */ name, /** @type {string} */ message) => ({ regex: `^${name}(/|$)`, message })

const UI = ['react', 'react-dom', 'zustand']

/**
 * A catch that swallows an error (an empty catch block, `.catch(() => undefined)`,
 * `.catch(() => {})`) must say why in a comment on its line or the line above:
 * a silent failure in a security product is a decision, not a default.
 */
const silentCatch = {
  meta: {
    type: 'problem',
    messages: { why: 'this catch swallows the error: say why in a comment on this line or the line above' }
  },
  create(/** @type {any} */ context) {
    const src = context.sourceCode
    const explained = (/** @type {any} */ node) => {
      const first = node.loc.start.line,
        last = node.loc.end.line
      return src
        .getAllComments()
        .some((/** @type {any} */ c) => c.loc.end.line >= first - 1 && c.loc.start.line <= last)
    }
    return {
      CatchClause(/** @type {any} */ node) {
        if (node.body.body.length === 0 && !explained(node)) context.report({ node, messageId: 'why' })
      },
      "CallExpression[callee.property.name='catch']"(/** @type {any} */ node) {
        const fn = node.arguments[0]
        if (!fn || (fn.type !== 'ArrowFunctionExpression' && fn.type !== 'FunctionExpression')) return
        const b = fn.body
        const swallows =
          b.type === 'BlockStatement' ? b.body.length === 0 : b.type === 'Identifier' && b.name === 'undefined'
        if (swallows && !explained(node)) context.report({ node, messageId: 'why' })
      }
    }
  }
}

/** What no host (the Electron main process, the edge CLI and daemon) imports. */
const HOST_PATTERNS = [
  ...UI.map((name) => pkg(name, 'hosts may not import UI libraries.')),
  folder('renderer', 'hosts may not import the UI: talk to it over IPC/HTTP.')
]

/** Hosts and sync take core through its public surface only (core/index.ts), so core's inside can move. */
const CORE_SURFACE = {
  regex: '(^|/)core/(?!index\\.js$)',
  message: 'import core through its public surface, core/index.js (add what you need there).'
}

const FORMAT_MESSAGE = 'signing domain tags and document id prefixes live in core/formats.ts: import them from there.'
const FORMAT_LITERALS = [
  { selector: 'Literal[value=/^(ev|fork)!/]', message: FORMAT_MESSAGE },
  { selector: 'TemplateElement[value.raw=/^(ev|fork)!/]', message: FORMAT_MESSAGE },
  { selector: 'Literal[value=/tresor\\/v[0-9]/]', message: FORMAT_MESSAGE },
  { selector: 'TemplateElement[value.raw=/tresor\\/v[0-9]/]', message: FORMAT_MESSAGE }
]
const PLAIN_THROW = {
  selector: 'ThrowStatement > NewExpression[callee.name=/^(Error|TypeError|RangeError)$/]',
  message:
    'throw a VaultError from its factory in core/errors.ts (BAD_ARGUMENT(…), NOT_FOUND(…), …): every failure carries a code.'
}

export default defineConfig(
  { ignores: ['out/**', 'dist/**', 'node_modules/**', 'demo-vault/**', 'test-artifacts/**', 'bench/results/**'] },
  tseslint.configs.recommended,
  {
    rules: {
      // `_`-prefixed names are deliberately unused (callback signatures).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Prettier (printWidth 120) lays out the code; what it cannot break — a comment, JSX text — is held to the same
      // width here. Messages in strings and templates stay whole (they are searched for), as do regular expressions.
      'max-len': [
        'error',
        { code: 120, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true, ignoreUrls: true }
      ]
    }
  },
  {
    // Ambient declarations for untyped packages, and benchmarks poking at internals.
    files: ['types/**', 'bench/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' }
  },
  {
    files: inLayer('core'),
    rules: {
      [RULE]: [
        'error',
        {
          patterns: [
            pkg('electron', 'core runs in every host: it may not import Electron.'),
            ...UI.map((name) => pkg(name, 'core may not import UI libraries.')),
            folder('sync', 'core may not depend on sync/: sync builds on core, not the reverse.'),
            folder('renderer', 'core may not import the UI.'),
            folder('main', 'core may not import a host (main/).'),
            folder('edge', 'core may not import a host (edge/).')
          ]
        }
      ]
    }
  },
  {
    files: inLayer('sync'),
    rules: {
      [RULE]: [
        'error',
        {
          patterns: [
            pkg('electron', 'sync may not import Electron.'),
            ...UI.map((name) => pkg(name, 'sync may not import UI libraries.')),
            folder('renderer', 'sync may not import the UI.'),
            folder('main', 'sync may not import the Electron host.'),
            CORE_SURFACE
          ]
        }
      ]
    }
  },
  {
    files: [...inLayer('main'), ...inLayer('edge')],
    rules: {
      [RULE]: [
        'error',
        {
          patterns: [...HOST_PATTERNS, CORE_SURFACE]
        }
      ]
    }
  },
  {
    // The starter loads the built CLI (one file, with its code cache); it must stay a few kilobytes, and core's
    // surface would bundle all of core into it, so it takes core's two leaf modules it runs on, and nothing else.
    files: ['edge/start.ts'],
    rules: {
      [RULE]: [
        'error',
        {
          patterns: [
            ...HOST_PATTERNS,
            {
              regex: '(^|/)core/(?!(code-cache|errors)\\.js$)',
              message: 'the starter takes core/code-cache.js and core/errors.js only: it must stay small.'
            }
          ]
        }
      ]
    }
  },
  {
    files: inLayer('renderer'),
    rules: {
      [RULE]: [
        'error',
        {
          paths: builtinModules.map((name) => ({
            name,
            message: 'the renderer is a browser page: no Node built-ins.'
          })),
          patterns: [
            { regex: '^node:', message: 'the renderer is a browser page: no Node built-ins.' },
            pkg('electron', 'the renderer talks to main through window.tresor only.'),
            { regex: '^pouchdb', message: 'the renderer may not open the database: call core through the API client.' },
            pkg('tweetnacl', 'the renderer holds no keys: signing happens in core.'),
            // core/forms.ts (what a person types → an action), core/settings.ts (the known settings) and core/review.ts
            // (what a proposal changes) are the modules of core the UI runs — pure — so the CLI and the app agree.
            {
              regex: '(^|/)core/(?!(forms|settings|review)\\.js$)',
              message:
                'the renderer may import core types only (`import type`), core/forms.js, core/settings.js and core/review.js; call core through the API client.',
              allowTypeImports: true
            },
            { ...folder('main', 'the renderer may import main types only (`import type`).'), allowTypeImports: true },
            folder('edge', 'the renderer may not import the edge host.'),
            folder('sync', 'the renderer may not import sync/.')
          ]
        }
      ]
    }
  },
  {
    files: ['core', 'sync', 'main', 'edge'].flatMap(inLayer),
    plugins: { tresor: { rules: { 'silent-catch': silentCatch } } },
    rules: { 'tresor/silent-catch': 'error' }
  },
  {
    // Domain tags and document id prefixes live in core/formats.ts only (the design document is JavaScript the server
    // runs).
    files: ['main', 'edge', 'renderer'].flatMap(inLayer),
    rules: { 'no-restricted-syntax': ['error', ...FORMAT_LITERALS] }
  },
  {
    // core and sync also throw only VaultErrors (a factory per code), so every failure has a code and an exit status.
    files: ['core', 'sync'].flatMap(inLayer),
    ignores: ['core/formats.ts', 'sync/design-doc.ts'],
    rules: { 'no-restricted-syntax': ['error', ...FORMAT_LITERALS, PLAIN_THROW] }
  },
  {
    files: ['core/formats.ts', 'sync/design-doc.ts'],
    rules: { 'no-restricted-syntax': ['error', PLAIN_THROW] }
  }
)
