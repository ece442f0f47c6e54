/** Git mirror push time for the benchmark vault, to a bare repository behind `git http-backend` on loopback. */
import { join } from 'node:path'
import { Vault } from '../core/vault.js'
import { syncGit } from '../sync/git-mirror.js'
import { GIT_TOKEN, startGitServer } from '../test/support/git.js'

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
    const events = Object.values(vault.heads()).reduce((n, h) => n + h.length, 0)
    log(`git mirror: first push of ${events} events`)
    const t = performance.now()
    const round = await syncGit(vault, { url: server.url('bench.git'), token: GIT_TOKEN })
    const ms = performance.now() - t
    return [
      {
        measure: `Git mirror: first push, ${events.toLocaleString('en-US')} events (${round.anchored} anchors)`,
        tresor: `${(ms / 1000).toFixed(1)} s (${Math.round(events / (ms / 1000)).toLocaleString('en-US')} events/s)`,
        peer: '',
        verdict: ''
      }
    ]
  } finally {
    await vault.close()
    await server.stop()
  }
}
