/** Replay of a stream for review: order kept, relative timing scaled by a speed-up factor. */
import type { Reading } from './reading.js'

/**
 * Readings in order with their relative timing divided by `speed`: the pause
 * before each is (its ts - the previous ts) / speed. `sleep` is injectable.
 */
export async function* replayTimed(
  readings: Reading[],
  speed: number,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms))
): AsyncGenerator<Reading> {
  let prev: number | null = null
  for (const r of readings) {
    const t = Date.parse(r.ts)
    if (prev !== null && t > prev) await sleep((t - prev) / speed)
    prev = t
    yield r
  }
}
