// Suggestion mode (docs/protocol.md, "Suggestions"). In Suggesting, what a person types is
// marked as their proposed insertion, what they delete is marked as their proposed deletion
// (the text stays until accepted), Enter proposes a new block (the text after the cursor is
// proposed for deletion where it is and proposed again in the new block), and a paste is one
// proposed insertion. Deleting one's own proposed text deletes it for real. A mention picked from
// the "@" list and a table row are proposed the same way (an attribute on the node). Every other
// change (formatting, dragging, table columns) is not made while suggesting. A commenter is always in
// Suggesting and the server refuses from them anything that is not their own suggestion; editors
// and owners choose the mode, and accept or reject suggestions as ordinary edits.
import { Extension, Mark, mergeAttributes } from '@tiptap/core'
import type { Editor } from '@tiptap/core'
import { Fragment, type Node as PmNode, type NodeType } from '@tiptap/pm/model'
import { Plugin, PluginKey, TextSelection, type EditorState, type Transaction } from '@tiptap/pm/state'
import { ySyncPluginKey } from '@tiptap/y-tiptap'
import { colorFor } from './user'

export type Mode = 'editing' | 'suggesting' | 'viewing'

/** Who suggested, which suggestion, and when (ms since the epoch). */
export interface SuggestionAttrs { id: string, user: string, time: number }

export const INSERT = 'suggestionInsert'
export const DELETE = 'suggestionDelete'

/** Blocks that may be proposed as new, or for removal, as a whole (their attributes). */
export const SUGGESTIBLE_BLOCKS = ['paragraph', 'heading', 'blockquote', 'codeBlock', 'horizontalRule', 'listItem', 'taskItem', 'tableRow', 'image', 'attachment']
/** Inline nodes that may be proposed, or proposed for removal, the same way. */
export const SUGGESTIBLE_INLINE = ['mention']

const META = 'tandem-suggesting'
const key = new PluginKey<null>('suggesting')

const suggestionAttrs = {
  id: { default: '' },
  user: { default: '' },
  time: { default: 0 }
}

function render (kind: 'ins' | 'del', a: SuggestionAttrs, extra: Record<string, string>) {
  return [kind, mergeAttributes(extra, {
    'data-suggestion': a.id,
    'data-user': a.user,
    class: kind === 'ins' ? 'suggest-ins' : 'suggest-del',
    style: `--suggest-color: ${colorFor(a.user)}`
  }), 0] as const
}

export const SuggestionInsert = Mark.create({
  name: INSERT,
  inclusive: false,
  addAttributes: () => suggestionAttrs,
  parseHTML: () => [],
  renderHTML: ({ mark }) => render('ins', mark.attrs as SuggestionAttrs, {})
})

export const SuggestionDelete = Mark.create({
  name: DELETE,
  inclusive: false,
  addAttributes: () => suggestionAttrs,
  parseHTML: () => [],
  renderHTML: ({ mark }) => render('del', mark.attrs as SuggestionAttrs, {})
})

/** The attributes that mark a whole block as proposed (never parsed from pasted HTML). */
export const SuggestionBlocks = Extension.create({
  name: 'suggestionBlocks',
  addGlobalAttributes: () => [{
    types: [...SUGGESTIBLE_BLOCKS, ...SUGGESTIBLE_INLINE],
    attributes: {
      [INSERT]: {
        default: null,
        parseHTML: () => null,
        renderHTML: (attrs: Record<string, unknown>) => blockAttrs(attrs[INSERT], 'insert')
      },
      [DELETE]: {
        default: null,
        parseHTML: () => null,
        renderHTML: (attrs: Record<string, unknown>) => blockAttrs(attrs[DELETE], 'delete')
      }
    }
  }]
})

function blockAttrs (v: unknown, kind: string): Record<string, string> {
  if (v === null || typeof v !== 'object') return {}
  const a = v as SuggestionAttrs
  return { 'data-suggest-block': kind, 'data-suggestion': a.id, style: `--suggest-color: ${colorFor(a.user)}` }
}

interface Options {
  /** The account id suggestions are made as ('' when there are no accounts: suggesting is off). */
  user: () => string
  mode: () => Mode
}

/** A fresh suggestion id: unique without coordination. */
export function newId (): string {
  return crypto.randomUUID().replace(/-/g, '').slice(0, 16)
}

/**
 * The suggestion being made: one of the author's right beside `pos` (typing on, deleting on,
 * typing over what they just proposed to delete), or the author's proposed block around it,
 * else a new one.
 */
