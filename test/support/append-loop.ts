// Child process for the crash test: appends forever, printing each seq only after its append returned.
import { Vault } from '../../core/vault.js'

const [dir, passphrase] = process.argv.slice(2) as [string, string]
const vault = await Vault.open({ dir })
await vault.unlock(passphrase)
for (let i = 0; ; i++) {
  const d = await vault.append('audit.note', { text: `crash test ${i}` })
  process.stdout.write(`${d.event.seq} ${d.id}\n`)
}
