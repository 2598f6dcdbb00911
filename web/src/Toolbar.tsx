// The formatting toolbar: icon buttons in groups, each named with its shortcut (a tooltip on
// hover and keyboard focus, and the accessible name). On a narrow screen the groups after the
// first ones fold into a "More" menu. A mouse press keeps the editor's selection (the press is
// taken, the command runs); a keyboard press (Enter or Space on a focused button) runs it too.
import { useEffect, useRef, useState, type ReactNode } from 'react'
import type { Editor } from '@tiptap/react'
import {
  Bold, Code, Ellipsis, Heading1, Heading2, Italic, Link, List, ListOrdered, ListTodo, Paperclip,
  Redo2, SquareCode, Strikethrough, TextQuote, Underline, Undo2
} from 'lucide-react'
import { TableMenu } from './TableMenu'

const mod = typeof navigator !== 'undefined' && /Mac|iPhone|iPad/.test(navigator.platform) ? '⌘' : 'Ctrl+'

interface Props {
  editor: Editor
  /** Asks for a link address and applies it. */
  editLink: () => void
  /** Opens the file chooser. */
  attach: () => void
  /** In Suggesting mode only undo and redo: formatting is not proposed, so its buttons are off. */
  suggesting?: boolean
}

export function Toolbar ({ editor, editLink, attach, suggesting = false }: Props) {
  const [, rerender] = useState(0)
  const [more, setMore] = useState(false)
  const moreRef = useRef<HTMLDivElement>(null)
  useEffect(() => {
    const f = () => rerender(n => n + 1)
    editor.on('transaction', f)
    return () => { editor.off('transaction', f) }
  }, [editor])
  // Ctrl+K (⌘K) opens the link field, as in other editors.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && !e.shiftKey && !e.altKey && e.key.toLowerCase() === 'k') {
        e.preventDefault()
        editLink()
      }
    }
    const dom = editor.view.dom
    dom.addEventListener('keydown', onKey)
    return () => { dom.removeEventListener('keydown', onKey) }
  })
  // The "More" menu closes on a press outside it or on Escape.
  useEffect(() => {
    if (!more) return
    const away = (e: MouseEvent) => {
      const t = e.target as HTMLElement
      if (!(moreRef.current?.contains(t) ?? false) && t.closest('.tb-more') === null) setMore(false)
    }
    document.addEventListener('mousedown', away)
    return () => document.removeEventListener('mousedown', away)
  }, [more])
  const c = () => editor.chain().focus()
  const btn = (id: string, label: string, keys: string | null, icon: ReactNode, run: () => unknown, active = false) => {
    const off = suggesting && id !== 'undo' && id !== 'redo'
    const tip = off ? `${label}: not available while suggesting` : keys === null ? label : `${label} (${keys})`
    return (
      <button
        key={id} type='button' data-testid={`tb-${id}`} className={active ? 'active' : ''} aria-label={tip} data-tip={tip}
        aria-pressed={active} disabled={off}
        onMouseDown={e => { e.preventDefault(); run() }}
        onClick={e => { if (e.detail === 0) run() }}
      >
        {icon}
      </button>
    )
  }
  const i = { size: 18, 'aria-hidden': true } as const
  const is = (name: string, attrs?: Record<string, unknown>) => editor.isActive(name, attrs)
  return (
    <nav className='toolbar' aria-label='Formatting' onKeyDown={e => { if (e.key === 'Escape') setMore(false) }}>
      <div className='tb-group' role='group' aria-label='History'>
        {btn('undo', 'Undo', `${mod}Z`, <Undo2 {...i} />, () => c().undo().run())}
        {btn('redo', 'Redo', `${mod}Shift+Z`, <Redo2 {...i} />, () => c().redo().run())}
      </div>
      <div className='tb-group' role='group' aria-label='Text'>
        {btn('h1', 'Heading 1', `${mod}Alt+1`, <Heading1 {...i} />, () => c().toggleHeading({ level: 1 }).run(), is('heading', { level: 1 }))}
        {btn('h2', 'Heading 2', `${mod}Alt+2`, <Heading2 {...i} />, () => c().toggleHeading({ level: 2 }).run(), is('heading', { level: 2 }))}
        {btn('bold', 'Bold', `${mod}B`, <Bold {...i} />, () => c().toggleBold().run(), is('bold'))}
        {btn('italic', 'Italic', `${mod}I`, <Italic {...i} />, () => c().toggleItalic().run(), is('italic'))}
        {btn('underline', 'Underline', `${mod}U`, <Underline {...i} />, () => c().toggleUnderline().run(), is('underline'))}
        {btn('strike', 'Strikethrough', `${mod}Shift+S`, <Strikethrough {...i} />, () => c().toggleStrike().run(), is('strike'))}
        {btn('inline-code', 'Code', `${mod}E`, <Code {...i} />, () => c().toggleCode().run(), is('code'))}
        {btn('link', 'Link', `${mod}K`, <Link {...i} />, editLink, is('link'))}
      </div>
      <button
        type='button' className='tb-more' data-testid='tb-more' aria-label='More formatting' data-tip='More'
        aria-expanded={more} aria-controls='tb-overflow' onClick={() => setMore(!more)}
      >
        <Ellipsis {...i} />
      </button>
      <div className={`tb-overflow${more ? ' open' : ''}`} id='tb-overflow' ref={moreRef}>
        <div className='tb-group' role='group' aria-label='Blocks'>
          {btn('bullet', 'Bulleted list', `${mod}Shift+8`, <List {...i} />, () => c().toggleBulletList().run(), is('bulletList'))}
          {btn('ordered', 'Numbered list', `${mod}Shift+7`, <ListOrdered {...i} />, () => c().toggleOrderedList().run(), is('orderedList'))}
          {btn('task', 'Checklist', `${mod}Shift+9`, <ListTodo {...i} />, () => c().toggleTaskList().run(), is('taskList'))}
          {btn('quote', 'Quote', `${mod}Shift+B`, <TextQuote {...i} />, () => c().toggleBlockquote().run(), is('blockquote'))}
          {btn('code', 'Code block', `${mod}Alt+C`, <SquareCode {...i} />, () => c().toggleCodeBlock().run(), is('codeBlock'))}
        </div>
        <div className='tb-group' role='group' aria-label='Insert'>
          {!suggesting && <TableMenu editor={editor} />}
          {btn('attach', 'Image or file', null, <Paperclip {...i} />, attach)}
        </div>
      </div>
    </nav>
  )
}
