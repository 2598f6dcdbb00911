// The HTTP calls the web client makes; errors become exceptions with the server's message.
// Every call carries the in-memory access token; a 401 gets one refresh and one retry.
import { getToken, onToken, OfflineError } from './auth'
import { forPeople, OFFLINE } from './messages'

import type { components } from './apiSchema'

// The API's types, generated from the server's OpenAPI document (`make api-types`).
type Schemas = components['schemas']
export type Role = Schemas['DocInfo']['role']
/** A document: its revision, your role; in the list also who edited it last, its owner, whether
 * it is shared and starred; on its own, whether editors may share it. */
export type DocInfo = Schemas['DocInfo']
export type UserInfo = Schemas['User']
/** `via_link`: the id of the share link this person joined through (no direct grant). */
export type Share = Schemas['Share']
/** `public`: anyone with the link can view it without an account. */
export type ShareLink = Schemas['ShareLink']

/** Raised when the session is gone; the app shows the sign-in page. */
export class SignedOut extends Error {}

/** The server answered with an error status; `message` is its explanation. */
export class HttpError extends Error {
  constructor (message: string, readonly status: number) { super(message) }
}

let signedOut: (() => void) | null = null
export const onSignedOut = (f: () => void): void => { signedOut = f }
onToken(t => { if (t === null) signedOut?.() })

/** The bearer header for the current access token (none in `--auth none` or when signed out). */
async function authHeaders (fresh = false): Promise<Record<string, string>> {
  const token = await getToken(fresh)
  return token !== null && token !== '' ? { authorization: `Bearer ${token}` } : {}
}

async function call<T> (method: string, path: string, body?: unknown): Promise<T> {
  return (await request<T>(method, path, body)).body
}

/** `call` with the response's headers too. */
async function request<T> (method: string, path: string, body?: unknown, retry = true): Promise<{ body: T, headers: Headers }> {
  const headers: Record<string, string> = await authHeaders(!retry)
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    .catch(() => { throw new OfflineError(OFFLINE) })
  if (res.status === 401) {
    if (retry && headers.authorization !== undefined) return await request(method, path, body, false)
    signedOut?.()
    throw new SignedOut('signed out')
  }
  if (!res.ok) {
    const msg = await res.json().then((j: { error?: string }) => j.error, () => undefined)
    throw new HttpError(forPeople(res.status, msg, res.headers.get('retry-after')), res.status)
  }
  // 204 (and some 202s) carry no body.
  const text = await res.text()
  return { body: (text === '' ? undefined : JSON.parse(text)) as T, headers: res.headers }
}

// The document list as last seen, so the list and titles show offline (the documents themselves
// are in IndexedDB). Cleared with the rest on sign-out.
const DOCS = 'tandem:docs'

/** Documents (titles, roles) this device saw last time it was online. */
export function cachedDocs (): DocInfo[] {
  try { return JSON.parse(localStorage.getItem(DOCS) ?? '[]') as DocInfo[] } catch { return [] }
}

function cacheDocs (docs: DocInfo[]): void {
  try { localStorage.setItem(DOCS, JSON.stringify(docs)) } catch { /* offline titles just won't show */ }
}

const enc = encodeURIComponent
/** Which documents the home lists, and in what order (`recent` is always last opened first). */
export type DocView = 'all' | 'recent' | 'owned' | 'shared' | 'starred'
export type DocSort = 'edited' | 'name' | 'created'
/** One page of the list; `next` fetches the following one. */
export interface DocPage { docs: DocInfo[], next?: string }
export const listDocs = async (view: DocView = 'all', sort: DocSort = 'edited', cursor?: string): Promise<DocPage> => {
  const page = await request<DocInfo[]>('GET', `/api/docs?view=${view}&sort=${sort}${cursor === undefined ? '' : `&cursor=${enc(cursor)}`}`)
  const docs = page.body
  // What the device shows offline: the full list's pages as they were last fetched (the first
  // page starts it afresh, so deleted documents leave it); other views only update titles.
  const kept = view === 'all' && cursor === undefined ? [] : cachedDocs().filter(c => !docs.some(d => d.id === c.id))
  cacheDocs([...docs, ...kept].slice(0, 1000))
  return { docs, next: page.headers.get('x-next-cursor') ?? undefined }
}
export const setStarred = async (id: string, starred: boolean): Promise<void> =>
  await call(starred ? 'PUT' : 'DELETE', `/api/docs/${enc(id)}/star`)
