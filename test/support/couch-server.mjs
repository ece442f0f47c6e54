// A CouchDB-protocol server for the test suite: express-pouchdb over LevelDB in a
// folder, on a loopback port. Usage: node couch-server.mjs DATA_DIR [PORT]
// Prints "listening <port>" once ready. Stopped by its PID (SIGTERM).
import express from 'express'
import expressPouchDB from 'express-pouchdb'
import PouchDB from 'pouchdb'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'

const [dataDir, portArg] = process.argv.slice(2)
mkdirSync(dataDir, { recursive: true })
const Local = PouchDB.defaults({ prefix: join(dataDir, '/') })
const app = express()
app.use(
  '/',
  expressPouchDB(Local, {
    configPath: join(dataDir, 'config.json'),
    logPath: join(dataDir, 'log.txt'),
    mode: 'fullCouchDB'
  })
)
const server = app.listen(Number(portArg ?? 0), '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`)
})
// Followers hold long-poll requests open: a stop cuts them, as a real server's shutdown does.
process.on('SIGTERM', () => {
  server.close(() => process.exit(0))
  server.closeAllConnections()
})
