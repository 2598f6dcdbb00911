import { useEffect, useRef, useState } from 'react'
import { Ellipsis, FilePlus2, FileText, Star, Upload, Users } from 'lucide-react'
import { cachedDocs, createDoc, deleteDoc, importFile, listDocs, renameDoc, setStarred, type DocInfo, type DocSort, type DocView } from './api'
import { AccountBadge } from './Account'
import { accountsEnabled, currentUser, OfflineError } from './auth'
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

const VIEWS: Array<{ view: DocView, label: string }> = [
  { view: 'all', label: 'All' },
  { view: 'recent', label: 'Recent' },
  { view: 'owned', label: 'Owned by me' },
  { view: 'shared', label: 'Shared with me' },
  { view: 'starred', label: 'Starred' }
]

const EMPTY_VIEW: Record<DocView, string> = {
  all: '',
  recent: 'Documents you open show here, the last one first.',
  owned: 'You own no documents yet.',
  shared: 'Nobody has shared a document with you yet.',
  starred: 'Star a document (☆ on its row) to find it here.'
}

const remembered = <T extends string>(key: string, allowed: readonly T[], fallback: T): T => {
  const v = localStorage.getItem(key) as T | null
  return v !== null && allowed.includes(v) ? v : fallback
}

/** The home: every document the user may open, with who owns it, whether it is shared, who edited
 * it last and when; with accounts, views (recent, owned, shared, starred) and stars; sorted by the
 * server, a page at a time; renamed and deleted from each row's menu. */
export function DocList ({ navigate }: { navigate: (to: string) => void }) {
  const [docs, setDocs] = useState<DocInfo[] | null>(null)
  const [next, setNext] = useState<string | undefined>(undefined)
  const [error, setError] = useState<string | null>(null)
  const [offline, setOffline] = useState(false)
  const accounts = accountsEnabled()
  const [view, setView] = useState<DocView>(() => accounts ? remembered('tandem:view', VIEWS.map(v => v.view), 'all') : 'all')
  const [sort, setSort] = useState<DocSort>(() => remembered('tandem:sort', ['edited', 'name', 'created'] as const, 'edited'))
  const [renaming, setRenaming] = useState<string | null>(null)
  // While a search is typed, its results take the list's place.
  const [searching, setSearching] = useState(false)
  const importInput = useRef<HTMLInputElement>(null)
  // The newest request wins: a page for an earlier view or sort arriving late is dropped.
  const asked = useRef('')
  const refresh = () => {
    const key = `${view} ${sort}`
    asked.current = key
    listDocs(view, sort).then(p => {
      if (asked.current !== key) return
      setDocs(p.docs); setNext(p.next); setOffline(false)
    }, (e: Error) => {
      if (asked.current !== key) return
      // Unreachable (offline): the list as this device last saw it.
      if (e instanceof OfflineError || e instanceof TypeError || !navigator.onLine) {
        setDocs(cachedDocs())
        setNext(undefined)
        setOffline(true)
      } else setError(e.message)
    })
  }
  const more = () => {
    if (next === undefined) return
    const key = asked.current
    listDocs(view, sort, next).then(p => {
      if (asked.current !== key) return
      setDocs(d => [...(d ?? []), ...p.docs.filter(x => !(d ?? []).some(y => y.id === x.id))]); setNext(p.next)
    }, (e: Error) => setError(e.message))
  }
  useEffect(() => {
    refresh()
    addEventListener('online', refresh)
    return () => removeEventListener('online', refresh)
  }, [view, sort])
  useEffect(() => { localStorage.setItem('tandem:sort', sort) }, [sort])
  useEffect(() => { localStorage.setItem('tandem:view', view) }, [view])

  const star = async (d: DocInfo) => {
    const starred = d.starred !== true
    // At once on the page; put back if the server says no.
    const show = (on: boolean) => setDocs(list => (list ?? []).map(x => x.id === d.id ? { ...x, starred: on } : x))
    show(starred)
    try { await setStarred(d.id, starred) } catch (e) { show(!starred); setError((e as Error).message) }
  }
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
  // Unstarred in the Starred view: gone from it.
  const sorted = docs === null ? null : view === 'starred' ? docs.filter(d => d.starred !== false) : docs

  return (
    <main className='list'>
      <header>
        <h1>Tandem</h1>
        <AccountBadge navigate={navigate} />
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
        {view !== 'recent' && (
          <label className='sort'>Sort by{' '}
            <select data-testid='sort' value={sort} onChange={e => setSort(e.target.value as DocSort)}>
              <option value='edited'>Last edited</option>
              <option value='name'>Name</option>
              <option value='created'>Created</option>
            </select>
          </label>
        )}
      </div>
      {accounts && !offline && !searching && (
        <div className='views' role='tablist' aria-label='Which documents'>
          {VIEWS.map(v => (
            <button
              key={v.view} role='tab' type='button' data-testid={`view-${v.view}`} aria-selected={view === v.view}
              tabIndex={view === v.view ? 0 : -1} onClick={() => { setDocs(null); setView(v.view) }}
              onKeyDown={e => {
                const at = VIEWS.findIndex(x => x.view === view)
                const step = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0
                if (step === 0) return
                e.preventDefault()
                const to = VIEWS[(at + step + VIEWS.length) % VIEWS.length].view
                setDocs(null); setView(to)
                ;(e.currentTarget.parentElement?.querySelector(`[data-testid=view-${to}]`) as HTMLElement | null)?.focus()
              }}
            >{v.label}
            </button>
          ))}
        </div>
      )}
      {error !== null && <p className='error' role='alert'>{error}</p>}
      {offline && <p className='note' data-testid='offline-list'>Offline: these are the documents on this device as you last saw them.</p>}
      {searching
        ? null
        : sorted === null
        ? <p>Loading…</p>
        : sorted.length === 0 && view !== 'all'
          ? <p className='note' data-testid='empty-view'>{EMPTY_VIEW[view]}</p>
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
                    {accounts && (
                      <button
                        type='button' className='star' data-testid='star' aria-pressed={d.starred === true}
                        aria-label={`${d.starred === true ? 'Unstar' : 'Star'} ${d.title === '' ? 'Untitled document' : d.title}`}
                        onClick={() => { void star(d) }}
                      >
                        <Star size={17} aria-hidden fill={d.starred === true ? 'currentColor' : 'none'} />
                      </button>
                    )}
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
      {!searching && next !== undefined && <button type='button' className='load-more' data-testid='load-more' onClick={more}>Show more documents</button>}
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
