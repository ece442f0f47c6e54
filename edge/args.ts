/** A small, strict argument parser: unknown flags are usage errors, not silently ignored. */
import { BAD_ARGUMENT, own, VaultError } from '../core/index.js'

export interface ParsedArgs {
  command: string[]
  flags: Map<string, string[]>
}

export function usage(message: string): VaultError {
  return BAD_ARGUMENT(message)
}

/** `spec` maps flag name → 'bool' | 'value' | 'list'. */
export function parseArgs(argv: string[], spec: Record<string, 'bool' | 'value' | 'list'>): ParsedArgs {
  const command: string[] = []
  const flags = new Map<string, string[]>()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (!arg.startsWith('--')) {
      command.push(arg)
      continue
    }
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined]
    const kind = own(spec, name) // a flag named --constructor is unknown, not Object's
    if (!kind) throw usage(`unknown option --${name}`)
    if (kind === 'bool') {
      flags.set(name, ['true'])
      continue
    }
    const value = inline ?? argv[++i]
    if (value === undefined) throw usage(`--${name} needs a value`)
    flags.set(name, kind === 'list' ? [...(flags.get(name) ?? []), value] : [value])
  }
  return { command, flags }
}

export function flag(args: ParsedArgs, name: string): string | undefined {
  return args.flags.get(name)?.[0]
}

export function required(args: ParsedArgs, name: string): string {
  const v = flag(args, name)
  if (v === undefined || v === '') throw usage(`--${name} is required`)
  return v
}
