/**
 * `tresor serve` as a child process (the edge daemon the UI tests talk to):
 * started on a free loopback port, its URL read from what it prints and its
 * token from the file it names (output that is not a terminal never shows the
 * token), stopped by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { readFileSync } from 'node:fs'

const CLI = fileURLToPath(new URL('../../edge/bin/tresor.mjs', import.meta.url))

export interface Daemon {
  url: string
  token: string
  pid: number
  output: () => string
  stop(signal?: NodeJS.Signals): Promise<void>
}

/** `cli` is the `tresor` command to start: this checkout's unless a test names another install's. */
export function startDaemon(
  dir: string,
  extra: string[] = [],
  env: Record<string, string> = {},
  cli = CLI
): Promise<Daemon> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [cli, 'serve', '--dir', dir, '--port', '0', ...extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env }
    })
    let out = ''
    const timer = setTimeout(() => reject(new Error(`daemon did not start: ${out}`)), 30_000)
    const onData = (c: Buffer) => {
      out += c
      const m = /served at (http:\/\/127\.0\.0\.1:\d+)[^\n]*\n\(the token is in ([^;]+);/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve({
          url: m[1]!,
          token: readFileSync(m[2]!, 'utf8').trim(),
          pid: child.pid!,
          output: () => out,
          stop: async (signal = 'SIGTERM') => {
            if (child.exitCode !== null || child.signalCode !== null) return
            await new Promise<void>((r) => {
              child.once('exit', () => r())
              process.kill(child.pid!, signal)
            })
          }
        })
      }
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', (c: Buffer) => {
      out += c
    })
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`daemon exited ${code}: ${out}`))
    })
  })
}
