// The signed-in session as the web client holds it. The access token lives only in this module's
// memory (never localStorage, sessionStorage or a readable cookie): an XSS that runs later cannot
// read it from storage, and it dies with the tab. The refresh token is an HttpOnly cookie the
// browser sends only to /api/auth/refresh; JavaScript never sees it.
//
// Refreshes are single-flight within a tab and serialised across tabs with the Web Locks API:
// the server rotates the refresh cookie on every use and treats a replayed one as theft, so two
// tabs must never present the same cookie at once.

import { forgetCopies } from './copies'
import type { components } from './apiSchema'

export type Me = components['schemas']['User']
export type AuthConfig = components['schemas']['AuthConfig']

type Session = components['schemas']['Session']

let config: AuthConfig | null = null
let token: string | null = null
let expiresAt = 0 // Unix seconds
let me: Me | null = null
let inflight: Promise<string | null> | null = null
let timer: ReturnType<typeof setTimeout> | null = null
const listeners = new Set<(token: string | null) => void>()

/** Thrown when the server cannot be reached (offline): not the same as being signed out. */
export class OfflineError extends Error {}

// What this device remembers so a reload while offline still knows who is signed in and how the
// server is set up: the configuration and the user's id, name and email. Never a token: the
// session itself is the HttpOnly refresh cookie, refreshed when the network returns. Cleared on
// sign-out and when the server says the session is gone.
const IDENTITY = 'tandem:identity'
interface Identity { config: AuthConfig, me: Me | null }

function remembered (): Identity | null {
  try {
    const raw = localStorage.getItem(IDENTITY)
    return raw === null ? null : JSON.parse(raw) as Identity
  } catch { return null }
}

function remember (): void {
  if (config === null) return
  try { localStorage.setItem(IDENTITY, JSON.stringify({ config, me })) } catch { /* private mode: online only */ }
}

/** The server's auth configuration; offline, the one remembered from the last visit (and who
 * was signed in then). Throws `OfflineError` offline on a device that never saw the server. */
export async function loadConfig (): Promise<AuthConfig> {
  if (config !== null) return config
  const res = await fetch('/api/auth/config').catch(() => null)
  if (res === null || !res.ok) {
    const saved = remembered()
    if (saved === null) throw new OfflineError('offline')
    config = saved.config
    me = saved.me
    return config
  }
  config = await res.json() as AuthConfig
  remember()
  return config
}

/** Whether the page runs on what the device remembers, with no session confirmed yet. */
export const offlineSession = (): boolean => token === null && me !== null

export const accountsEnabled = (): boolean => config?.mode === 'accounts'
export const currentUser = (): Me | null => me

/** Called with every new token (and null on sign-out); returns the unsubscribe function. */
export function onToken (f: (token: string | null) => void): () => void {
  listeners.add(f)
  return () => listeners.delete(f)
}

function adopt (s: Session | null): void {
  token = s?.access_token ?? null
  expiresAt = s?.expires_at ?? 0
  me = s?.user ?? null
  remember()
  if (timer !== null) clearTimeout(timer)
  timer = null
  if (s !== null) {
    // Refresh a minute before expiry (or at 80 % of a short lifetime) so open sockets get the
    // new token in band and never see the old one expire.
    const left = s.expires_at * 1000 - Date.now()
    const at = Math.max(1000, Math.min(left - 60_000, left * 0.8))
    timer = setTimeout(() => { refresh().catch(() => { /* retried on next use */ }) }, at)
  }
  for (const l of listeners) l(token)
}

async function post (path: string, body?: unknown): Promise<Response> {
  return await fetch(path, {
    method: 'POST',
    credentials: 'same-origin',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body)
  }).catch(() => { throw new OfflineError('offline') })
}

async function errorOf (res: Response): Promise<Error> {
  const msg = await res.json().then((j: { error?: string }) => j.error, () => undefined)
  return new Error(msg ?? `HTTP ${res.status}`)
}

/** Swaps the refresh cookie for a new access token; null if the session is gone. */
export async function refresh (): Promise<string | null> {
  if (inflight !== null) return await inflight
  const run = async (): Promise<string | null> => {
    const res = await post('/api/auth/refresh')
    if (res.status === 401) { adopt(null); return null }
    if (!res.ok) throw await errorOf(res)
    adopt(await res.json() as Session)
    return token
  }
  const locks = (navigator as Navigator & { locks?: LockManager }).locks
  // The DOM typings make the lock's result Promise<Promise<…>>; the `then` flattens it for them.
  const locked = locks?.request('tandem-refresh', run).then(async p => await p)
  inflight = (locked ?? run())
    .finally(() => { inflight = null })
  return await inflight
}

/** A valid access token: the current one, or a refreshed one if it is close to expiry or `fresh`. */
export async function getToken (fresh = false): Promise<string | null> {
  if (!accountsEnabled()) return ''
  if (!fresh && token !== null && expiresAt * 1000 - Date.now() > 15_000) return token
  return await refresh()
}

export async function login (email: string, password: string): Promise<Me> {
  const res = await post('/api/auth/login', { email, password })
  if (!res.ok) throw await errorOf(res)
  adopt(await res.json() as Session)
  return me as Me
}

/** Opens a public link without an account: a guest session on this browser (viewing only). */
export async function joinAsGuest (token: string): Promise<Me> {
  const res = await post('/api/auth/guest', { token })
  if (!res.ok) throw await errorOf(res)
  adopt(await res.json() as Session)
  return me as Me
}

export async function signup (email: string, name: string, password: string): Promise<Me> {
  const res = await post('/api/auth/signup', { email, name, password })
  if (!res.ok) throw await errorOf(res)
  adopt(await res.json() as Session)
  return me as Me
}

/** Revokes the session on the server, forgets the token and wipes offline copies. */
export async function logout (): Promise<void> {
  const t = token
  if (t !== null) {
    await fetch('/api/auth/logout', { method: 'POST', headers: { authorization: `Bearer ${t}` } }).catch(() => {})
  }
  adopt(null)
  try { localStorage.removeItem(IDENTITY); localStorage.removeItem('tandem:docs') } catch { /* nothing kept */ }
  forgetCopies()
  // Documents kept for offline use belong to this account; a shared computer must not keep them.
  const dbs = await indexedDB.databases?.().catch(() => []) ?? []
  await Promise.all(dbs.filter(d => d.name?.startsWith('tandem:') === true).map(async d => {
    await new Promise(resolve => { const r = indexedDB.deleteDatabase(d.name as string); r.onsuccess = r.onerror = r.onblocked = resolve })
  }))
}