function current (state: EditorState, pos: number, user: string): SuggestionAttrs {
  const $pos = state.doc.resolve(pos)
  for (const node of [$pos.nodeBefore, $pos.nodeAfter]) {
    const mark = node?.marks.find(m => (m.type.name === INSERT || m.type.name === DELETE) && m.attrs.user === user)
    // A copy: ProseMirror's attributes have no prototype, which Yjs refuses as a block's
    // attribute value ("Unexpected content type") when this one goes on a new block.
    if (mark !== undefined) return { id: mark.attrs.id, user: mark.attrs.user, time: mark.attrs.time }
  }
  // Inside a block of theirs (a proposed row's cells, a proposed paragraph): that suggestion.
  for (let d = $pos.depth; d > 0; d--) {
    const block = $pos.node(d).attrs[INSERT] as SuggestionAttrs | null | undefined
    if (block != null && block.user === user) return { id: block.id, user: block.user, time: block.time }
  }
  return { id: newId(), user, time: Date.now() }
}

/**
 * Proposes deleting [from, to): the author's own proposed text goes at once, other text gets
 * their deletion mark (text already proposed for deletion keeps its mark).
 */
function proposeDeletion (tr: Transaction, from: number, to: number, s: SuggestionAttrs): void {
  const del = tr.doc.type.schema.marks[DELETE]
  const ranges: Array<{ from: number, to: number, own: boolean }> = []
  const nodes: Array<{ pos: number, own: boolean }> = []
  tr.doc.nodesBetween(from, to, (node, pos) => {
    if (node.isInline && !node.isText) {
      // A mention: the author's own proposed one goes, another is proposed for removal.
      if (!(DELETE in node.attrs) || pos < from) return false
      const own = (node.attrs[INSERT] as SuggestionAttrs | null)?.user === s.user
      if (own || node.attrs[DELETE] == null) nodes.push({ pos, own })
      return false
    }
    if (!node.isText) return true
    const a = Math.max(from, pos)
    const b = Math.min(to, pos + node.nodeSize)
    const own = node.marks.some(m => m.type.name === INSERT && m.attrs.user === s.user)
    const marked = node.marks.some(m => m.type.name === DELETE)
    if (own || !marked) ranges.push({ from: a, to: b, own })
    return false
  })
  // Attributes first (they move nothing), then right to left, so earlier positions stay valid.
  for (const n of nodes) if (!n.own) tr.setNodeAttribute(n.pos, DELETE, { ...s })
  const gone = [...ranges, ...nodes.filter(n => n.own).map(n => ({ from: n.pos, to: n.pos + 1, own: true }))]
  for (const r of gone.sort((x, y) => y.from - x.from)) {
    if (r.own) tr.delete(r.from, r.to)
    else tr.addMark(r.from, r.to, del.create(s))
  }
}

/** Inserts `text` at `pos` as the author's proposal, with the formatting around it. */
function proposeText (tr: Transaction, pos: number, text: string, s: SuggestionAttrs): number {
  if (text === '') return pos
  const schema = tr.doc.type.schema
  const $pos = tr.doc.resolve(pos)
  const marks = ($pos.nodeBefore ?? $pos.nodeAfter)?.marks ?? []
  const kept = marks.filter(m => m.type.name !== INSERT && m.type.name !== DELETE && m.type.name !== 'link')
  tr.insert(pos, schema.text(text, [...kept, schema.marks[INSERT].create(s)]))
  return pos + text.length
}

/**
 * Enter at `pos` (`paragraphs` = ['']), or the rest of a paste of several paragraphs: new
 * proposed blocks after the current one, one per paragraph, the last of them followed by what
 * came after the cursor (proposed for deletion where it was, proposed again here). The new
 * blocks are paragraphs (list items in a list). Returns the position after the last
 * paragraph's text.
 */
