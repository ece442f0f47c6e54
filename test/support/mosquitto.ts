/**
 * Starts Debian's mosquitto (installed by .ci/run) as a child process on a free
 * loopback port with a config written to a temp folder; stops it by PID.
 * Unlimited queue for offline persistent sessions: the broker must not drop
 * what a backpressured subscriber has not acknowledged.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer, connect } from 'node:net'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'

export const MOSQUITTO = '/usr/sbin/mosquitto'

export interface Broker {
  url: string
  pid: number
  stop(): Promise<void>
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1')
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

export async function startMosquitto(dir: string): Promise<Broker> {
  const port = await freePort()
  const conf = join(dir, 'mosquitto.conf')
  await writeFile(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'max_queued_messages 0',
      'max_inflight_messages 20',
      'log_type error',
      ''
    ].join('\n')
  )
  const child: ChildProcess = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  child.stderr!.on('data', (c) => {
    err += c
  })
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited ${child.exitCode}: ${err}`)
    if (await reachable(port)) break
    await new Promise((r) => setTimeout(r, 25))
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve())
        process.kill(child.pid!, 'SIGTERM')
      })
    }
  }
}