export const createDoc = async (title: string): Promise<DocInfo> => await call('POST', '/api/docs', { title })
export const getDoc = async (id: string): Promise<DocInfo> => {
  const d = await call<DocInfo>('GET', `/api/docs/${enc(id)}`)
  cacheDocs([d, ...cachedDocs().filter(x => x.id !== d.id)])
  return d
}
export const renameDoc = async (id: string, title: string): Promise<DocInfo> =>
  await call('PATCH', `/api/docs/${enc(id)}`, { title })
export const deleteDoc = async (id: string): Promise<void> => await call('DELETE', `/api/docs/${enc(id)}`)

/** One search result: `snippet` is HTML from the server, the text escaped and matches in `<mark>`. */
export type SearchHit = Schemas['SearchHit']
export type SearchPage = Schemas['SearchPage']
export const searchDocs = async (q: string, cursor?: string): Promise<SearchPage> =>
  await call('GET', `/api/search?q=${enc(q)}&limit=20${cursor === undefined ? '' : `&cursor=${enc(cursor)}`}`)

export type AccessRequest = Schemas['AccessRequest']
/** A share with an email that has no account yet; it becomes a share when they sign up. */
export type Invitation = Schemas['Invitation']
export const setEditorsCanShare = async (id: string, yes: boolean): Promise<void> =>
  await call('PUT', `/api/docs/${enc(id)}/settings`, { editors_can_share: yes })
export const cancelInvitation = async (id: string, email: string): Promise<void> =>
  await call('DELETE', `/api/docs/${enc(id)}/invitations/${enc(email)}`)
/** Asks the owners for access (the same answer whether or not the document exists). */
export const requestAccess = async (id: string): Promise<void> => await call('POST', `/api/docs/${enc(id)}/access-requests`)
export const dismissRequest = async (id: string, user: number): Promise<void> =>
  await call('DELETE', `/api/docs/${enc(id)}/access-requests/${user}`)
export const listShares = async (id: string): Promise<{ shares: Share[], links: ShareLink[], requests: AccessRequest[], invitations: Invitation[] }> =>
  await call('GET', `/api/docs/${enc(id)}/shares`)
/** A share, or (202) an invitation when the email has no account yet. */
export const shareWith = async (id: string, email: string, role: Role): Promise<Share | Invitation> =>
  await call('POST', `/api/docs/${enc(id)}/shares`, { email, role })
export const unshare = async (id: string, userId: number): Promise<void> =>
  await call('DELETE', `/api/docs/${enc(id)}/shares/${userId}`)
export const createLink = async (id: string, role: Role, expiresInHours: number | null, isPublic = false): Promise<{ link: ShareLink, path: string }> =>
  await call('POST', `/api/docs/${enc(id)}/links`, { role, expires_in_hours: expiresInHours, public: isPublic })
export const revokeLink = async (id: string, linkId: string): Promise<void> =>
  await call('DELETE', `/api/docs/${enc(id)}/links/${enc(linkId)}`)
export type LinkPreview = Schemas['LinkPreview']
/** What a share link opens, for someone not signed in yet. */
export async function previewLink (token: string): Promise<LinkPreview> {
  const res = await fetch('/api/links/preview', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) })
  if (!res.ok) throw new HttpError((await res.json().then((j: { error?: string }) => j.error, () => undefined)) ?? `HTTP ${res.status}`, res.status)
  return await res.json() as LinkPreview
}
export const redeemLink = async (token: string): Promise<{ doc: string, role: Role }> =>
  await call('POST', '/api/links/redeem', { token })

