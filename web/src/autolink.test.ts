// Text becomes a link as its author types it, never as it arrives from Yjs (another person, this
// device's copy, an undo): there the reader's editor would write an edit of its own.
import { describe, expect, it } from 'vitest'
import { Editor } from '@tiptap/core'
import { EditorState } from '@tiptap/pm/state'
import { ySyncPluginKey } from '@tiptap/y-tiptap'
import { schemaExtensions } from './extensions'

// Tiptap's keymaps ask which platform this is (Node 20 has no navigator).
if (typeof navigator === 'undefined') Object.assign(globalThis, { navigator: { platform: '', userAgent: '' } })

function typed (fromYjs: boolean): boolean {
  const editor = new Editor({ extensions: schemaExtensions, content: { type: 'doc', content: [{ type: 'paragraph' }] } })
  const { schema } = editor
  let state = EditorState.create({ schema, plugins: editor.extensionManager.plugins })
  const tr = state.tr.insertText('see https://example.com ', 1)
  if (fromYjs) tr.setMeta(ySyncPluginKey, { isChangeOrigin: true })
  state = state.applyTransaction(tr).state
  let linked = false
  state.doc.descendants(n => { if (n.marks.some(m => m.type.name === 'link')) linked = true })
  editor.destroy()
  return linked
}

describe('autolink', () => {
  it('links a typed address', () => { expect(typed(false)).toBe(true) })
  it('leaves an address that came from Yjs as it came', () => { expect(typed(true)).toBe(false) })
})
