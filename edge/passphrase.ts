/** Passphrase from TRESOR_PASSPHRASE or an interactive prompt with echo off. Never logged. */
import { BAD_ARGUMENT, lazyPackage } from '../core/index.js'

// Loaded for a prompt only: most calls take the passphrase from the environment (edge/start.ts).
const readline = lazyPackage<typeof import('node:readline')>('node:readline')

export async function getPassphrase(prompt: string, confirm = false, envVar = 'TRESOR_PASSPHRASE'): Promise<string> {
  const fromEnv = process.env[envVar]
  if (fromEnv) return fromEnv
  if (!process.stdin.isTTY) {
    throw BAD_ARGUMENT(
      `no ${envVar === 'TRESOR_PASSPHRASE' ? 'passphrase' : 'password'}: set ${envVar} or run in a terminal`
    )
  }
  const first = await ask(prompt)
  if (confirm && (await ask('Repeat passphrase: ')) !== first) throw BAD_ARGUMENT('passphrases do not match')
  if (first.length === 0) throw BAD_ARGUMENT('an empty passphrase is not allowed')
  return first
}

/** A yes/no question on the terminal (echo on); only `y` or `yes` is yes. */
export async function confirm(question: string): Promise<boolean> {
  const rl = readline().createInterface({ input: process.stdin, output: process.stderr, terminal: true })
  const answer = await new Promise<string>((resolve) => rl.question(`${question} [y/N] `, resolve))
  rl.close()
  return /^y(es)?$/i.test(answer.trim())
}

function ask(prompt: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = readline().createInterface({ input: process.stdin, output: process.stderr, terminal: true })
    const out = rl as unknown as { _writeToOutput: (s: string) => void; output: NodeJS.WriteStream }
    let muted = false
    out._writeToOutput = (s: string) => {
      if (!muted) process.stderr.write(s)
    }
    rl.question(prompt, (answer) => {
      rl.close()
      process.stderr.write('\n')
      resolve(answer)
    })
    muted = true
  })
}
