/**
 * Build for the three Electron processes: main (Node), preload (sandboxed),
 * renderer (browser). `npx electron-vite build` needs no Electron binary.
 */
import { resolve } from 'node:path'
import { defineConfig } from 'electron-vite'
import react from '@vitejs/plugin-react'

const root = import.meta.dirname

export default defineConfig({
  main: {
    build: {
      // Node dependencies (pouchdb-core, leveldown with its native binding, ...)
      // stay in node_modules; only our own code is bundled.
      externalizeDeps: true,
      outDir: resolve(root, 'out/main'),
      rolldownOptions: {
        // core/verify-pool.ts and core/telemetry/judge-pool.ts load their workers next to the bundle.
        input: {
          index: resolve(root, 'main/index.ts'),
          'verify-worker': resolve(root, 'core/verify-worker.ts'),
          'judge-worker': resolve(root, 'core/telemetry/judge-worker.ts')
        },
        // Chunks beside the entries: the pools find `./verify-worker.js` from the chunk that holds them.
        output: { chunkFileNames: '[name]-[hash].js' }
      }
    }
  },
  preload: {
    build: {
      outDir: resolve(root, 'out/preload'),
      rolldownOptions: {
        input: { index: resolve(root, 'main/preload.ts') },
        // A sandboxed preload cannot be an ES module: emit CommonJS as .cjs
        // (the package is "type": "module") so the window keeps sandbox: true.
        output: { format: 'cjs', entryFileNames: '[name].cjs' }
      }
    }
  },
  renderer: {
    root: 'renderer',
    plugins: [react()],
    build: {
      outDir: resolve(root, 'out/renderer'),
      rolldownOptions: {
        input: { index: resolve(root, 'renderer/index.html') }
      }
    }
  }
})
