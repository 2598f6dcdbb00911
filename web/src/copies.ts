// Which documents this device keeps a copy of (y-indexeddb's store, for offline use). Opening one
// of them waits for that copy before the socket opens, so the server sends only what the copy
// lacks instead of the whole document again; a document never opened here connects at once,
// without waiting for the browser to create a store for it.
const KEY = 'tandem:copies'
const LIMIT = 1000

function read (): string[] {
  try {
    const v: unknown = JSON.parse(localStorage.getItem(KEY) ?? '[]')
    return Array.isArray(v) ? v.filter((d): d is string => typeof d === 'string') : []
  } catch { return [] }
}

function write (docs: string[]): void {
  try { localStorage.setItem(KEY, JSON.stringify(docs.slice(0, LIMIT))) } catch { /* private mode: every open connects at once */ }
}

export const hasCopy = (doc: string): boolean => read().includes(doc)
export const rememberCopy = (doc: string): void => write([doc, ...read().filter(d => d !== doc)])
export const forgetCopy = (doc: string): void => write(read().filter(d => d !== doc))
export const forgetCopies = (): void => { try { localStorage.removeItem(KEY) } catch { /* nothing kept */ } }
