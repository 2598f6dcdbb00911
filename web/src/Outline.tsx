// The outline: the document's headings, indented by level, beside the text; choosing one moves
// the caret there and scrolls to it. It follows every edit, anyone's.
import { useRef } from 'react'
import type { Editor } from '@tiptap/react'
import { usePanelFocus } from './panel'
import { useDerived } from './derived'

interface Heading { pos: number, level: number, text: string }

function headings (editor: Editor): Heading[] {
  const out: Heading[] = []
  editor.state.doc.descendants((node, pos) => {
    if (node.type.name === 'heading') out.push({ pos, level: Number(node.attrs.level) || 1, text: node.textContent })
    return node.isBlock && node.type.name !== 'heading'
  })
  return out
}

export function Outline ({ editor, onClose }: { editor: Editor, onClose: () => void }) {
  const list = useDerived(editor, headings, [])
  const panel = useRef<HTMLElement>(null)
  usePanelFocus(panel, onClose)
  const go = (h: Heading) => {
    editor.chain().focus().setTextSelection(h.pos + 1).scrollIntoView().run()
    editor.view.nodeDOM(h.pos) instanceof HTMLElement && (editor.view.nodeDOM(h.pos) as HTMLElement).scrollIntoView({ block: 'start', behavior: 'smooth' })
  }
  return (
    <aside className='outline' aria-label='Outline' data-testid='outline-panel' ref={panel}>
      <header><h2>Outline</h2><button onClick={onClose}>Close</button></header>
      {list.length === 0
        ? <p className='note'>Headings you add show here.</p>
        : (
          <ol>
            {list.map(h => (
              <li key={h.pos} style={{ paddingLeft: `${(h.level - 1) * .9}rem` }}>
                <button className='link' onClick={() => go(h)}>{h.text === '' ? 'Untitled heading' : h.text}</button>
              </li>
            ))}
          </ol>
          )}
    </aside>
  )
}
