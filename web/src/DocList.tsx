import { useEffect, useRef, useState } from 'react'
import { Ellipsis, FilePlus2, FileText, Upload, Users } from 'lucide-react'
import { cachedDocs, createDoc, deleteDoc, importFile, listDocs, renameDoc, type DocInfo } from './api'
import { AccountBadge } from './Account'
import { currentUser, OfflineError } from './auth'
import { SearchBox } from './SearchBox'

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

type Sort = 'edited' | 'name' | 'created'

const SORTS: Record<Sort, (a: DocInfo, b: DocInfo) => number> = {
  edited: (a, b) => (edited(b)?.getTime() ?? 0) - (edited(a)?.getTime() ?? 0),
  created: (a, b) => (b.created_at ?? 0) - (a.created_at ?? 0),
  name: (a, b) => (a.title === '' ? 'Untitled document' : a.title).localeCompare(b.title === '' ? 'Untitled document' : b.title, undefined, { sensitivity: 'base' })
}

/** The home: every document the user may open, with who owns it, whether it is shared, who edited
 * it last and when; sorted as chosen; renamed and deleted from each row's menu. */
export function DocList ({ navigate }: { navigate: (to: string) => void }) {
  const [docs, setDocs] = useState<DocInfo[] | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [offline, setOffline] = useState(false)
  const [sort, setSort] = useState<Sort>(() => (localStorage.getItem('tandem:sort') as Sort | null) ?? 'edited')
  const [renaming, setRenaming] = useState<string | null>(null)
  // While a search is typed, its results take the list's place.
  const [searching, setSearching] = useState(false)
  const importInput = useRef<HTMLInputElement>(null)
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
  useEffect(() => { localStorage.setItem('tandem:sort', sort) }, [sort])

  const create = async () => {
    try {
      const d = await createDoc('')
      navigate(`/d/${d.id}`)
    } catch (e) { setError((e as Error).message) }
  }
  const rename = async (d: DocInfo, title: string) => {
    setRenaming(null)
    if (title === d.title) return
    try { await renameDoc(d.id, title); refresh() } catch (e) { setError((e as Error).message) }
  }
  const remove = async (d: DocInfo) => {
    if (!confirm(`Delete "${d.title === '' ? 'Untitled document' : d.title}" for everyone? This cannot be undone.`)) return
    try { await deleteDoc(d.id); refresh() } catch (e) { setError((e as Error).message) }
  }
  const me = currentUser()
  const sorted = docs === null ? null : [...docs].sort(SORTS[sort])

  return (
    <main className='list'>
      <header>
        <h1>Tandem</h1>
        <AccountBadge />
      </header>
      {!offline && <SearchBox navigate={navigate} onQuery={setSearching} />}
      <div className='list-actions'>
        <button className='primary' data-testid='new-doc' onClick={() => { void create() }}><FilePlus2 size={18} aria-hidden /> New document</button>
        <button onClick={() => importInput.current?.click()}><Upload size={18} aria-hidden /> Import…</button>
        <input
          ref={importInput} type='file' data-testid='import' accept='.md,.markdown,.txt,.html,.htm' hidden aria-label='Import Markdown or HTML'
          onChange={e => {
            const f = e.target.files?.[0]
            if (f !== undefined) importFile(f).then(d => navigate(`/d/${d.id}`), (err: Error) => setError(err.message))
          }}
        />
        {sorted !== null && sorted.length > 1 && (
          <label className='sort'>Sort by{' '}
            <select data-testid='sort' value={sort} onChange={e => setSort(e.target.value as Sort)}>
              <option value='edited'>Last edited</option>
              <option value='name'>Name</option>
              <option value='created'>Created</option>
            </select>
          </label>
        )}
      </div>
      {error !== null && <p className='error' role='alert'>{error}</p>}
      {offline && <p className='note' data-testid='offline-list'>Offline: these are the documents on this device as you last saw them.</p>}
      {searching
        ? null
        : sorted === null
        ? <p>Loading…</p>
        : sorted.length === 0
          ? (
            <section className='empty-state' data-testid='empty-state'>
              <FileText size={40} aria-hidden />
              <h2>No documents yet</h2>
              <p>Start a document and share it: everyone edits it at once, and every change is kept.</p>
              <p>Have notes already? Import a Markdown or HTML file.</p>
            </section>
            )
          : (
            <ul data-testid='doc-list'>
              {sorted.map(d => {
                const canEdit = d.role === 'editor' || d.role === 'owner'
                const owner = d.owner === undefined ? null : me !== null && d.owner.id === me.id ? 'You' : d.owner.name
                return (
                  <li key={d.id}>
                    {renaming === d.id
                      ? <RenameField doc={d} onDone={t => { void rename(d, t) }} onCancel={() => setRenaming(null)} />
                      : (
                        <a href={`/d/${d.id}`} onClick={e => { e.preventDefault(); navigate(`/d/${d.id}`) }}>
                          {d.title === '' ? 'Untitled document' : d.title}
                        </a>
                        )}
                    <span className='meta'>
                      {owner !== null && <span className='owner'>{owner === 'You' ? 'Owned by you' : `Owned by ${owner}`}</span>}
                      {d.shared === true && <span className='badge shared' data-testid='shared-badge'><Users size={13} aria-hidden /> Shared</span>}
                      {d.role !== 'owner' && <em className='role'>{d.role}</em>}
                    </span>
                    <time dateTime={edited(d)?.toISOString()} title='Last edited'>
                      {lastEdited(d)}{d.updated_by !== undefined && ` by ${d.updated_by.name}`}
                    </time>
                    <RowMenu
                      title={d.title === '' ? 'Untitled document' : d.title}
                      items={[
                        ...(canEdit ? [{ label: 'Rename', run: () => setRenaming(d.id) }] : []),
                        { label: 'Open in a new tab', run: () => { open(`/d/${d.id}`, '_blank', 'noopener') } },
                        ...(d.role === 'owner' ? [{ label: 'Delete', run: () => { void remove(d) }, danger: true }] : [])
                      ]}
                    />
                  </li>
                )
              })}
            </ul>
            )}
    </main>
  )
}

