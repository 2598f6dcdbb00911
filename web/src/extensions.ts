// The extensions that define the editor's document schema: its nodes, marks and attributes. The
// editor adds collaboration, carets, counts and comments on top (none of which add to the
// schema). `schema/editor.json` at the repository root is this schema as the server checks it;
// `schema.test.ts` fails when the two differ.
import type { AnyExtension } from '@tiptap/core'
import type { Node as PmNode } from '@tiptap/pm/model'
import type { Decoration, DecorationSource, NodeView } from '@tiptap/pm/view'
import StarterKit from '@tiptap/starter-kit'
import { TableKit } from '@tiptap/extension-table'
import { TaskItem, TaskList } from '@tiptap/extension-list'
import Link from '@tiptap/extension-link'
import { isChangeOrigin } from '@tiptap/extension-collaboration'
import { Plugin } from '@tiptap/pm/state'
import Image from '@tiptap/extension-image'
import { Attachment } from './Attachment'
import { MentionNode } from './mention'
import { SuggestionBlocks, SuggestionDelete, SuggestionInsert } from './suggesting'

/** http, https and mailto only (the server refuses any other link in the document). */
export const allowedLink = (url: string): boolean => /^(https?:\/\/|mailto:)/i.test(url.trim())

/**
 * Tiptap's resizable image applies a width and height only when its view is made: a size set by
 * someone else (a remote resize, an undo) arrived in the document but not on screen. This view
 * applies them on every update too.
 */
const ImageResizedLive = Image.extend({
  addNodeView () {
    const make = this.parent?.()
    if (make == null) return null
    return props => {
      const view = make(props) as NodeView
      const inner = view.update?.bind(view)
      if (inner === undefined) return view
      view.update = (node: PmNode, decorations: readonly Decoration[], innerDecorations: DecorationSource) => {
        if (!inner(node, decorations, innerDecorations)) return false
        const img = (view.dom as HTMLElement).querySelector('img')
        const px = (v: unknown) => typeof v === 'number' && v > 0 ? `${v}px` : ''
        if (img !== null) { img.style.width = px(node.attrs.width); img.style.height = px(node.attrs.height) }
        return true
      }
      return view
    }
  }
})

export const schemaExtensions: AnyExtension[] = [
  StarterKit.configure({
    undoRedo: false, // Collaboration's undo only undoes this user's edits
    link: false // below: a link does not grow when typing continues after it
  }),
  Link.extend({
    inclusive: () => false,
    // Text is made a link as its author types it, never as it arrives from others (or from
    // this device's own copy, or an undo): their editor has already done it or chose not to,
    // and doing it here would make a change of this reader's own to text they did not write.
    // It also spares opening a document the scan (and the link finder's setup, ~40 ms).
    addProseMirrorPlugins () {
      return (this.parent?.() ?? []).map(plugin => {
        const append = plugin.spec.appendTransaction
        // (Each editor's plugin keys are numbered: autolink$, autolink$1, …)
        if (!/^autolink\$\d*$/.test((plugin as unknown as { key: string }).key) || append === undefined) return plugin
        return new Plugin({
          ...plugin.spec,
          appendTransaction: (trs, before, after) => trs.some(isChangeOrigin) ? null : append.call(plugin, trs, before, after)
        })
      })
    }
  }).configure({
    openOnClick: false, autolink: true, protocols: ['http', 'https', 'mailto'], isAllowedUri: url => allowedLink(url)
  }),
  TaskList,
  TaskItem.configure({ nested: true }),
  // Tables with a header row, resizable columns, merged cells; Tab moves between cells.
  TableKit.configure({ table: { resizable: true, allowTableNodeSelection: true } }),
  // Images of the document's own files (the server refuses any other address), resized by
  // their corner handles; other files are attachment cards.
  ImageResizedLive.configure({
    resize: { enabled: true, directions: ['top-left', 'top-right', 'bottom-left', 'bottom-right'], alwaysPreserveAspectRatio: true, minWidth: 48, minHeight: 48 }
  }),
  Attachment,
  // @mentions of people (the editor adds the "@" list; the server checks whom each names).
  MentionNode,
  // Suggestions: proposed text and blocks, and what is proposed for deletion (see suggesting.ts).
  SuggestionInsert,
  SuggestionDelete,
  SuggestionBlocks
]
