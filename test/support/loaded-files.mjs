// `node --import ./loaded-files.mjs …`: at exit, writes the CommonJS files the process loaded (Node's require.cache)
// to the file named by LOADED_FILES_OUT, one per line, and where LOADED_BUILTINS_OUT is set, Node's own public
// modules it loaded to that file. test/bundled-packages.test.ts and test/built-cli.test.ts read them.
import { builtinModules, createRequire } from 'node:module'
import { writeFileSync } from 'node:fs'

const require = createRequire(import.meta.url)
const PUBLIC = new Set(builtinModules)
process.on('exit', () => {
  writeFileSync(process.env.LOADED_FILES_OUT, Object.keys(require.cache).join('\n'))
  if (!process.env.LOADED_BUILTINS_OUT) return
  // process.moduleLoadList names each as `NativeModule <id>`; the public ones are those a program can require
  const loaded = process.moduleLoadList.map((m) => m.replace(/^NativeModule /, '')).filter((m) => PUBLIC.has(m))
  writeFileSync(process.env.LOADED_BUILTINS_OUT, loaded.join('\n'))
})
