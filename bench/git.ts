/**
 * The Git mirror on the benchmark vault, to bare repositories behind `git http-backend` on loopback: the first push
 * (every feed laid out as tlog tiles), a round that adds 10 events, and beside them plain isomorphic-git pushing the
 * same files (the floor: what the Git layer costs whatever Tresor does).
 */
import fs from 'node:fs'
import { cp, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import git from 'isomorphic-git'
import http from 'isomorphic-git/http/node'
import { Vault } from '../core/vault.js'
import { MIRROR_DIR, syncGit } from '../sync/git-mirror.js'
import { GIT_TOKEN, startGitServer } from '../test/support/git.js'

async function files(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(join(dir, rel), { withFileTypes: true })) {
    if (e.name === '.git') continue
    if (e.isDirectory()) out.push(...(await files(dir, join(rel, e.name))))
    else out.push(join(rel, e.name))
  }
  return out
}

export async function benchGit(
  dir: string,
  passphrase: string,
  tmp: () => Promise<string>,
  log: (m: string) => void
): Promise<{ measure: string; tresor: string; peer: string; verdict: string }[]> {
  const server = await startGitServer(join(await tmp(), 'repos'))
  const vault = await Vault.open({ dir })
  try {
    await vault.unlock(passphrase)
    server.createRepo('bench.git')
    const url = server.url('bench.git')
    const events = Object.values(vault.heads()).reduce((n, h) => n + h.length, 0)
    log(`git mirror: first push of ${events} events`)
    let t = performance.now()
    const round = await syncGit(vault, { url, token: GIT_TOKEN })
    const firstMs = performance.now() - t
    const laidOut = (await files(join(dir, MIRROR_DIR))).length
    log('git mirror: a round with 10 new events')
    for (let i = 0; i < 10; i++) await vault.append('audit.note', { text: `after the first push ${i}` })
    t = performance.now()
    const small = await syncGit(vault, { url, token: GIT_TOKEN })
    const roundMs = performance.now() - t
    if (small.written !== 10) throw new Error(`the round laid out ${small.written} events, not 10`)
    const plain = join(await tmp(), 'plain')
    await cp(join(dir, MIRROR_DIR), plain, { recursive: true, filter: (src) => !src.includes(`${MIRROR_DIR}/.git`) })
    const laid = await files(plain)
    log(`git mirror peer: plain isomorphic-git push of the same ${laid.length} files`)
    server.createRepo('plain.git')
    t = performance.now()
    await git.init({ fs, dir: plain, defaultBranch: 'main' })
    for (let i = 0; i < laid.length; i += 256) await git.add({ fs, dir: plain, filepath: laid.slice(i, i + 256) })
    await git.commit({ fs, dir: plain, message: 'plain', author: { name: 'b', email: 'b@b' } })
    await git.push({
      fs,
      http,
      dir: plain,
      url: server.url('plain.git'),
      ref: 'main',
      onAuth: () => ({ username: 'tresor', password: GIT_TOKEN })
    })
    const plainMs = performance.now() - t
    const rate = (n: number, ms: number) => `${Math.round(n / (ms / 1000)).toLocaleString('en-US')} events/s`
    return [
      {
        measure: `Git mirror: first push, ${events.toLocaleString('en-US')} events as tlog tiles (${laidOut.toLocaleString('en-US')} files, ${round.anchored} anchors)`,
        tresor: `${(firstMs / 1000).toFixed(1)} s (${rate(events, firstMs)})`,
        peer: `${(plainMs / 1000).toFixed(1)} s (isomorphic-git add+commit+push of the same files)`,
        verdict: 'at least 5,000 events/s'
      },
      {
        measure: `Git mirror: a round with 10 new events on that mirror`,
        tresor: `${(roundMs / 1000).toFixed(2)} s`,
        peer: '',
        verdict: 'under 1 s'
      }
    ]
  } finally {
    await vault.close()
    await server.stop()
  }
}
