import { usePanelFocus } from './panel'
import { useEffect, useRef, useState } from 'react'
import type { Editor } from '@tiptap/react'
import { addComment, deleteComment, editComment, replyTo, setResolved, type CommentInfo, type Thread } from './api'
import { anchorFor, resolveAnchor } from './anchors'
import { accountsEnabled, currentUser } from './auth'

/**
 * The comments side panel: threads on text ranges (highlighted, with a marker in the margin,
 * whether or not the panel is open), their replies, resolve and reopen; authors edit and delete
 * their own comments. Commenters and up write; everyone with access reads. The threads come from
 * the editor (`useThreads`), which refetches when anyone changes them.
 */
export function CommentsPanel ({ docId, editor, threads, reload, active, setActive, canComment, draft, onDraftDone, onClose }: {
  docId: string
  editor: Editor
  threads: Thread[]
  reload: () => void
  /** The thread shown in the document (and scrolled to here). */
  active: string | null
  setActive: (id: string | null) => void
  canComment: boolean
  /** The range the user asked to comment on, if any. */
  draft: { from: number, to: number } | null
  onDraftDone: () => void
  onClose: () => void
}) {
  const panel = useRef<HTMLElement>(null)
  usePanelFocus(panel, onClose)
  const [showResolved, setShowResolved] = useState(false)
  const [error, setError] = useState<string | null>(null)
  const [editing, setEditing] = useState<string | null>(null)
  useEffect(() => {
    if (active !== null) document.querySelector(`[data-thread-id="${CSS.escape(active)}"]`)?.scrollIntoView({ block: 'nearest' })
  }, [active])

  const act = (p: Promise<unknown>) => { p.then(reload, (e: Error) => setError(e.message)) }
  const mine = (c: CommentInfo) => !accountsEnabled() || (c.author !== null && c.author.id === currentUser()?.id)
  const select = (t: Thread) => {
    setActive(t.id)
    const range = resolveAnchor(editor.state, t.anchor)
    if (range !== null) editor.chain().setTextSelection(range).scrollIntoView().run()
  }
  const submitDraft = (body: string) => {
    if (draft === null) return
    const anchor = anchorFor(editor.state, draft.from, draft.to)
    if (anchor === null) return setError('The document is still loading; try again.')
    const quote = editor.state.doc.textBetween(draft.from, draft.to, ' ')
    act(addComment(docId, body, anchor, quote).then(({ id }) => { setActive(id); onDraftDone() }))
  }

  const shown = threads.filter(t => showResolved || t.resolved_at === null)
  return (
    <aside className='comments' data-testid='comments-panel' aria-label='Comments' ref={panel}>
      <header>
        <h2>Comments</h2>
        <label><input type='checkbox' checked={showResolved} onChange={e => setShowResolved(e.target.checked)} /> Resolved</label>
        <button onClick={onClose} data-testid='comments-close'>Close</button>
      </header>
      {error !== null && <p className='error' role='alert'>{error}</p>}
      {draft !== null && (
        <TextForm
          testid='new-comment' label='Comment' autoFocus
          quote={editor.state.doc.textBetween(draft.from, draft.to, ' ')}
          onSubmit={submitDraft} onCancel={onDraftDone}
        />
      )}
      {shown.length === 0 && draft === null && <p className='hint'>No comments{canComment ? ': select text and press Comment.' : '.'}</p>}
      <ul data-testid='threads'>
        {shown.map(t => (
          <li key={t.id} data-testid='thread' data-thread-id={t.id} className={`${t.id === active ? 'active' : ''} ${t.resolved_at !== null ? 'resolved' : ''}`}>
            <button className='quote' onClick={() => select(t)} title='Show in the document'>
              {resolveAnchor(editor.state, t.anchor) === null ? <s>{t.quote}</s> : t.quote}
            </button>
            {t.comments.map((c, i) => (
              <div key={c.id} className='comment' data-testid='comment'>
                <strong>{c.author?.name ?? 'Someone'}</strong> <time>{new Date(c.created_at).toLocaleString()}</time>
                {editing === c.id
                  ? <TextForm testid='edit-comment' label='Save' initial={c.body} autoFocus onSubmit={body => { setEditing(null); act(editComment(docId, c.id, body)) }} onCancel={() => setEditing(null)} />
                  : <span className='body'>{c.body}</span>}
                {canComment && mine(c) && editing !== c.id && (
                  <span className='own-actions'>
                    <button className='link' data-testid='edit' onClick={() => setEditing(c.id)}>Edit</button>
                    <button
                      className='link danger' data-testid='delete' onClick={() => {
                        if (i > 0 || confirm('Delete this comment and its replies?')) act(deleteComment(docId, c.id))
                      }}
                    >Delete
                    </button>
                  </span>
                )}
              </div>
            ))}
            {canComment && (
              <div className='thread-actions'>
                {t.resolved_at === null
                  ? <TextForm testid='reply' label='Reply' onSubmit={body => act(replyTo(docId, t.id, body))} />
                  : null}
                <button data-testid={t.resolved_at === null ? 'resolve' : 'reopen'} onClick={() => act(setResolved(docId, t.id, t.resolved_at === null))}>
                  {t.resolved_at === null ? 'Resolve' : 'Reopen'}
                </button>
              </div>
            )}
          </li>
        ))}
      </ul>
    </aside>
  )
}

function TextForm ({ testid, label, quote, initial = '', autoFocus = false, onSubmit, onCancel }: {
  testid: string
  label: string
  quote?: string
  initial?: string
  autoFocus?: boolean
  onSubmit: (body: string) => void
  onCancel?: () => void
}) {
  const [body, setBody] = useState(initial)
  return (
    <form
      data-testid={testid} className='comment-form' onSubmit={e => {
        e.preventDefault()
        if (body.trim() === '') return
        onSubmit(body.trim())
        setBody('')
      }}
    >
      {quote !== undefined && <blockquote>{quote}</blockquote>}
      <textarea aria-label={label} value={body} maxLength={10_000} autoFocus={autoFocus} onChange={e => setBody(e.target.value)} rows={2} />
      <button type='submit'>{label}</button>
      {onCancel !== undefined && <button type='button' onClick={onCancel}>Cancel</button>}
    </form>
  )
}
