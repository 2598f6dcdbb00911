// Files into the document: pasted, dropped or chosen with the toolbar's button. Each upload shows
// a placeholder with a progress bar where the file will go (a decoration, not document content,
// so nobody else sees a half-made node); the placeholder's place is a Yjs relative position, so
// it follows the text through everyone's edits. When the server answers, the image (a raster
// image) or attachment (anything else) is inserted there; a refusal removes the placeholder and
// says why.
import { Extension, type Editor } from '@tiptap/core'
import { Plugin, PluginKey, TextSelection } from '@tiptap/pm/state'
import { Decoration, DecorationSet } from '@tiptap/pm/view'
import { Fragment, Slice, type Node as PmNode } from '@tiptap/pm/model'
import { positionFor, resolvePosition } from './anchors'
import { INLINE_IMAGES, isOwnFile, uploadFile } from './files'

interface Pending { id: number, at: string, name: string, progress: number }

const key = new PluginKey<Pending[]>('uploads')
let nextId = 1

function placeholder (p: Pending): HTMLElement {
  const box = document.createElement('div')
  box.className = 'upload-placeholder'
  box.contentEditable = 'false'
  box.setAttribute('data-testid', 'upload-placeholder')
  const label = document.createElement('span')
  label.textContent = `Uploading ${p.name}…`
  const bar = document.createElement('progress')
  bar.max = 1
  bar.value = p.progress
  bar.setAttribute('aria-label', `Uploading ${p.name}`)
  box.append(label, bar)
  return box
}

/** Pasted content keeps only images and attachments of this document's own files (any other
 * address would be refused by the server, closing the connection). */
function keepOwnFiles (slice: Slice, docId: string): Slice {
  const clean = (fragment: Fragment): Fragment => {
    const kept: PmNode[] = []
    fragment.forEach(node => {
      if ((node.type.name === 'image' || node.type.name === 'attachment') && !isOwnFile(docId, node.attrs.src)) return
      kept.push(node.isLeaf ? node : node.copy(clean(node.content)))
    })
    return Fragment.fromArray(kept)
  }
  return new Slice(clean(slice.content), slice.openStart, slice.openEnd)
}

export const Uploads = Extension.create<{ docId: string }>({
  name: 'uploads',
  addOptions () { return { docId: '' } },
  addProseMirrorPlugins () {
    const docId = this.options.docId
    return [new Plugin<Pending[]>({
      key,
      state: {
        init: () => [],
        apply: (tr, pending) => (tr.getMeta(key) as Pending[] | undefined) ?? pending
      },
      props: {
        decorations (state) {
          const pending = key.getState(state) ?? []
          return DecorationSet.create(state.doc, pending.flatMap(p => {
            const pos = resolvePosition(state, p.at)
            if (pos === null) return []
            return [Decoration.widget(pos, () => placeholder(p), { key: `upload-${p.id}-${Math.round(p.progress * 50)}`, side: -1 })]
          }))
        },
        transformPasted: slice => keepOwnFiles(slice, docId)
      }
    })]
  }
})

function setPending (editor: Editor, f: (p: Pending[]) => Pending[]): void {
  if (editor.isDestroyed) return
  editor.view.dispatch(editor.state.tr.setMeta(key, f(key.getState(editor.state) ?? [])))
}

/** Where the node with this `src` ends, searching from `near`; null if it is not there. */
function endOf (doc: PmNode, src: string, near: number): number | null {
  let best: number | null = null
  doc.descendants((node, at) => {
    if (best !== null && at > near + 2) return false
    if ((node.type.name === 'image' || node.type.name === 'attachment') && node.attrs.src === src && at >= near - 2) best = at + node.nodeSize
    return best === null
  })
  return best
}

/** Uploads `files` into the document at `pos` (the selection when absent), in their order, each
 * after the one before, whatever order the uploads finish in. `refused` hears why a file was not
 * attached. The caret, if it was where they go, ends after them. */
export function uploadFiles (editor: Editor, docId: string, files: File[], refused: (message: string) => void, pos?: number): void {
  let at = positionFor(editor.state, pos ?? editor.state.selection.from)
  if (at === null) return refused('The document is still loading; try again in a moment.')
  let queue = Promise.resolve()
  for (const file of files) {
    const id = nextId++
    const name = file.name !== '' ? file.name : 'pasted image'
    setPending(editor, p => [...p, { id, at: at as string, name, progress: 0 }])
    const done = () => setPending(editor, p => p.filter(x => x.id !== id))
    const upload = uploadFile(docId, file, progress => setPending(editor, p => p.map(x => x.id === id ? { ...x, progress } : x)))
      .catch((e: Error) => { done(); refused(`“${name}” was not attached: ${e.message}`); return null })
    queue = queue.then(async () => {
      const stored = await upload
      if (stored === null || editor.isDestroyed || at === null) return
      const where = resolvePosition(editor.state, at) ?? editor.state.selection.from
      const { empty, from } = editor.state.selection
      const caretHere = empty && from === where
      done()
      const node = INLINE_IMAGES.includes(stored.type)
        ? { type: 'image', attrs: { src: stored.url, alt: name.replace(/\.[a-z0-9]+$/i, '') } }
        : { type: 'attachment', attrs: { src: stored.url, name, size: stored.size, type: stored.type } }
      editor.chain().insertContentAt(where, node, { updateSelection: false }).run()
      // The next file goes after this one; the caret too, if it was here.
      const after = endOf(editor.state.doc, stored.url, where)
      if (after === null) return
      at = positionFor(editor.state, after) ?? at
      if (caretHere) editor.view.dispatch(editor.state.tr.setSelection(TextSelection.near(editor.state.doc.resolve(after), 1)))
    })
  }
}