export function wsBase (): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`
}

export type Version = Schemas['Version']

export const listHistory = async (id: string): Promise<Version[]> => await call('GET', `/api/docs/${enc(id)}/history`)
export const nameVersion = async (id: string, rev: number, name: string): Promise<void> =>
  await call('PUT', `/api/docs/${enc(id)}/versions/${rev}`, { name })
export const restoreVersion = async (id: string, rev: number): Promise<{ revision: number, changed: boolean }> =>
  await call('POST', `/api/docs/${enc(id)}/restore`, { rev })

async function exportAs (format: 'text' | 'html', id: string, rev?: number): Promise<string> {
  const q = rev === undefined ? '' : `&rev=${rev}`
  const res = await fetch(`/api/docs/${enc(id)}/export?format=${format}${q}`, { headers: await authHeaders() })
  if (!res.ok) throw new Error(`export: ${res.status}`)
  return await res.text()
}

/** The document's current state, encoded as one Yjs update (what a first sync would send). */
export async function fetchState (id: string): Promise<Uint8Array> {
  const res = await fetch(`/api/docs/${enc(id)}/state`, { headers: await authHeaders() })
  if (!res.ok) throw new HttpError(`state: ${res.status}`, res.status)
  return new Uint8Array(await res.arrayBuffer())
}

/** The document as plain text, now or at a past revision. */
export const exportText = async (id: string, rev?: number): Promise<string> => await exportAs('text', id, rev)
/** The document as sanitized HTML (a whole page), now or at a past revision. */
export const exportHtml = async (id: string, rev?: number): Promise<string> => await exportAs('html', id, rev)

/** Downloads the document (now, or at a revision) in a format, as a file; pending suggestions
 * are left out unless `suggestions` asks for them as marked-up text. */
export async function downloadExport (id: string, format: 'markdown' | 'html' | 'text' | 'json', rev?: number, suggestions = false): Promise<void> {
  const q = (rev === undefined ? '' : `&rev=${rev}`) + (suggestions ? '&suggestions=include' : '')
  const res = await fetch(`/api/docs/${enc(id)}/export?format=${format}${q}`, { headers: await authHeaders() })
  if (!res.ok) throw new Error(`export failed: ${res.status}`)
  const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? `${id}.${format}`
  const url = URL.createObjectURL(await res.blob())
  const a = document.createElement('a')
  a.href = url
  a.download = name
  a.click()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}

/** Imports a Markdown or HTML file as a new document. */
/** The files Tandem imports, by extension. */
const IMPORTABLE: Record<string, 'markdown' | 'html'> = { md: 'markdown', markdown: 'markdown', txt: 'markdown', html: 'html', htm: 'html' }

/** Imports a file as a new document. Other kinds are refused here with a reason; the server
 * refuses anything that is not text whatever its name. */
export async function importFile (file: File): Promise<DocInfo> {
  const ext = file.name.split('.').pop()?.toLowerCase() ?? ''
  const format = IMPORTABLE[ext]
  if (format === undefined || file.name.indexOf('.') < 0) {
    throw new Error(`"${file.name}" cannot be imported: Tandem imports Markdown (.md), plain text (.txt) and HTML (.html) files. Save a Word or PDF document as one of these first.`)
  }
  const title = file.name.replace(/\.[^.]+$/, '')
  const headers = { ...await authHeaders(), 'content-type': 'application/octet-stream' }
  // The bytes as they are: reading them as text would turn a binary file into valid garbage.
  const res = await fetch(`/api/docs/import?format=${format}&title=${enc(title)}`, { method: 'POST', headers, body: file })
  if (!res.ok) {
    const msg = await res.json().then((j: { error?: string }) => j.error, () => undefined)
    throw new Error(msg ?? `import failed: ${res.status}`)
  }
  return await res.json() as DocInfo
}

export type CommentInfo = Schemas['Comment']
export type Thread = Schemas['Thread']

export const listComments = async (id: string): Promise<Thread[]> => await call('GET', `/api/docs/${enc(id)}/comments`)
export const addComment = async (id: string, body: string, anchor: string, quote: string): Promise<{ id: string }> =>
  await call('POST', `/api/docs/${enc(id)}/comments`, { body, anchor, quote })
export const replyTo = async (id: string, thread: string, body: string): Promise<{ id: string }> =>
  await call('POST', `/api/docs/${enc(id)}/comments/${enc(thread)}/replies`, { body })
export const editComment = async (id: string, comment: string, body: string): Promise<void> =>
  await call('PATCH', `/api/docs/${enc(id)}/comments/${enc(comment)}`, { body })
/** Deletes one's own comment; a thread's first comment takes the thread with it. */
export const deleteComment = async (id: string, comment: string): Promise<void> =>
  await call('DELETE', `/api/docs/${enc(id)}/comments/${enc(comment)}`)
export const setResolved = async (id: string, thread: string, resolved: boolean): Promise<void> =>
  await call('POST', `/api/docs/${enc(id)}/comments/${enc(thread)}/${resolved ? 'resolve' : 'reopen'}`)

/** One notification (`GET /api/notifications`): its `text` ("Ann mentioned you in “Plans”") and
 * `link` (where it happened, a path of this app) are the server's. */
export type Notice = components['schemas']['Notification']
export const listNotifications = async (before?: number): Promise<components['schemas']['NotificationPage']> =>
  await call('GET', `/api/notifications${before === undefined ? '' : `?before=${before}`}`)
/** Marks one notification read, or all of them; the unread count after. */
export const markRead = async (id?: number): Promise<number> =>
  (await call<{ unread: number }>('POST', '/api/notifications/read', id === undefined ? undefined : { id })).unread

/**
 * Calls `onCount` with the unread count now and at every change, over the server's event stream
 * (read with fetch, so the access token goes in a header rather than the address). Reconnects,
 * with a fresh token, whenever the stream ends; the returned function stops it.
 */
export function watchUnread (onCount: (unread: number) => void): () => void {
  const stop = new AbortController()
  const run = async (): Promise<void> => {
    let wait = 1000
    while (!stop.signal.aborted) {
      try {
        const res = await fetch('/api/notifications/stream', { headers: await authHeaders(wait > 1000), signal: stop.signal })
        if (res.ok && res.body !== null) {
          wait = 1000
          const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
          let buf = ''
          for (;;) {
            const { value, done } = await reader.read()
            if (done) break
            buf += value
            for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
              const lines = buf.slice(0, end).split('\n')
              buf = buf.slice(end + 2)
              const data = lines.filter(l => l.startsWith('data:')).map(l => l.slice(5).trim()).join('')
              if (lines.includes('event: unread') && data !== '') onCount((JSON.parse(data) as { unread: number }).unread)
            }
          }
        }
        // Ended by the server (its token's lifetime, a restart): reopen after a moment.
      } catch {
        if (stop.signal.aborted) return
      }
      await new Promise(resolve => setTimeout(resolve, wait))
      wait = Math.min(wait * 2, 30_000)
    }
  }
  void run()
  return () => stop.abort()
}

/** Someone who may be mentioned in a document; `role` null: they cannot open it yet. */
export type Person = components['schemas']['Person']
export const mentionable = async (doc: string, q: string): Promise<Person[]> =>
  await call('GET', `/api/docs/${enc(doc)}/people?q=${encodeURIComponent(q)}`)
export const peopleByIds = async (doc: string, ids: number[]): Promise<Person[]> =>
  await call('GET', `/api/docs/${enc(doc)}/people?ids=${ids.join(',')}`)
/** Shares with someone one may mention (no address needed). */
export const shareWithPerson = async (doc: string, user: number, role: Role): Promise<Share> =>
  await call('POST', `/api/docs/${enc(doc)}/shares`, { user, role })

// Webhooks (owners on their documents; administrators server-wide). The secret is in the
// answer to creation only.
export type Webhook = components['schemas']['WebhookWithQueue']
export type CreatedWebhook = components['schemas']['CreatedWebhook']
export type WebhookEvent = components['schemas']['NewWebhook']['events'][number]
export type Delivery = components['schemas']['Delivery']
export const listWebhooks = async (doc: string): Promise<Webhook[]> =>
  await call('GET', `/api/docs/${encodeURIComponent(doc)}/webhooks`)
export const createWebhook = async (doc: string, url: string, events: WebhookEvent[]): Promise<CreatedWebhook> =>
  await call('POST', `/api/docs/${encodeURIComponent(doc)}/webhooks`, { url, events })
export const setWebhookEnabled = async (id: string, enabled: boolean): Promise<components['schemas']['Webhook']> =>
  await call('PATCH', `/api/webhooks/${encodeURIComponent(id)}`, { enabled })
export const deleteWebhook = async (id: string): Promise<void> =>
  await call('DELETE', `/api/webhooks/${encodeURIComponent(id)}`)
export const testWebhook = async (id: string): Promise<Delivery> =>
  await call('POST', `/api/webhooks/${encodeURIComponent(id)}/test`)
export const webhookDeliveries = async (id: string): Promise<Delivery[]> =>
  await call('GET', `/api/webhooks/${encodeURIComponent(id)}/deliveries`)

// API tokens (the account page). Only a signed-in person manages them; the secret is in the
// answer to creation only.
export type ApiToken = components['schemas']['ApiToken']
export type Scope = ApiToken['scopes'][number]
export const listTokens = async (): Promise<components['schemas']['TokenList']> =>
  await call('GET', '/api/tokens')
export const createToken = async (body: components['schemas']['NewToken']): Promise<components['schemas']['CreatedToken']> =>
  await call('POST', '/api/tokens', body)
export const revokeToken = async (id: string): Promise<void> =>
  await call('DELETE', `/api/tokens/${encodeURIComponent(id)}`)
export type EmailSettings = components['schemas']['EmailSettings']
export const emailSettings = async (): Promise<EmailSettings> => await call('GET', '/api/me/email')
export const setEmailFor = async (kind: string, email: boolean): Promise<EmailSettings> =>
  await call('PUT', '/api/me/email', { kind, email })
