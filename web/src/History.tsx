import { usePanelFocus } from './panel'
import { useEffect, useRef, useState } from 'react'
import { exportHtml, exportText, listHistory, nameVersion, restoreVersion, type Version } from './api'
import { wordDiff, type Piece } from './diff'

/** "Today 9:25", "Yesterday 17:02", "3 Mar 9:25": when a version ends, never a revision number. */
export function versionTime (at: number, now = new Date()): string {
  if (at === 0) return 'Earlier'
  const d = new Date(at)
  const day = (x: Date) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime()
  const days = Math.round((day(now) - day(d)) / 86_400_000)
  const time = d.toLocaleTimeString([], { hour: 'numeric', minute: '2-digit' })
  if (days === 0) return `Today ${time}`
  if (days === 1) return `Yesterday ${time}`
  const sameYear = d.getFullYear() === now.getFullYear()
  return `${d.toLocaleDateString([], { day: 'numeric', month: 'short', year: sameYear ? undefined : 'numeric' })} ${time}`
}

type SuggestionChange = Version['suggestions'][number]

/** One line of a version's suggestions: "Suggested adding “soon”", "Accepted Ann's deletion of “very”". */
export function suggestionLine (v: Version, c: SuggestionChange): string {
  const text = c.quote.trim()
  const quote = text === '' ? 'a paragraph' : `“${text}${c.quote.length >= 80 ? '…' : ''}”`
  const what = c.kind === 'insert' ? 'adding' : 'deleting'
  if (c.outcome === 'made') return `Suggested ${what} ${quote}`
  const own = c.suggested_by !== null && c.suggested_by.id === v.author?.id
  if (own && c.outcome === 'rejected') return `Withdrew the suggestion of ${what} ${quote}`
  const whose = own ? 'own' : `${c.suggested_by?.name ?? 'someone'}’s`
  const verb = c.outcome === 'accepted' ? 'Accepted' : 'Rejected'
  return `${verb} ${whose} suggestion of ${what} ${quote}`
}

const label = (v: Version) => `${versionTime(v.ended_at)}, ${v.author?.name ?? 'Someone'}`

/**
 * The history panel, beside the document: versions (a new one after 5 minutes of quiet or another
 * author), newest first, labelled by time and author. Selecting one shows the document as it was,
 * with its formatting, and what that version changed compared with the one before it. Editors can
 * restore it after confirming (a new revision: collaborators see it live), and undo that restore
 * from the notice it leaves (by restoring the revision before it).
 */
