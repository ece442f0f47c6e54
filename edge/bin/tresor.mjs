#!/usr/bin/env node
// The `tresor` command: runs the TypeScript CLI through tsx's loader.
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../cli.ts')
process.exitCode = await main(process.argv.slice(2))
