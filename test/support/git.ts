/**
 * Starts the suite's Git smart-HTTP server (test/support/git-server.mjs) on a free loopback port with a fresh bare
 * repository; stops it by PID.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'

const SERVER = fileURLToPath(new URL('../../test/support/git-server.mjs', import.meta.url) /* also from out/bench/ */)
export const GIT_TOKEN = 'test-token-3f9a'

export interface GitServer {
  url: (repo: string) => string
  root: string
  pid: number
  stop(): Promise<void>
  createRepo(name: string): string
}

export async function startGitServer(root: string): Promise<GitServer> {
  mkdirSync(root, { recursive: true })
  const child: ChildProcess = spawn(process.execPath, [SERVER, root, GIT_TOKEN], { stdio: ['ignore', 'pipe', 'pipe'] })
  const port = await new Promise<number>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (c) => {
      out += c
      const m = /listening (\d+)/.exec(out)
      if (m) resolve(Number(m[1]))
    })
    child.on('exit', (code) => reject(new Error(`git server exited ${code}: ${out}`)))
  })
  return {
    root,
    pid: child.pid!,
    url: (repo) => `http://127.0.0.1:${port}/${repo}`,
    createRepo(name) {
      const dir = join(root, name)
      execFileSync('git', ['init', '--quiet', '--bare', dir])
      execFileSync('git', ['-C', dir, 'config', 'http.receivepack', 'true'])
      execFileSync('git', ['-C', dir, 'symbolic-ref', 'HEAD', 'refs/heads/main'])
      return dir
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.once('exit', () => resolve())
        process.kill(child.pid!, 'SIGTERM')
      })
  }
}
