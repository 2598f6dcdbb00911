// Reconnect delays: exponential backoff with full jitter (AWS architecture blog's "full jitter"),
// base 250 ms, capped at 10 s; after a drain notice, the server's delay plus up to as much again.

export const BASE_MS = 250
export const CAP_MS = 10_000

export function backoffDelay (attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(CAP_MS, BASE_MS * 2 ** Math.min(attempt, 16))
  return Math.floor(random() * ceiling)
}

export function drainDelay (reconnectAfterMs: number, random: () => number = Math.random): number {
  return reconnectAfterMs + Math.floor(random() * Math.max(reconnectAfterMs, BASE_MS))
}
