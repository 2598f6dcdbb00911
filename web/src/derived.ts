// What is worked out from the whole document (the counts, the outline, the suggestions) follows
// edits, anyone's, a moment after them rather than inside them: walking a long document on every
// keystroke would cost each keystroke time in proportion to the document's length.
import { useEffect, useState } from 'react'
import type { Editor } from '@tiptap/react'

/** How long after an edit such a value is worked out again (at most once per this). */
const SETTLE_MS = 200

/** `compute(editor)` now, and again at most once per SETTLE_MS after the document changes.
 * `fallback` while there is no editor. */
export function useDerived<T> (editor: Editor | null, compute: (editor: Editor) => T, fallback: T): T {
  const [state, setState] = useState(() => ({ editor, value: editor === null ? fallback : compute(editor) }))
  useEffect(() => {
    if (editor === null) return
    if (state.editor !== editor) setState({ editor, value: compute(editor) })
    let timer: ReturnType<typeof setTimeout> | undefined
    const run = () => {
      timer = undefined
      if (!editor.isDestroyed) setState({ editor, value: compute(editor) })
    }
    const onUpdate = () => { timer ??= setTimeout(run, SETTLE_MS) }
    editor.on('update', onUpdate)
    return () => { editor.off('update', onUpdate); clearTimeout(timer) }
  }, [editor])
  return state.editor === editor ? state.value : fallback
}
