// Tiptap renders a node's DOM by working out every extension attribute of it again (filtering,
// rendering and merging them: a few microseconds a node), which opening a document does for
// each of its nodes: ~9,000 in the 1 MB benchmark document with its tables, 30-40 ms of the
// open. For the node types whose DOM depends on their attributes alone, the rendered spec is
// kept per distinct set of attributes (there are few: a paragraph's alignment and suggestion
// marks, a cell's span and widths), and ProseMirror builds the DOM from the same spec again.
import { Extension } from '@tiptap/core'
import type { Node as PmNode } from '@tiptap/pm/model'

/** Types whose `renderHTML` reads nothing but the node's attributes (and fixed options). */
export const BY_ATTRIBUTES = ['paragraph', 'heading', 'tableRow', 'tableCell', 'tableHeader', 'listItem', 'bulletList', 'orderedList', 'blockquote', 'taskItem', 'taskList']

/** Distinct attribute sets kept per type before the cache starts over. */
const KEEP = 256

export const DomSpecs = Extension.create({
  name: 'domSpecs',
  onBeforeCreate () {
    for (const name of BY_ATTRIBUTES) {
      const spec = this.editor.schema.nodes[name]?.spec
      const render = spec?.toDOM
      if (spec === undefined || render === undefined) continue
      const kept = new Map<string, ReturnType<typeof render>>()
      spec.toDOM = (node: PmNode) => {
        const key = JSON.stringify(node.attrs)
        let out = kept.get(key)
        if (out === undefined) {
          out = render(node)
          // A DOM node (not a description of one) cannot be placed twice.
          if (!Array.isArray(out)) return out
          if (kept.size >= KEEP) kept.clear()
          kept.set(key, out)
        }
        return out
      }
    }
  }
})
