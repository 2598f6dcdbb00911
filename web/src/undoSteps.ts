// Undo steps as word processors take them. Collaboration's undo (a Y.UndoManager) merges every
// change made less than 500 ms after the previous one, so steady typing became one step: a
// single Ctrl+Z erased whole paragraphs. Here a step also ends after each word (the whitespace
// typed after it belongs to it), and each formatting or structural change (Enter, a list, a
// mark, a paste) is a step of its own. A pause still ends a step, as before.
import { Extension } from '@tiptap/react'
import type { Transaction } from '@tiptap/pm/state'
import { ReplaceStep } from '@tiptap/pm/transform'
import { yUndoPluginKey } from '@tiptap/y-tiptap'
import type * as Y from 'yjs'

/** How a transaction bounds undo steps: `word` ends one, `block` is one on its own. */
export type StepKind = 'none' | 'word' | 'block'

/** Typing a character continues a step; whitespace ends one; anything else is its own. */
export function stepKind (tr: Transaction): StepKind {
  if (!tr.docChanged) return 'none'
  let kind: StepKind = 'none'
  for (const step of tr.steps) {
    if (!(step instanceof ReplaceStep)) return 'block' // marks, attributes, wrapping, lifting
    const { content, openStart, openEnd } = step.slice
    if (openStart > 0 || openEnd > 0) return 'block' // Enter, joined blocks, pasted blocks
    let text = ''
    let other = false
    content.forEach(node => { if (node.isText) text += node.text ?? ''; else other = true })
    if (other || text.length > 1) return 'block' // a node, or pasted text
    if (/^\s/.test(text)) kind = 'word'
  }
  return kind
}

export const UndoSteps = Extension.create({
  name: 'undoSteps',
  onCreate () {
    const manager = (): Y.UndoManager | undefined =>
      (yUndoPluginKey.getState(this.editor.state) as { undoManager?: Y.UndoManager } | undefined)?.undoManager
    // Before the transaction reaches the Yjs document: a change of its own starts a new step.
    this.editor.on('beforeTransaction', ({ transaction }) => {
      if (stepKind(transaction) === 'block') manager()?.stopCapturing()
    })
    // After it: a word or a change of its own ends its step, so what follows is apart.
    this.editor.on('transaction', ({ transaction }) => {
      if (stepKind(transaction) !== 'none') manager()?.stopCapturing()
    })
  }
})
