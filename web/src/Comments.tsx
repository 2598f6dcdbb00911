import { useCallback, useEffect, useState } from 'react'
import type { Editor } from '@tiptap/react'
import { addComment, listComments, replyTo, setResolved, type Thread } from './api'
import { anchorFor, resolveAnchor, setHighlights } from './anchors'
import type { TandemProvider } from './provider'

/**
 * The comments side panel: threads on text ranges (highlighted in the editor while open), their
 * replies, resolve and reopen. Commenters and up write; everyone with access reads. A change by
 * anyone reaches every open editor through the provider's `comments` notice, which refetches.
 */
export function CommentsPanel ({ docId, editor, provider, canComment, draft, onDraftDone }: {
  docId: string
  editor: Editor
  provider: TandemProvider
  canComment: boolean
  /** The range the user asked to comment on, if any. */
  draft: { from: number, to: number } | null
  onDraftDone: () => void
}) {
  const [threads, setThreads] = useState<Thread[]>([])
  const [showResolved, setShowResolved] = useState(false)
  const [active, setActive] = useState<string | null>(null)
  const [error, setError] = useState<string | null>(null)

  const load = useCallback(() => { listComments(docId).then(setThreads, (e: Error) => setError(e.message)) }, [docId])
  useEffect(() => {
    load()
    return provider.onComments(load)
  }, [load, provider])
  useEffect(() => {
    const open = threads.filter(t => t.resolved_at === null)
    setHighlights(editor, open.map(t => ({ id: t.id, anchor: t.anchor })), active)
  }, [editor, threads, active])
  useEffect(() => () => setHighlights(editor, [], null), [editor])

  const act = (p: Promise<unknown>) => { p.then(load, (e: Error) => setError(e.message)) }
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
    <aside className='comments' data-testid='comments-panel' aria-label='Comments'>
      <header>
        <h2>Comments</h2>
        <label><input type='checkbox' checked={showResolved} onChange={e => setShowResolved(e.target.checked)} /> Resolved</label>
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
          <li key={t.id} data-testid='thread' className={`${t.id === active ? 'active' : ''} ${t.resolved_at !== null ? 'resolved' : ''}`}>
            <button className='quote' onClick={() => select(t)} title='Show in the document'>
              {resolveAnchor(editor.state, t.anchor) === null ? <s>{t.quote}</s> : t.quote}
            </button>
            {t.comments.map(c => (
              <p key={c.id} className='comment'>
                <strong>{c.author?.name ?? 'Someone'}</strong> <time>{new Date(c.created_at).toLocaleString()}</time>
                <span className='body'>{c.body}</span>
              </p>
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

function TextForm ({ testid, label, quote, autoFocus = false, onSubmit, onCancel }: {
  testid: string
  label: string
  quote?: string
  autoFocus?: boolean
  onSubmit: (body: string) => void
  onCancel?: () => void
}) {
  const [body, setBody] = useState('')
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