function proposeBlocks (tr: Transaction, pos: number, paragraphs: string[], s: SuggestionAttrs): number {
  const schema = tr.doc.type.schema
  const $pos = tr.doc.resolve(pos)
  const block = $pos.parent
  if (!block.isTextblock || paragraphs.length === 0) return pos
  const mark = schema.marks[INSERT].create(s)
  // The tail's text, as the author's proposal (text proposed for deletion stays behind).
  const moved: PmNode[] = []
  block.content.cut($pos.parentOffset).forEach(n => {
    if (!n.isText || n.marks.some(m => m.type.name === DELETE)) return
    const kept = n.marks.filter(m => m.type.name !== INSERT && m.type.name !== 'link')
    moved.push(schema.text(n.text ?? '', [...kept, mark]))
  })
  const inList = $pos.depth >= 2 && ['listItem', 'taskItem'].includes($pos.node($pos.depth - 1).type.name)
  const item: NodeType = inList ? $pos.node($pos.depth - 1).type : schema.nodes.paragraph
  const steps = tr.steps.length
  proposeDeletion(tr, pos, $pos.end(), s)
  const wrap = (content: PmNode[]): PmNode => inList
    ? item.create({ [INSERT]: s }, schema.nodes.paragraph.create(null, content))
    : schema.nodes.paragraph.create({ [INSERT]: s }, content)
  const text = (p: string): PmNode[] => p === '' ? [] : [schema.text(p, [mark])]
  const last = paragraphs[paragraphs.length - 1]
  const nodes = [...paragraphs.slice(0, -1).map(p => wrap(text(p))), wrap([...text(last), ...moved])]
  const $after = tr.doc.resolve(tr.mapping.slice(steps).map(pos))
  const at = inList ? $after.after($after.depth - 1) : $after.after()
  tr.insert(at, Fragment.from(nodes))
  let start = at
  for (const n of nodes.slice(0, -1)) start += n.nodeSize
  return start + (inList ? 2 : 1) + last.length
}

/**
 * Backspace at the start of a block B whose previous sibling A is a text block (`at` is the
 * position between them): proposes joining them, the mirror of Enter. B's text (what is not
 * already proposed for deletion) is proposed again at A's end, and B with its text is proposed
 * for deletion; accepting leaves one block, rejecting leaves both. When B is the author's own
 * proposed block, it goes for real, and a split they proposed (A's tail proposed for deletion,
 * the same text starting B) is simply withdrawn. Returns where the caret goes, or `null` when
 * the blocks cannot be joined this way (different parents, code, inline nodes other than text).
 */
function proposeJoin (tr: Transaction, at: number, s: SuggestionAttrs): number | null {
  const schema = tr.doc.type.schema
  const $at = tr.doc.resolve(at)
  const a = $at.nodeBefore
  const b = $at.nodeAfter
  const mark = schema.marks[INSERT].create(s)
  const joinable = (n: PmNode | null): n is PmNode => n !== null && n.isTextblock && n.type.allowsMarkType(schema.marks[INSERT]) &&
    SUGGESTIBLE_BLOCKS.includes(n.type.name)
  if (!joinable(a) || !joinable(b) || at === 0) return null
  if (a.attrs[DELETE] != null || b.attrs[DELETE] != null) return null // already proposed for deletion
  // Only text moves (a mention or an inline image would be lost from the copy).
  let inline = false
  b.forEach(n => { inline ||= !n.isText })
  if (inline) return null
  const aEnd = at - 1
  const ownBlock = (b.attrs[INSERT] as SuggestionAttrs | null)?.user === s.user
  // B's live text, as the author's proposal at A's end.
  let moved = ''
  const nodes: PmNode[] = []
  b.forEach(n => {
    if (!n.isText || n.marks.some(m => m.type.name === DELETE)) return
    moved += n.text ?? ''
    nodes.push(n.mark([...n.marks.filter(m => m.type.name !== INSERT && m.type.name !== 'link'), mark]))
  })
  // A split of their own being withdrawn: A's tail the author proposed for deletion.
  let tail = ''
  if (ownBlock) {
    for (let i = a.childCount - 1; i >= 0; i--) {
      const n = a.child(i)
      if (!n.isText || !n.marks.some(m => m.type.name === DELETE && m.attrs.user === s.user)) break
      tail = (n.text ?? '') + tail
    }
    if (tail === '' || !moved.startsWith(tail)) tail = ''
  }
  if (ownBlock) tr.delete(at, at + b.nodeSize)
  else {
    proposeDeletion(tr, at + 1, at + 1 + b.content.size, s)
    tr.setNodeAttribute(at, DELETE, s)
  }
  let rest = Fragment.from(nodes)
  if (tail !== '') {
    tr.removeMark(aEnd - tail.length, aEnd, schema.marks[DELETE])
    rest = rest.cut(tail.length)
  }
  if (rest.size > 0) tr.insert(aEnd, rest)
  return aEnd - tail.length
}

/**
 * Puts inline `content` (a mention and the text after it) over [from, to) as the author's
 * proposal when `editor` is in Suggesting: what it replaces is proposed for deletion (the
 * author's own typed "@name" goes), the nodes carry the `suggestionInsert` attribute and the
 * text the mark. Returns false when not suggesting (the caller inserts as usual).
 */
