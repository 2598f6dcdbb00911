// Comment anchors and highlights. An anchor is two Yjs relative positions (start and end of the
// commented range), each encoded and base64'd, joined by '.': the server stores it as given.
// Relative positions point at characters, not offsets, so the range follows the text through
// every local or remote edit; each render resolves them against the current document.
import * as Y from 'yjs'
import { Extension, type Editor } from '@tiptap/react'
import { Plugin, PluginKey, type EditorState } from '@tiptap/pm/state'
import { Decoration, DecorationSet } from '@tiptap/pm/view'
import { absolutePositionToRelativePosition, relativePositionToAbsolutePosition, ySyncPluginKey } from '@tiptap/y-tiptap'

/** y-tiptap's node mapping (its type is not exported by name). */
type Mapping = Parameters<typeof absolutePositionToRelativePosition>[2]

interface Binding { type: Y.XmlFragment, doc: Y.Doc, mapping: Mapping }

const binding = (state: EditorState): Binding | null =>
  (ySyncPluginKey.getState(state) as { binding?: Binding } | undefined)?.binding ?? null

const toBase64 = (b: Uint8Array): string => btoa(String.fromCharCode(...b))
const fromBase64 = (s: string): Uint8Array => Uint8Array.from(atob(s), c => c.charCodeAt(0))

/** A position of the editor's document that follows edits (encoded), or null before it is bound. */
export function positionFor (state: EditorState, pos: number): string | null {
  const b = binding(state)
  if (b === null) return null
  return toBase64(Y.encodeRelativePosition(absolutePositionToRelativePosition(pos, b.type, b.mapping)))
}

/** Where a position from `positionFor` is now; null if it cannot be found. */
export function resolvePosition (state: EditorState, encoded: string): number | null {
  const b = binding(state)
  if (b === null) return null
  try {
    return relativePositionToAbsolutePosition(b.doc, b.type, Y.decodeRelativePosition(fromBase64(encoded)), b.mapping)
  } catch {
    return null
  }
}

/** The anchor for the range `from..to` of the editor's document, or null before it is bound. */
export function anchorFor (state: EditorState, from: number, to: number): string | null {
  const start = positionFor(state, from)
  const end = positionFor(state, to)
  return start === null || end === null ? null : `${start}.${end}`
}

/** Where an anchor's range is now; null if its text was deleted or the anchor is not ours. */
export function resolveAnchor (state: EditorState, anchor: string): { from: number, to: number } | null {
  const [start, end] = anchor.split('.')
  if (start === undefined || end === undefined) return null
  const from = resolvePosition(state, start)
  const to = resolvePosition(state, end)
  if (from === null || to === null || to <= from || to > state.doc.content.size) return null
  return { from, to }
}

export interface Highlight { id: string, anchor: string }

const key = new PluginKey<{ highlights: Highlight[], active: string | null }>('commentHighlights')

/** The event the editor's DOM gets when a margin marker is pressed; `detail` is the thread id. */
export const MARKER_EVENT = 'tandem:comment-marker'

function marker (id: string): HTMLElement {
  const b = document.createElement('button')
  b.className = 'comment-marker'
  b.type = 'button'
  b.contentEditable = 'false'
  b.dataset.thread = id
  b.setAttribute('aria-label', 'Show comment')
  // The glyph comes from the stylesheet, so the document's text never includes it.
  b.textContent = ''
  return b
}

/**
 * Marks every open thread's range (`.comment-highlight`, the selected one also `.active`) and
 * puts a marker in the margin beside where it starts (a widget the stylesheet moves to the
 * right edge); pressing it fires `MARKER_EVENT`.
 */
export const CommentHighlights = Extension.create({
  name: 'commentHighlights',
  addProseMirrorPlugins () {
    return [new Plugin({
      key,
      state: {
        init: () => ({ highlights: [] as Highlight[], active: null as string | null }),
        apply: (tr, value) => tr.getMeta(key) ?? value
      },
      props: {
        decorations (state) {
          const { highlights, active } = key.getState(state) ?? { highlights: [], active: null }
          const decorations = highlights.flatMap(h => {
            const range = resolveAnchor(state, h.anchor)
            if (range === null) return []
            const cls = h.id === active ? 'comment-highlight active' : 'comment-highlight'
            return [
              Decoration.inline(range.from, range.to, { class: cls, 'data-thread': h.id }),
              Decoration.widget(range.from, () => marker(h.id), { side: -1, key: `marker-${h.id}`, ignoreSelection: true })
            ]
          })
          return DecorationSet.create(state.doc, decorations)
        },
        handleDOMEvents: {
          mousedown (view, event) {
            const m = (event.target as HTMLElement | null)?.closest?.('.comment-marker') as HTMLElement | null
            if (m === null || m === undefined) return false
            event.preventDefault()
            view.dom.dispatchEvent(new CustomEvent(MARKER_EVENT, { detail: m.dataset.thread }))
            return true
          }
        }
      }
    })]
  }
})

/** Replaces the highlighted threads. */
export function setHighlights (editor: Editor, highlights: Highlight[], active: string | null): void {
  if (editor.isDestroyed) return
  editor.view.dispatch(editor.state.tr.setMeta(key, { highlights, active }))
}
