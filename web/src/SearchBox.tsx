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
        setHits(page.results); setNext(page.next_cursor); setError(null)
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
  const listed = query.trim() !== '' && hits !== null && hits.length > 0
  const links = () => Array.from(document.querySelectorAll<HTMLAnchorElement>('#search-results a'))
  // Down from the box to the results and through them, up back to the box; Enter in the box
  // opens the first result.
  const onKey = (e: React.KeyboardEvent) => {
    if (e.key === 'Escape') { setQuery(''); return }
    if (hits === null || hits.length === 0) return
    if (e.key === 'ArrowDown') { e.preventDefault(); links()[0]?.focus() }
    if (e.key === 'Enter') { e.preventDefault(); open(hits[0]) }
  }
  const onResultKey = (e: React.KeyboardEvent, i: number) => {
    if (e.key === 'ArrowDown') { e.preventDefault(); links()[Math.min(i + 1, links().length - 1)]?.focus() }
    if (e.key === 'ArrowUp') { e.preventDefault(); if (i === 0) input.current?.focus(); else links()[i - 1]?.focus() }
    if (e.key === 'Escape') { setQuery(''); input.current?.focus() }
  }

  return (
    <div className='search'>
      <div className='search-field'>
        <Search size={18} aria-hidden />
        <input
          ref={input} type='search' data-testid='search' aria-label='Search documents' placeholder='Search documents'
          aria-keyshortcuts='/ Control+K' aria-describedby={listed ? 'search-count' : undefined}
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
                <>
                <p id='search-count' className='sr-only'>{hits.length}{next !== undefined ? '+' : ''} documents match; press Down to go through them.</p>
                <ul id='search-results' aria-label='Documents that match' data-testid='search-results'>
                  {hits.map((h, i) => (
                    <li key={h.doc}>
                      <a href={resultPath(h, query)} onClick={e => { e.preventDefault(); open(h) }} onKeyDown={e => onResultKey(e, i)}>
                        <span className='search-title'>{h.title === '' ? 'Untitled document' : h.title}</span>
                        <span className='search-snippet'>
                          {snippetParts(h.snippet).map((p, j) => p.hit ? <mark key={j}>{p.text}</mark> : <span key={j}>{p.text}</span>)}
                        </span>
                      </a>
                    </li>
                  ))}
                </ul>
                </>
                )}
          {next !== undefined && hits !== null && hits.length > 0 && <button type='button' onClick={more}>More results</button>}
        </section>
      )}
    </div>
  )
}