export function proposeInline (editor: Editor, from: number, to: number, content: PmNode[]): boolean {
  const options = editor.extensionManager.extensions.find(e => e.name === 'suggesting')?.options as Options | undefined
  const user = options?.user() ?? ''
  if (options?.mode() !== 'suggesting' || user === '') return false
  const { state } = editor
  const s = current(state, from, user)
  const tr = state.tr
  proposeDeletion(tr, from, to, s)
  const at = tr.mapping.map(to)
  const mark = state.schema.marks[INSERT].create(s)
  const nodes = content.map(n => n.isText
    ? n.mark([...n.marks, mark])
    : n.type.create({ ...n.attrs, [INSERT]: { ...s } }, n.content, n.marks))
  tr.insert(at, nodes)
  let end = at
  for (const n of nodes) end += n.nodeSize
  tr.setSelection(TextSelection.create(tr.doc, end))
  editor.view.dispatch(tr.setMeta(META, true).scrollIntoView())
  editor.view.focus()
  return true
}

/** Whether a "@" or "/" list is open (its keys, Enter included, are its own). */
function menuOpen (state: EditorState): boolean {
  return state.plugins.some(p => {
    const st = p.getState(state) as { active?: unknown, query?: unknown } | undefined
    return st != null && typeof st === 'object' && st.active === true && 'query' in st
  })
}

/** The table row holding the selection: its position, the row and its table; or `null`. */
function rowAt (state: EditorState): { pos: number, row: PmNode, table: PmNode } | null {
  const $from = state.selection.$from
  for (let d = $from.depth; d > 1; d--) {
    if ($from.node(d).type.name === 'tableRow') return { pos: $from.before(d), row: $from.node(d), table: $from.node(d - 1) }
  }
  return null
}

/** Whether rows of the selection's table can be proposed: no cell spans rows. */
export function canProposeRows (state: EditorState): boolean {
  const at = rowAt(state)
  if (at === null) return false
  let spans = false
  at.table.forEach(row => row.forEach(cell => { spans ||= (cell.attrs.rowspan as number) > 1 }))
  return !spans
}

/**
 * Proposes a new, empty row above or below the selection's (a row is a block, as a paragraph
 * is: docs/protocol.md, "Suggestions"). Its cells mirror the row's (header cells only where the
 * column is a header column). Returns whether it did.
 */
export function proposeRow (editor: Editor, user: string, below: boolean): boolean {
  const { state } = editor
  const at = rowAt(state)
  if (at === null || user === '' || !canProposeRows(state)) return false
  const { nodes } = state.schema
  const first = state.doc.resolve(at.pos).index() === 0
  const cells: PmNode[] = []
  at.row.forEach(cell => {
    const type = cell.type.name === 'tableHeader' && !first ? nodes.tableHeader : nodes.tableCell
    const made = type.createAndFill({ colspan: cell.attrs.colspan, rowspan: 1, colwidth: cell.attrs.colwidth })
    if (made !== null) cells.push(made)
  })
  const s: SuggestionAttrs = { id: newId(), user, time: Date.now() }
  const row = nodes.tableRow.create({ [INSERT]: s }, cells)
  const pos = below ? at.pos + at.row.nodeSize : at.pos
  const tr = state.tr.insert(pos, row)
  // Into the new row's first cell's paragraph.
  tr.setSelection(TextSelection.create(tr.doc, pos + 3))
  editor.view.dispatch(tr.setMeta(META, true).scrollIntoView())
  return true
}

/**
 * Proposes removing the selection's row: the whole row is marked, as a block; a row the author
 * proposed goes for real (unless it is the table's last). Returns whether anything changed.
 */
export function proposeRowRemoval (editor: Editor, user: string): boolean {
  const { state } = editor
  const at = rowAt(state)
  if (at === null || user === '' || at.row.attrs[DELETE] != null) return false
  const tr = state.tr
  if ((at.row.attrs[INSERT] as SuggestionAttrs | null)?.user === user) {
    if (at.table.childCount === 1) return false
    tr.delete(at.pos, at.pos + at.row.nodeSize)
  } else {
    tr.setNodeAttribute(at.pos, DELETE, { id: newId(), user, time: Date.now() })
  }
  editor.view.dispatch(tr.setMeta(META, true))
  return true
}

