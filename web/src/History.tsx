import { useEffect, useState } from 'react'
import { exportText, listHistory, nameVersion, restoreVersion, type Version } from './api'
import { wordDiff, type Piece } from './diff'

/**
 * The history panel: versions (a new one after 5 minutes of quiet or another author), newest
 * first; selecting one shows the document as it was, with what was deleted and added since
 * highlighted; editors can restore it after confirming (a new revision: collaborators see it live),
 * and undo that restore from the notice it leaves (by restoring the revision before it).
 */
export function HistoryPanel ({ docId, canRestore, onClose }: { docId: string, canRestore: boolean, onClose: () => void }) {
  const [versions, setVersions] = useState<Version[] | null>(null)
  const [selected, setSelected] = useState<Version | null>(null)
  const [pieces, setPieces] = useState<Piece[] | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  // The last restore made here: what it restored and the revision it made, so it can be undone.
  const [restored, setRestored] = useState<{ from: Version, revision: number } | null>(null)
  const load = () => { listHistory(docId).then(setVersions, (e: Error) => setError(e.message)) }
  useEffect(load, [docId])

  const view = async (v: Version) => {
    setSelected(v)
    setPieces(null)
    try {
      const [then, now] = await Promise.all([exportText(docId, v.rev), exportText(docId)])
      setPieces(wordDiff(then, now))
    } catch (e) { setError((e as Error).message) }
  }
  const when = (v: Version) => v.ended_at === 0 ? 'earlier' : new Date(v.ended_at).toLocaleString()
  const restore = async (v: Version) => {
    if (!confirm(`Restore the document as it was at ${when(v)}? Everyone's view changes; you can undo it.`)) return
    setBusy(true)
    try {
      const r = await restoreVersion(docId, v.rev)
      setRestored(r.changed ? { from: v, revision: r.revision } : null)
      setSelected(null)
      setPieces(null)
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
    <aside className='history' data-testid='history-panel' aria-label='Version history'>
      <header><h2>Version history</h2><button onClick={onClose}>Close</button></header>
      {error !== null && <p className='error' role='alert'>{error}</p>}
      {restored !== null && (
        <p className='note' data-testid='restored' role='status'>
          Restored from {when(restored.from)}.{' '}
          <button data-testid='undo-restore' disabled={busy} onClick={() => { void undoRestore() }}>Undo restore</button>
        </p>
      )}
      {versions === null
        ? <p>Loading…</p>
        : (
          <ol data-testid='versions'>
            {versions.map(v => (
              <li key={v.rev} className={selected?.rev === v.rev ? 'selected' : ''}>
                <button className='link' data-testid={`version-${v.rev}`} onClick={() => { void view(v) }}>
                  {when(v)}
                </button>
                <span className='who'>{v.author?.name ?? 'Someone'}</span>
                {v.name !== null && <strong className='version-name'>{v.name}</strong>}
                <small>rev {v.first_rev === v.rev ? v.rev : `${v.first_rev}–${v.rev}`}</small>
              </li>
            ))}
          </ol>
          )}
      {selected !== null && (
        <section className='version' data-testid='version-view'>
          <h3>As of revision {selected.rev}</h3>
          <p className='legend'><del>deleted since</del> <ins>added since</ins></p>
          <pre data-testid='version-text'>
            {pieces === null
              ? 'Loading…'
              : pieces.map((p, i) => p.kind === 'same' ? <span key={i}>{p.text}</span> : p.kind === 'added' ? <ins key={i}>{p.text}</ins> : <del key={i}>{p.text}</del>)}
          </pre>
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
