import { useEffect, useState } from 'react'
import { cachedDocs, createDoc, deleteDoc, importFile, listDocs, renameDoc, type DocInfo } from './api'
import { AccountBadge } from './Account'
import { OfflineError } from './auth'

const edited = (d: DocInfo): Date | null => {
  const at = d.updated_at ?? d.created_at
  return at === null ? null : new Date(at)
}

/** "Edited today 9:25", "Edited yesterday", "Edited 3 Mar": when it last changed, not when it was made. */
export function lastEdited (d: DocInfo, now = new Date()): string {
  const at = edited(d)
  if (at === null) return ''
  const day = (x: Date) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime()
  const days = Math.round((day(now) - day(at)) / 86_400_000)
  const time = at.toLocaleTimeString([], { hour: 'numeric', minute: '2-digit' })
  if (days === 0) return `Edited today ${time}`
  if (days === 1) return `Edited yesterday ${time}`
  const sameYear = at.getFullYear() === now.getFullYear()
  return `Edited ${at.toLocaleDateString([], { day: 'numeric', month: 'short', year: sameYear ? undefined : 'numeric' })}`
}

export function DocList ({ navigate }: { navigate: (to: string) => void }) {
  const [docs, setDocs] = useState<DocInfo[] | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [offline, setOffline] = useState(false)
  const refresh = () => {
    listDocs().then(d => { setDocs(d); setOffline(false) }, (e: Error) => {
      // Unreachable (offline): the list as this device last saw it.
      if (e instanceof OfflineError || e instanceof TypeError || !navigator.onLine) {
        setDocs(cachedDocs())
        setOffline(true)
      } else setError(e.message)
    })
  }
  useEffect(() => {
    refresh()
    addEventListener('online', refresh)
    return () => removeEventListener('online', refresh)
  }, [])

  const create = async () => {
    try {
      const d = await createDoc('')
      navigate(`/d/${d.id}`)
    } catch (e) { setError((e as Error).message) }
  }
  const rename = async (d: DocInfo, title: string) => {
    if (title === d.title) return
    try { await renameDoc(d.id, title); refresh() } catch (e) { setError((e as Error).message) }
  }
  const remove = async (d: DocInfo) => {
    if (!confirm(`Delete "${d.title === '' ? 'Untitled document' : d.title}" for everyone?`)) return
    try { await deleteDoc(d.id); refresh() } catch (e) { setError((e as Error).message) }
  }

  return (
    <main className='list'>
      <header>
        <h1>Tandem</h1>
        <AccountBadge />
        <button data-testid='new-doc' onClick={() => { void create() }}>New document</button>
        <label className='import'>
          Import…
          <input
            type='file' data-testid='import' accept='.md,.markdown,.txt,.html,.htm' hidden
            onChange={e => {
              const f = e.target.files?.[0]
              if (f !== undefined) importFile(f).then(d => navigate(`/d/${d.id}`), (err: Error) => setError(err.message))
            }}
          />
        </label>
      </header>
      {error !== null && <p className='error' role='alert'>{error}</p>}
      {offline && <p className='note' data-testid='offline-list'>Offline: these are the documents on this device as you last saw them.</p>}
      {docs === null
        ? <p>Loading…</p>
        : docs.length === 0
          ? <p className='empty'>No documents yet.</p>
          : (
            <ul data-testid='doc-list'>
              {docs.map(d => (
                <li key={d.id}>
                  <a href={`/d/${d.id}`} onClick={e => { e.preventDefault(); navigate(`/d/${d.id}`) }}>
                    {d.title === '' ? 'Untitled document' : d.title}
                  </a>
                  <input
                    aria-label='Rename' defaultValue={d.title} maxLength={200} readOnly={d.role !== 'editor' && d.role !== 'owner'}
                    onBlur={e => { void rename(d, e.target.value.trim()) }}
                    onKeyDown={e => { if (e.key === 'Enter') (e.target as HTMLInputElement).blur() }}
                  />
                  <time dateTime={edited(d)?.toISOString()} title='Last edited'>
                    {lastEdited(d)}{d.updated_by !== undefined && ` by ${d.updated_by.name}`}
                  </time>
                  {d.role === 'owner'
                    ? <button className='danger' onClick={() => { void remove(d) }}>Delete</button>
                    : <em className='role'>{d.role}</em>}
                </li>
              ))}
            </ul>
            )}
    </main>
  )
}