export const Suggesting = Extension.create<Options>({
  name: 'suggesting',
  // Before the keymaps and input rules: while suggesting, Enter, Backspace and typing are ours.
  priority: 1000,
  addOptions: () => ({ user: () => '', mode: () => 'editing' as Mode }),
  addProseMirrorPlugins () {
    const on = () => this.options.mode() === 'suggesting' && this.options.user() !== ''
    const attrsAt = (state: EditorState, pos: number) => current(state, pos, this.options.user())
    const done = (view: { dispatch: (tr: Transaction) => void }, tr: Transaction) => {
      view.dispatch(tr.setMeta(META, true).scrollIntoView())
      return true
    }
    return [new Plugin({
      key,
      // While suggesting, only this extension's own changes and other people's (arriving through
      // the collaboration binding, undo included) change the document.
      filterTransaction: (tr) => !on() || !tr.docChanged || tr.getMeta(META) === true || tr.getMeta(ySyncPluginKey) !== undefined,
      props: {
        handleTextInput: (view, from, to, text) => {
          if (!on()) {
            // Outside Suggesting, typed text is plain even inside someone's proposal: it is not
            // theirs (and the server's check of their later changes relies on it).
            const { state } = view
            const marks = state.storedMarks ?? state.doc.resolve(from).marks()
            if (!marks.some(m => m.type.name === INSERT || m.type.name === DELETE) || !view.editable) return false
            const kept = marks.filter(m => m.type.name !== INSERT && m.type.name !== DELETE)
            view.dispatch(state.tr.replaceWith(from, to, state.schema.text(text, kept)))
            return true
          }
          const s = attrsAt(view.state, from)
          const tr = view.state.tr
          proposeDeletion(tr, from, to, s)
          const at = tr.mapping.map(to)
          const end = proposeText(tr, at, text, s)
          tr.setSelection(TextSelection.create(tr.doc, end))
          return done(view, tr)
        },
        handleKeyDown: (view, event) => {
          if (!on() || menuOpen(view.state)) return false
          const { state } = view
          const sel = state.selection
          const s = attrsAt(state, sel.from)
          if (event.key === 'Enter' && !event.shiftKey) {
            const tr = state.tr
            if (!sel.empty) proposeDeletion(tr, sel.from, sel.to, s)
            const end = proposeBlocks(tr, tr.mapping.map(sel.to), [''], s)
            tr.setSelection(TextSelection.create(tr.doc, end))
            return done(view, tr)
          }
          if (event.key !== 'Backspace' && event.key !== 'Delete') {
            // Shift+Enter and other keys that would change the document are not suggestions.
            return event.key === 'Enter'
          }
          const tr = state.tr
          if (!sel.empty) {
            proposeDeletion(tr, sel.from, sel.to, s)
            tr.setSelection(TextSelection.create(tr.doc, tr.mapping.map(event.key === 'Backspace' ? sel.from : sel.to)))
            return done(view, tr)
          }
          const $pos = sel.$from
          const back = event.key === 'Backspace'
          const atEdge = back ? $pos.parentOffset === 0 : $pos.parentOffset === $pos.parent.content.size
          if (atEdge) {
            // Backspace at a block's start joins it to the one before (Delete at its end, the
            // one after to it), as a proposal; where blocks cannot be joined, an empty proposed
            // block of one's own goes, else the cursor moves into the neighbouring block.
            const caret = proposeJoin(tr, back ? $pos.before() : $pos.after(), s)
            if (caret !== null) {
              tr.setSelection(TextSelection.create(tr.doc, caret))
              return done(view, tr)
            }
            const block = $pos.parent
            const own = (block.attrs[INSERT] as SuggestionAttrs | null)?.user === s.user
            if (own && block.content.size === 0) {
              tr.delete($pos.before(), $pos.after())
              return done(view, tr)
            }
            const target = back ? $pos.before() - 1 : $pos.after() + 1
            if (target > 0 && target < state.doc.content.size) {
              const near = TextSelection.near(state.doc.resolve(target), back ? -1 : 1)
              view.dispatch(state.tr.setSelection(near))
            }
            return true
          }
          const from = back ? sel.from - 1 : sel.from
          proposeDeletion(tr, from, from + 1, s)
          const caret = back ? tr.mapping.map(from, -1) : tr.mapping.map(from + 1)
          tr.setSelection(TextSelection.create(tr.doc, caret))
          return done(view, tr)
        },
        handlePaste: (view, event, slice) => {
          if (!on()) return false
          const paragraphs: string[] = []
          slice.content.forEach(n => { paragraphs.push(n.isTextblock || n.isText ? n.textContent : n.textBetween(0, n.content.size, '\n')) })
          if (paragraphs.length === 0) return true
          const { state } = view
          const sel = state.selection
          const s = attrsAt(state, sel.from)
          const tr = state.tr
          proposeDeletion(tr, sel.from, sel.to, s)
          const at = tr.mapping.map(sel.to)
          let end = proposeText(tr, at, paragraphs[0], s)
          if (paragraphs.length > 1) end = proposeBlocks(tr, end, paragraphs.slice(1), s)
          tr.setSelection(TextSelection.near(tr.doc.resolve(Math.min(end, tr.doc.content.size))))
          event.preventDefault()
          return done(view, tr)
        },
        handleDrop: () => on()
      }
    })]
  }
})