export function HistoryPanel ({ docId, canRestore, onClose }: { docId: string, canRestore: boolean, onClose: () => void }) {
  const [versions, setVersions] = useState<Version[] | null>(null)
  const [selected, setSelected] = useState<Version | null>(null)
  const [rendered, setRendered] = useState<Node | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  // The last restore made here: what it restored and the revision it made, so it can be undone.
  const [restored, setRestored] = useState<{ from: Version, revision: number } | null>(null)
  const view = useRef<HTMLDivElement>(null)
  const panel = useRef<HTMLElement>(null)
  usePanelFocus(panel, onClose)
  const load = () => { listHistory(docId).then(setVersions, (e: Error) => setError(e.message)) }
  useEffect(load, [docId])
  useEffect(() => { view.current?.replaceChildren(...(rendered === null ? [] : [rendered])) }, [rendered])

  const show = async (v: Version) => {
    setSelected(v)
    setRendered(null)
    try {
      const before = versions?.find(x => x.rev < v.first_rev)
      const [html, then, prev] = await Promise.all([
        exportHtml(docId, v.rev), exportText(docId, v.rev), before === undefined ? '' : exportText(docId, before.rev)
      ])
      setRendered(markChanges(html, wordDiff(prev, then)))
    } catch (e) { setError((e as Error).message) }
  }
  const restore = async (v: Version) => {
    if (!confirm(`Restore the document as it was at ${label(v)}? Everyone's view changes; you can undo it.`)) return
    setBusy(true)
    try {
      const r = await restoreVersion(docId, v.rev)
      setRestored(r.changed ? { from: v, revision: r.revision } : null)
      // The restore is a version of its own; its name says what it restored.
      if (r.changed) await nameVersion(docId, r.revision, `Restored from ${label(v)}`).catch(() => {})
      setSelected(null)
      setRendered(null)
      load()
    } catch (e) { setError((e as Error).message) } finally { setBusy(false) }
  }
  // Undoing a restore restores the revision just before it (a new revision again: nothing in
  // the history is rewritten).
  const undoRestore = async () => {
    if (restored === null) return
    setBusy(true)
    try {
      await restoreVersion(docId, restored.revision - 1)
      setRestored(null)
      load()
    } catch (e) { setError((e as Error).message) } finally { setBusy(false) }
  }

  return (
    <aside className='history' data-testid='history-panel' aria-label='Version history' ref={panel}>
      <header><h2>Version history</h2><button onClick={onClose} data-testid='history-close'>Close</button></header>
      {error !== null && <p className='error' role='alert'>{error}</p>}
      {restored !== null && (
        <p className='note' data-testid='restored' role='status'>
          Restored from {label(restored.from)}.{' '}
          <button data-testid='undo-restore' disabled={busy} onClick={() => { void undoRestore() }}>Undo restore</button>
        </p>
      )}
      {versions === null
        ? <p>Loading…</p>
        : (
          <ol data-testid='versions'>
            {versions.map(v => (
              <li key={v.rev} className={selected?.rev === v.rev ? 'selected' : ''}>
                <button className='link' data-testid={`version-${v.rev}`} aria-pressed={selected?.rev === v.rev} onClick={() => { void show(v) }}>
                  {versionTime(v.ended_at)}
                </button>
                <span className='who'>{v.author?.name ?? 'Someone'}</span>
                {v.name !== null && <strong className='version-name'>{v.name}</strong>}
                {v.suggestions.length > 0 && (
                  <ul className='version-suggestions' data-testid={`version-suggestions-${v.rev}`}>
                    {v.suggestions.map(c => (
                      <li key={`${c.id}-${c.kind}`} className={`suggestion-${c.outcome}`}>{suggestionLine(v, c)}</li>
                    ))}
                  </ul>
                )}
              </li>
            ))}
          </ol>
          )}
      {selected !== null && (
        <section className='version' data-testid='version-view'>
          <h3>{label(selected)}</h3>
          <p className='legend'>What this version changed: <ins>added</ins> <del>deleted</del></p>
          {rendered === null && <p>Loading…</p>}
          <div className='prose version-doc' data-testid='version-text' ref={view} />
          {canRestore && <button data-testid='restore' disabled={busy} onClick={() => { void restore(selected) }}>Restore this version</button>}
          {canRestore && (
            <button
              data-testid='name-version' onClick={() => {
                const name = prompt('Name this version', selected.name ?? '')
                if (name !== null && name.trim() !== '') nameVersion(docId, selected.rev, name.trim()).then(load, (e: Error) => setError(e.message))
              }}
            >Name this version
            </button>
          )}
        </section>
      )}
    </aside>
  )
}

/**
 * The version's exported HTML (sanitized by the server, and again by the Trusted Types policy on
 * parsing) with the words it added wrapped in `<ins>` and the ones it deleted put back in `<del>`
 * where they were. The diff is of the plain text, whose only characters missing from the HTML's
 * text are the newlines between blocks; when the two disagree, the version shows unmarked.
 */
function markChanges (html: string, pieces: Piece[]): Node {
  const body = new DOMParser().parseFromString(html, 'text/html').body
  const root = document.createElement('div')
  root.append(...Array.from(body.childNodes))
  const texts: Text[] = []
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT)
  while (walker.nextNode() !== null) texts.push(walker.currentNode as Text)
  const flat = pieces.filter(p => p.kind !== 'deleted').map(p => p.text.replace(/\n/g, '')).join('')
  if (flat !== texts.map(t => t.data).join('')) return root
  let i = 0 // the text node being read, and how far into it
  let off = 0
  const at = (): Text | null => {
    while (i < texts.length && off >= texts[i].data.length) { i++; off = 0 }
    return i < texts.length ? texts[i] : null
  }
  for (const p of pieces) {
    const text = p.text.replace(/\n/g, '')
    if (text === '') continue
    if (p.kind === 'deleted') {
      const del = document.createElement('del')
      del.textContent = text
      const node = at()
      if (node === null) (root.lastElementChild ?? root).append(del)
      else if (off === 0) node.before(del)
      else { texts[i] = node.splitText(off); off = 0; texts[i].before(del) }
      continue
    }
    let left = text.length
    while (left > 0) {
      let node = at()
      if (node === null) break
      if (off > 0) { node = node.splitText(off); texts[i] = node; off = 0 }
      const take = Math.min(left, node.data.length)
      if (take < node.data.length) texts.splice(i + 1, 0, node.splitText(take))
      if (p.kind === 'added') {
        const ins = document.createElement('ins')
        node.replaceWith(ins)
        ins.append(node)
      }
      off = take
      left -= take
    }
  }
  return root
}
