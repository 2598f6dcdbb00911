// The "/" menu: typing "/" in the text opens a list of blocks to insert (headings, lists, a
// table, an image or file, code, a quote, a divider), filtered by what follows the slash; arrows
// choose, Enter inserts, Escape closes. Built on Tiptap's suggestion utility; the menu
// (`suggestMenu.ts`) is a small listbox positioned at the caret.
import { Extension, type Editor, type Range } from '@tiptap/core'
import Suggestion from '@tiptap/suggestion'
import { SuggestMenu } from './suggestMenu'
import { PluginKey } from '@tiptap/pm/state'

export interface SlashItem { id: string, label: string, hint: string, keywords: string, run: (editor: Editor) => void }

export const slashItems = (attach: () => void): SlashItem[] => [
  { id: 'h1', label: 'Heading 1', hint: 'Big section title', keywords: 'title h1', run: e => e.chain().focus().setHeading({ level: 1 }).run() },
  { id: 'h2', label: 'Heading 2', hint: 'Section title', keywords: 'subtitle h2', run: e => e.chain().focus().setHeading({ level: 2 }).run() },
  { id: 'h3', label: 'Heading 3', hint: 'Small heading', keywords: 'h3', run: e => e.chain().focus().setHeading({ level: 3 }).run() },
  { id: 'bullet', label: 'Bulleted list', hint: 'A simple list', keywords: 'ul unordered', run: e => e.chain().focus().toggleBulletList().run() },
  { id: 'ordered', label: 'Numbered list', hint: '1, 2, 3', keywords: 'ol ordered', run: e => e.chain().focus().toggleOrderedList().run() },
  { id: 'task', label: 'Checklist', hint: 'Tasks to tick off', keywords: 'todo task checkbox', run: e => e.chain().focus().toggleTaskList().run() },
  { id: 'table', label: 'Table', hint: '3 × 3 with a header row', keywords: 'grid', run: e => e.chain().focus().insertTable({ rows: 3, cols: 3, withHeaderRow: true }).run() },
  { id: 'image', label: 'Image or file', hint: 'Upload from this device', keywords: 'picture photo upload attachment', run: () => attach() },
  { id: 'code', label: 'Code block', hint: 'Monospaced, as written', keywords: 'pre', run: e => e.chain().focus().setCodeBlock().run() },
  { id: 'quote', label: 'Quote', hint: 'Set text apart', keywords: 'blockquote', run: e => e.chain().focus().setBlockquote().run() },
  { id: 'divider', label: 'Divider', hint: 'A horizontal line', keywords: 'hr rule line', run: e => e.chain().focus().setHorizontalRule().run() }
]

const key = new PluginKey('slashMenu')

export const SlashCommands = Extension.create<{ items: () => SlashItem[] }>({
  name: 'slashCommands',
  addOptions () { return { items: () => [] } },
  addProseMirrorPlugins () {
    return [Suggestion<SlashItem, SlashItem>({
      editor: this.editor,
      pluginKey: key,
      char: '/',
      // Only where a block could start: not inside code, not in the middle of a word or an address.
      allow: ({ state, range }) => {
        const $from = state.doc.resolve(range.from)
        return !$from.parent.type.spec.code && state.doc.textBetween(Math.max($from.start(), range.from - 1), range.from) .trim() === ''
      },
      items: ({ query }) => {
        const q = query.toLowerCase()
        return this.options.items().filter(i => `${i.label} ${i.keywords}`.toLowerCase().includes(q))
      },
      command: ({ editor, range, props }: { editor: Editor, range: Range, props: SlashItem }) => {
        editor.chain().focus().deleteRange(range).run()
        props.run(editor)
      },
      render: () => {
        let menu: SuggestMenu<SlashItem> | null = null
        return {
          onStart: props => { menu = new SuggestMenu(props, { label: 'Insert a block', testid: 'slash', empty: 'No such block', show: i => i }) },
          onUpdate: props => menu?.update(props),
          onKeyDown: ({ event }) => {
            if (event.key === 'Escape') { menu?.destroy(); menu = null; return true }
            return menu?.key(event) ?? false
          },
          onExit: () => { menu?.destroy(); menu = null }
        }
      }
    })]
  }
})