function RenameField ({ doc, onDone, onCancel }: { doc: DocInfo, onDone: (title: string) => void, onCancel: () => void }) {
  return (
    <input
      className='rename' aria-label='Rename' defaultValue={doc.title} maxLength={200} autoFocus data-testid='rename'
      onBlur={e => onDone(e.target.value.trim())}
      onKeyDown={e => {
        if (e.key === 'Enter') (e.target as HTMLInputElement).blur()
        if (e.key === 'Escape') onCancel()
      }}
    />
  )
}

/** A row's "…" menu: a button, and a list of actions that closes on choosing, Escape or a press
 * elsewhere. Arrow keys move through it. */
function RowMenu ({ title, items }: { title: string, items: Array<{ label: string, run: () => void, danger?: boolean }> }) {
  const [open, setOpen] = useState(false)
  const box = useRef<HTMLDivElement>(null)
  useEffect(() => {
    if (!open) return
    box.current?.querySelector<HTMLButtonElement>('[role=menuitem]')?.focus()
    const away = (e: MouseEvent) => { if (!(box.current?.contains(e.target as Node) ?? false)) setOpen(false) }
    document.addEventListener('mousedown', away)
    return () => document.removeEventListener('mousedown', away)
  }, [open])
  const onKey = (e: React.KeyboardEvent) => {
    const all = Array.from(box.current?.querySelectorAll<HTMLButtonElement>('[role=menuitem]') ?? [])
    const at = all.indexOf(document.activeElement as HTMLButtonElement)
    if (e.key === 'Escape') { setOpen(false); box.current?.querySelector<HTMLButtonElement>('.row-menu-button')?.focus() }
    if (e.key === 'ArrowDown' && all.length > 0) { e.preventDefault(); all[(at + 1) % all.length].focus() }
    if (e.key === 'ArrowUp' && all.length > 0) { e.preventDefault(); all[(at - 1 + all.length) % all.length].focus() }
  }
  return (
    <div className='row-menu' ref={box} onKeyDown={onKey}>
      <button
        className='row-menu-button' data-testid='row-menu' aria-haspopup='menu' aria-expanded={open}
        aria-label={`Actions for ${title}`} onClick={() => setOpen(!open)}
      >
        <Ellipsis size={18} aria-hidden />
      </button>
      {open && (
        <div role='menu' className='menu' aria-label={`Actions for ${title}`}>
          {items.map(i => (
            <button key={i.label} role='menuitem' className={i.danger === true ? 'danger' : ''} onClick={() => { setOpen(false); i.run() }}>{i.label}</button>
          ))}
        </div>
      )}
    </div>
  )
}
