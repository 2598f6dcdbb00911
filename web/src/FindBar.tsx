// The find and replace bar (Ctrl+F, or Ctrl+H straight to replace): the query, how many matches
// and which one is current, next and previous (Enter, Shift+Enter), replace and replace all.
import { useEffect, useRef, useState } from 'react'
import type { Editor } from '@tiptap/react'
import { ChevronDown, ChevronUp, X } from 'lucide-react'
import { findState, matches, replace, setFind, showCurrent } from './find'

/** `initial`: the query to start with (a search result's word); else the selection, if short. */
export function FindBar ({ editor, canEdit, replacing, initial, onClose }: { editor: Editor, canEdit: boolean, replacing: boolean, initial?: string, onClose: () => void }) {
  const [query, setQuery] = useState(() => {
    if (initial !== undefined) return initial
    const { from, to } = editor.state.selection
    return to > from && to - from < 100 ? editor.state.doc.textBetween(from, to, ' ') : ''
  })
  const [replacement, setReplacement] = useState('')
  const [, rerender] = useState(0)
  const input = useRef<HTMLInputElement>(null)
  useEffect(() => { input.current?.focus(); input.current?.select() }, [])
  useEffect(() => {
    setFind(editor, query, 0)
    if (query !== '') showCurrent(editor)
  }, [query])
  useEffect(() => {
    const f = () => rerender(n => n + 1)
    editor.on('transaction', f)
    return () => { editor.off('transaction', f); setFind(editor, '', 0) }
  }, [editor])
  const total = matches(editor.state, query).length
  const current = total === 0 ? 0 : findState(editor).current % total
  const go = (step: number) => {
    if (total === 0) return
    setFind(editor, query, (current + step + total) % total)
    showCurrent(editor)
  }
  const close = () => { onClose(); editor.commands.focus() }
  // Escape closes it wherever the focus is (a button that went disabled drops it to the page).
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const inEditor = editor.view.dom.contains(document.activeElement)
      if (e.key === 'Escape' && !inEditor) { e.preventDefault(); close() }
    }
    document.addEventListener('keydown', onKey)
    return () => document.removeEventListener('keydown', onKey)
  })
  return (
    <div className='find-bar' role='search' aria-label='Find in the document' data-testid='find-bar'>
      <input
        ref={input} aria-label='Find' placeholder='Find' value={query} data-testid='find-input'
        onChange={e => setQuery(e.target.value)}
        onKeyDown={e => { if (e.key === 'Enter') { e.preventDefault(); go(e.shiftKey ? -1 : 1) } }}
      />
      <span className='find-count' aria-live='polite' data-testid='find-count'>
        {query === '' ? '' : total === 0 ? 'No matches' : `${current + 1} of ${total}`}
      </span>
      <button type='button' aria-label='Previous match' onClick={() => go(-1)} disabled={total === 0}><ChevronUp size={16} aria-hidden /></button>
      <button type='button' aria-label='Next match' onClick={() => go(1)} disabled={total === 0}><ChevronDown size={16} aria-hidden /></button>
      {canEdit && (replacing || replacement !== '') && (
        <>
          <input aria-label='Replace with' placeholder='Replace with' value={replacement} data-testid='replace-input' onChange={e => setReplacement(e.target.value)} />
          <button type='button' data-testid='replace-one' disabled={total === 0} onClick={() => { replace(editor, replacement, false); showCurrent(editor) }}>Replace</button>
          <button type='button' data-testid='replace-all' disabled={total === 0} onClick={() => replace(editor, replacement, true)}>Replace all</button>
        </>
      )}
      <button type='button' aria-label='Close find' onClick={close}><X size={16} aria-hidden /></button>
    </div>
  )
}
