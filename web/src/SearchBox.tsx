// Search across documents from the home: "/" or Ctrl+K focuses it; results (best first, the
// matched words highlighted) follow typing; a result opens the document at its first match.
import { useEffect, useRef, useState } from 'react'
import { Search, X } from 'lucide-react'
import { searchDocs, type SearchHit } from './api'
import { firstHit, snippetParts } from './snippet'

/** Where a result leads: the document, with the word to find once it opens. */
export function resultPath (hit: SearchHit, query: string): string {
  const word = firstHit(hit.snippet) ?? query.trim().split(/\s+/)[0] ?? ''
  return `/d/${encodeURIComponent(hit.doc)}${word === '' ? '' : `#find=${encodeURIComponent(word)}`}`
}

export function SearchBox ({ navigate, onQuery }: { navigate: (to: string) => void, onQuery: (searching: boolean) => void }) {
  const [query, setQuery] = useState('')
  const [hits, setHits] = useState<SearchHit[] | null>(null)
  const [next, setNext] = useState<string | undefined>(undefined)
  const [error, setError] = useState<string | null>(null)
  const [active, setActive] = useState(0)
  const input = useRef<HTMLInputElement>(null)
  // The newest query wins: an older answer arriving late is dropped.
  const latest = useRef('')

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const typing = e.target instanceof HTMLElement && (e.target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(e.target.tagName))
      if ((e.key === '/' && !typing) || ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'k')) {
        e.preventDefault()
        input.current?.focus()
        input.current?.select()
      }
    }
    document.addEventListener('keydown', onKey)
    return () => document.removeEventListener('keydown', onKey)
  }, [])

  useEffect(() => {
    const q = query.trim()
    latest.current = q
    onQuery(q !== '')
    if (q === '') { setHits(null); setError(null); return }
    const t = setTimeout(() => {
      searchDocs(q).then(page => {
        if (latest.current !== q) return
        setHits(page.results); setNext(page.next_cursor); setActive(0); setError(null)
      }, (e: Error) => { if (latest.current === q) setError(e.message) })
    }, 120)
    return () => clearTimeout(t)
  }, [query])

  const more = () => {
    const q = latest.current
    if (next === undefined) return
    searchDocs(q, next).then(page => {
      if (latest.current !== q) return
      setHits(h => [...(h ?? []), ...page.results]); setNext(page.next_cursor)
    }, (e: Error) => setError(e.message))
  }
  const open = (h: SearchHit) => navigate(resultPath(h, query))
  const onKey = (e: React.KeyboardEvent) => {
    if (e.key === 'Escape') { setQuery(''); return }
    if (hits === null || hits.length === 0) return
    if (e.key === 'ArrowDown') { e.preventDefault(); setActive(a => Math.min(a + 1, hits.length - 1)) }
    if (e.key === 'ArrowUp') { e.preventDefault(); setActive(a => Math.max(a - 1, 0)) }
    if (e.key === 'Enter') { e.preventDefault(); open(hits[active]) }
  }

  return (
    <div className='search'>
      <div className='search-field'>
        <Search size={18} aria-hidden />
        <input
          ref={input} type='search' data-testid='search' aria-label='Search documents' placeholder='Search documents'
          aria-keyshortcuts='/ Control+K' aria-controls='search-results' aria-activedescendant={hits !== null && hits.length > 0 ? `search-hit-${active}` : undefined}
          value={query} onChange={e => setQuery(e.target.value)} onKeyDown={onKey} autoComplete='off'
        />
        {query === '' ? <kbd aria-hidden>/</kbd> : <button type='button' className='icon' aria-label='Clear search' onClick={() => { setQuery(''); input.current?.focus() }}><X size={16} aria-hidden /></button>}
      </div>
      {query.trim() !== '' && (
        <section className='search-results' aria-label='Search results' aria-live='polite'>
          {error !== null && <p className='error' role='alert'>{error}</p>}
          {hits === null
            ? <p className='note'>Searching…</p>
            : hits.length === 0
              ? <p className='note' data-testid='no-results'>No documents match “{query.trim()}”.</p>
              : (
                <ul id='search-results' role='listbox' aria-label='Documents that match' data-testid='search-results'>
                  {hits.map((h, i) => (
                    <li key={h.doc} id={`search-hit-${i}`} role='option' aria-selected={i === active} className={i === active ? 'active' : ''}>
                      <a href={resultPath(h, query)} onClick={e => { e.preventDefault(); open(h) }} onMouseEnter={() => setActive(i)}>
                        <span className='search-title'>{h.title === '' ? 'Untitled document' : h.title}</span>
                        <span className='search-snippet'>
                          {snippetParts(h.snippet).map((p, j) => p.hit ? <mark key={j}>{p.text}</mark> : <span key={j}>{p.text}</span>)}
                        </span>
                      </a>
                    </li>
                  ))}
                </ul>
                )}
          {next !== undefined && hits !== null && hits.length > 0 && <button type='button' onClick={more}>More results</button>}
        </section>
      )}
    </div>
  )
}
