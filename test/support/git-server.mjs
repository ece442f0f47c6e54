// A Git smart-HTTP server for the test suite: `git http-backend` (CGI) behind a
// small Node HTTP server on loopback that requires a token (HTTP Basic password
// or Bearer). Usage: node git-server.mjs PROJECT_ROOT TOKEN [PORT]
// Prints "listening <port>" once ready. Stopped by its PID.
import { createServer } from 'node:http'
import { spawn } from 'node:child_process'

const [root, token, portArg] = process.argv.slice(2)

function authorized(header) {
  if (!header) return false
  if (header.startsWith('Bearer ')) return header.slice(7) === token
  if (header.startsWith('Basic ')) {
    const [, password] = Buffer.from(header.slice(6), 'base64').toString('utf8').split(/:(.*)/s)
    return password === token
  }
  return false
}

const server = createServer((req, res) => {
  if (!authorized(req.headers.authorization)) {
    res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="tresor-test"' })
    return res.end('token required')
  }
  const url = new URL(req.url, 'http://localhost')
  const cgi = spawn('git', ['http-backend'], {
    env: {
      ...process.env,
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: '1',
      REMOTE_USER: 'tresor',
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.slice(1),
      REQUEST_METHOD: req.method,
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      ...(req.headers['content-length'] ? { CONTENT_LENGTH: req.headers['content-length'] } : {}),
      ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] } : {}),
      GIT_PROTOCOL: req.headers['git-protocol'] ?? ''
    }
  })
  req.pipe(cgi.stdin)
  let head = Buffer.alloc(0)
  let headersDone = false
  cgi.stdout.on('data', (chunk) => {
    if (headersDone) return res.write(chunk)
    head = Buffer.concat([head, chunk])
    const end = head.indexOf('\r\n\r\n')
    if (end < 0) return
    headersDone = true
    let status = 200
    const headers = {}
    for (const line of head.subarray(0, end).toString('utf8').split('\r\n')) {
      const [k, v] = line.split(/:\s*(.*)/s)
      if (k.toLowerCase() === 'status') status = Number(v.split(' ')[0])
      else headers[k] = v
    }
    res.writeHead(status, headers)
    res.write(head.subarray(end + 4))
  })
  cgi.stdout.on('end', () => res.end())
  cgi.stderr.on('data', (d) => process.stderr.write(d))
})
server.listen(Number(portArg ?? 0), '127.0.0.1', () => process.stdout.write(`listening ${server.address().port}\n`))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