/** One suggestion as the side list shows it. */
export interface Suggestion {
  id: string
  user: string
  time: number
  /** Proposed text, and text proposed for deletion. */
  inserted: string
  deleted: string
  /** Whole blocks proposed. */
  blocks: number
  from: number
  to: number
}

/** Every suggestion in the document, in document order. */
export function suggestions (doc: PmNode): Suggestion[] {
  const found = new Map<string, Suggestion>()
  const entry = (a: SuggestionAttrs, pos: number, end: number): Suggestion => {
    let s = found.get(a.id)
    if (s === undefined) {
      s = { id: a.id, user: a.user, time: a.time, inserted: '', deleted: '', blocks: 0, from: pos, to: end }
      found.set(a.id, s)
    }
    s.from = Math.min(s.from, pos)
    s.to = Math.max(s.to, end)
    return s
  }
  doc.descendants((node, pos) => {
    for (const kind of [INSERT, DELETE]) {
      const block = node.attrs[kind] as SuggestionAttrs | null | undefined
      if (block != null && typeof block === 'object' && block.id !== '') entry(block, pos, pos + node.nodeSize).blocks += 1
    }
    if (node.isText) {
      for (const m of node.marks) {
        if (m.type.name === INSERT) entry(m.attrs as SuggestionAttrs, pos, pos + node.nodeSize).inserted += node.text ?? ''
        if (m.type.name === DELETE) entry(m.attrs as SuggestionAttrs, pos, pos + node.nodeSize).deleted += node.text ?? ''
      }
    }
    return true
  })
  return [...found.values()]
}

/**
 * Accepts (or rejects) the suggestions `which` picks: accepting keeps proposed text and blocks
 * and removes what was proposed for deletion; rejecting does the opposite. One transaction, an
 * ordinary edit (undo undoes it).
 */
export function settle (editor: Editor, which: (s: SuggestionAttrs) => boolean, accept: boolean): void {
  const { state } = editor
  const tr = state.tr
  const picked = (v: unknown): v is SuggestionAttrs => v != null && typeof v === 'object' && which(v as SuggestionAttrs)
  const removeText: Array<[number, number]> = []
  const removeBlocks: Array<[number, number]> = []
  const unmark: Array<[number, number, string]> = []
  const unattr: Array<[number, string]> = []
  state.doc.descendants((node, pos) => {
    const ins = node.attrs[INSERT]
    const del = node.attrs[DELETE]
    if (picked(ins)) {
      if (accept) unattr.push([pos, INSERT])
      else { removeBlocks.push([pos, pos + node.nodeSize]); return false }
    }
    if (picked(del)) {
      if (accept) { removeBlocks.push([pos, pos + node.nodeSize]); return false } else unattr.push([pos, DELETE])
    }
    if (node.isText) {
      for (const m of node.marks) {
        if (!picked(m.attrs)) continue
        const range: [number, number] = [pos, pos + node.nodeSize]
        if (m.type.name === INSERT) (accept ? unmark.push([...range, INSERT]) : removeText.push(range))
        if (m.type.name === DELETE) (accept ? removeText.push(range) : unmark.push([...range, DELETE]))
      }
    }
    return true
  })
  for (const [pos, name] of unattr) tr.setNodeAttribute(pos, name, null)
  for (const [from, to, name] of unmark) tr.removeMark(from, to, state.schema.marks[name])
  const gone = [...removeText, ...removeBlocks].sort((a, b) => b[0] - a[0])
  for (const [from, to] of gone) tr.delete(tr.mapping.map(from), tr.mapping.map(to))
  if (tr.docChanged) editor.view.dispatch(tr.setMeta(META, true))
}
