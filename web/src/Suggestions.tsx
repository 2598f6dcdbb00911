import { useEffect, useRef, useState } from 'react'
import type { Editor } from '@tiptap/react'
import { usePanelFocus } from './panel'
import { useDerived } from './derived'
import { learnNames, nameOf } from './mention'
import { peopleByIds } from './api'
import { colorFor } from './user'
import { settle, suggestions, type Suggestion } from './suggesting'

/**
 * The suggestions side panel: every pending suggestion, grouped by author, each with what it
 * adds and removes. Editors and owners accept or reject one, all of one author's, or all; an
 * author may withdraw their own. Each suggestion can take a comment thread (its text is selected
 * and the comment form opens). Accepting and rejecting are ordinary edits.
 */
export function SuggestionsPanel ({ docId, editor, me, canDecide, canComment, comment, onClose }: {
  docId: string
  editor: Editor
  /** The account id of the person looking ('' without accounts). */
  me: string
  canDecide: boolean
  canComment: boolean
  /** Starts a comment on the current selection. */
  comment: () => void
  onClose: () => void
}) {
  const panel = useRef<HTMLElement>(null)
  usePanelFocus(panel, onClose)
  const list = useDerived(editor, e => suggestions(e.state.doc), [])
  // Authors are account ids in the document: their current names are asked for once.
  const [, named] = useState(0)
  const authors = [...new Set(list.map(s => s.user))].filter(u => u !== me && nameOf(u) === undefined)
  const wanted = authors.join(',')
  useEffect(() => {
    const ids = wanted.split(',').map(Number).filter(n => Number.isSafeInteger(n) && n > 0)
    if (ids.length === 0) return
    peopleByIds(docId, ids.slice(0, 50)).then(people => { learnNames(people); named(n => n + 1) }, () => {})
  }, [docId, wanted])
  const byAuthor = new Map<string, Suggestion[]>()
  for (const s of list) byAuthor.set(s.user, [...(byAuthor.get(s.user) ?? []), s])
  const who = (user: string) => user === me ? 'You' : nameOf(user) ?? `Account ${user}`
  const decide = (pick: (s: { id: string, user: string }) => boolean, accept: boolean) => settle(editor, pick, accept)
  const select = (s: Suggestion) => {
    editor.chain().focus().setTextSelection({ from: s.from, to: Math.min(s.to, editor.state.doc.content.size) }).scrollIntoView().run()
  }
  return (
    <aside className='comments suggestions' data-testid='suggestions-panel' aria-label='Suggestions' ref={panel}>
      <header>
        <h2>Suggestions</h2>
        <button onClick={onClose} data-testid='suggestions-close'>Close</button>
      </header>
      {list.length === 0 && <p className='hint'>No suggestions. In Suggesting mode, what you type and delete is proposed for the owner to accept.</p>}
      {canDecide && list.length > 0 && (
        <p className='thread-actions'>
          <button data-testid='accept-all' onClick={() => decide(() => true, true)}>Accept all</button>
          <button data-testid='reject-all' onClick={() => decide(() => true, false)}>Reject all</button>
        </p>
      )}
      {[...byAuthor.entries()].map(([user, items]) => (
        <section key={user} data-testid='suggestion-author' data-user={user} aria-label={`Suggestions by ${who(user)}`}>
          <h3 style={{ borderColor: colorFor(user) }}>{who(user)} <span className='count'>{items.length}</span></h3>
          {canDecide && (
            <p className='thread-actions'>
              <button data-testid='accept-author' onClick={() => decide(s => s.user === user, true)}>Accept all by {who(user)}</button>
              <button data-testid='reject-author' onClick={() => decide(s => s.user === user, false)}>Reject all by {who(user)}</button>
            </p>
          )}
          <ul>
            {items.map(s => (
              <li key={s.id} data-testid='suggestion' data-suggestion={s.id}>
                <button className='quote' onClick={() => select(s)} title='Show in the document'>
                  {s.inserted !== '' && <ins>{clip(s.inserted)}</ins>}
                  {s.deleted !== '' && <del>{clip(s.deleted)}</del>}
                  {s.inserted === '' && s.deleted === '' && <span>{s.blocks > 1 ? `${s.blocks} new blocks` : 'A new block'}</span>}
                </button>
                <time dateTime={new Date(s.time).toISOString()}>{new Date(s.time).toLocaleString()}</time>
                <div className='thread-actions'>
                  {canDecide && <button data-testid='accept' onClick={() => decide(x => x.id === s.id, true)}>Accept</button>}
                  {(canDecide || s.user === me) && <button data-testid='reject' onClick={() => decide(x => x.id === s.id, false)}>{canDecide ? 'Reject' : 'Withdraw'}</button>}
                  {canComment && <button data-testid='suggestion-comment' onClick={() => { select(s); comment() }}>Comment</button>}
                </div>
              </li>
            ))}
          </ul>
        </section>
      ))}
    </aside>
  )
}

const clip = (t: string) => t.length > 120 ? `${t.slice(0, 120)}…` : t
