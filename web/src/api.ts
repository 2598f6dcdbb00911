// The few HTTP calls the web client makes; errors become exceptions with the server's message.

export interface DocInfo {
  id: string
  title: string
  revision: number
  created_at: number | null
  updated_at: number | null
}

async function call<T> (method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  if (!res.ok) {
    const msg = await res.json().then((j: { error?: string }) => j.error, () => undefined)
    throw new Error(msg ?? `${method} ${path}: ${res.status}`)
  }
  return res.status === 204 ? (undefined as T) : await res.json() as T
}

export const listDocs = async (): Promise<DocInfo[]> => await call('GET', '/api/docs')
export const createDoc = async (title: string): Promise<DocInfo> => await call('POST', '/api/docs', { title })
export const getDoc = async (id: string): Promise<DocInfo> => await call('GET', `/api/docs/${encodeURIComponent(id)}`)
export const renameDoc = async (id: string, title: string): Promise<DocInfo> =>
  await call('PATCH', `/api/docs/${encodeURIComponent(id)}`, { title })
export const deleteDoc = async (id: string): Promise<void> => await call('DELETE', `/api/docs/${encodeURIComponent(id)}`)

export function wsBase (): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`
}
