// Find and replace: every match of the query in the document is highlighted (a decoration, so
// nobody else sees it), the current one more strongly; replacing is an ordinary edit, so it syncs,
// and undo takes it back. Matching is case-insensitive, within one text block.
import { Extension, type Editor } from '@tiptap/core'
import { Plugin, PluginKey, type EditorState } from '@tiptap/pm/state'
import { Decoration, DecorationSet } from '@tiptap/pm/view'

interface FindState { query: string, current: number }

const key = new PluginKey<FindState>('find')

/** Every match of `query` in the document, in order. */
export function matches (state: EditorState, query: string): Array<{ from: number, to: number }> {
  const out: Array<{ from: number, to: number }> = []
  if (query === '') return out
  const q = query.toLowerCase()
  state.doc.descendants((node, pos) => {
    if (!node.isTextblock) return true
    // Text positions inside the block: inline nodes other than text count as one character.
    let text = ''
    const at: number[] = []
    node.forEach((child, offset) => {
      const s = child.isText ? child.text ?? '' : '\ufffc'
      for (let i = 0; i < s.length; i++) at.push(pos + 1 + offset + i)
      text += s
    })
    const lower = text.toLowerCase()
    for (let i = lower.indexOf(q); i !== -1; i = lower.indexOf(q, i + q.length)) {
      out.push({ from: at[i], to: at[i + q.length - 1] + 1 })
    }
    return false
  })
  return out
}

export const Find = Extension.create({
  name: 'find',
  addProseMirrorPlugins () {
    return [new Plugin<FindState>({
      key,
      state: {
        init: () => ({ query: '', current: 0 }),
        apply: (tr, value) => (tr.getMeta(key) as FindState | undefined) ?? value
      },
      props: {
        decorations (state) {
          const { query, current } = key.getState(state) ?? { query: '', current: 0 }
          const found = matches(state, query)
          return DecorationSet.create(state.doc, found.map((m, i) =>
            Decoration.inline(m.from, m.to, { class: i === current % found.length ? 'find-match current' : 'find-match' })))
        }
      }
    })]
  }
})

export function setFind (editor: Editor, query: string, current = 0): void {
  if (editor.isDestroyed) return
  editor.view.dispatch(editor.state.tr.setMeta(key, { query, current }))
}

export const findState = (editor: Editor): FindState => key.getState(editor.state) ?? { query: '', current: 0 }

/** Scrolls the current match into view and selects it (without taking the focus from the find bar). */
export function showCurrent (editor: Editor): void {
  const { query, current } = findState(editor)
  const found = matches(editor.state, query)
  if (found.length === 0) return
  const m = found[current % found.length]
  editor.commands.setTextSelection(m)
  editor.view.dom.querySelector('.find-match.current')?.scrollIntoView({ block: 'center' })
}

/** Replaces the current match (and moves on to the next), or every match at once. */
export function replace (editor: Editor, text: string, all: boolean): number {
  const { query, current } = findState(editor)
  const found = matches(editor.state, query)
  if (found.length === 0) return 0
  const targets = all ? found : [found[current % found.length]]
  const tr = editor.state.tr
  // From the end, so earlier positions stay valid.
  for (const m of [...targets].reverse()) {
    if (text === '') tr.delete(m.from, m.to)
    else tr.insertText(text, m.from, m.to)
  }
  editor.view.dispatch(tr)
  return targets.length
}
