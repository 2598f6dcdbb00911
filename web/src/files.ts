// Uploading a file to a document (`POST /api/docs/{doc}/files`), with progress. XMLHttpRequest
// rather than fetch: only it reports upload progress. The server sniffs the type and answers
// with the file's address; a refusal (too large, a program, no right to edit) comes back as an
// Error carrying the server's message.
import { accountsEnabled, getToken } from './auth'
import type { components } from './apiSchema'

export type StoredFile = components['schemas']['StoredFile']

/** Raster images the page shows inline (the server serves only these inline). */
export const INLINE_IMAGES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/avif']

/** `/api/docs/{doc}/files/{sha256}`: a file of this document, as the server's schema check wants. */
export const isOwnFile = (docId: string, src: unknown): boolean =>
  typeof src === 'string' && new RegExp(`^/api/docs/${docId.replace(/[.]/g, '\\.')}/files/[0-9a-f]{64}$`).test(src)

export async function uploadFile (docId: string, file: Blob, onProgress: (fraction: number) => void, retry = true): Promise<StoredFile> {
  const token = accountsEnabled() ? await getToken(!retry) : null
  return await new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open('POST', `/api/docs/${encodeURIComponent(docId)}/files`)
    if (token !== null && token !== '') xhr.setRequestHeader('authorization', `Bearer ${token}`)
    xhr.setRequestHeader('content-type', 'application/octet-stream')
    xhr.upload.onprogress = e => { if (e.lengthComputable) onProgress(e.loaded / e.total) }
    xhr.onerror = () => reject(new Error('the connection was lost; try again'))
    xhr.onload = () => {
      if (xhr.status === 401 && retry) {
        uploadFile(docId, file, onProgress, false).then(resolve, reject)
        return
      }
      let body: { error?: string } & Partial<StoredFile> = {}
      try { body = JSON.parse(xhr.responseText) } catch { /* not JSON: the status speaks */ }
      if (xhr.status === 201 && typeof body.url === 'string') resolve(body as StoredFile)
      else reject(new Error(body.error ?? `the server answered ${xhr.status}`))
    }
    xhr.send(file)
  })
}

/** 1.2 MB, 340 kB, 12 bytes. */
export function formatSize (bytes: number): string {
  if (bytes < 1000) return `${bytes} bytes`
  if (bytes < 1e6) return `${Math.round(bytes / 1000)} kB`
  return `${(bytes / 1e6).toFixed(1)} MB`
}
