// `node --import ./loaded-files.mjs …`: at exit, writes the CommonJS files the process loaded (Node's require.cache)
// to the file named by LOADED_FILES_OUT, one per line. test/bundled-packages.test.ts reads it.
import { createRequire } from 'node:module'
import { writeFileSync } from 'node:fs'

const require = createRequire(import.meta.url)
process.on('exit', () => writeFileSync(process.env.LOADED_FILES_OUT, Object.keys(require.cache).join('\n')))
