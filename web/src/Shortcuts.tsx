// The keyboard shortcuts sheet (Ctrl+/ or ⌘/, or the "Shortcuts" button): every shortcut the
// editor answers, grouped. A dialog: focus stays inside and Escape closes it.
import { useRef } from 'react'
import { useFocusTrap } from './Share'

const MOD = /Mac|iPhone|iPad/.test(navigator.platform) ? '⌘' : 'Ctrl'

const GROUPS: Array<[string, Array<[string, string]>]> = [
  ['Text', [
    [`${MOD}+B`, 'Bold'], [`${MOD}+I`, 'Italic'], [`${MOD}+U`, 'Underline'],
    [`${MOD}+Shift+S`, 'Strikethrough'], [`${MOD}+E`, 'Inline code'], [`${MOD}+K`, 'Link']
  ]],
  ['Blocks', [
    [`${MOD}+Alt+1`, 'Heading 1'], [`${MOD}+Alt+2`, 'Heading 2'], [`${MOD}+Shift+8`, 'Bulleted list'],
    [`${MOD}+Shift+7`, 'Numbered list'], [`${MOD}+Shift+9`, 'Task list'], [`${MOD}+Shift+B`, 'Quote'],
    [`${MOD}+Alt+C`, 'Code block'], ['/', 'Insert a block: headings, lists, table, image, code, quote, divider']
  ]],
  ['Tables', [['Tab', 'Next cell (a new row at the end)'], ['Shift+Tab', 'Previous cell']]],
  ['Document', [
    [`${MOD}+Z`, 'Undo your last change'], [`${MOD}+Shift+Z`, 'Redo'],
    [`${MOD}+F`, 'Find'], [`${MOD}+H`, 'Find and replace'], ['Enter / Shift+Enter', 'Next / previous match'],
    [`${MOD}+Alt+M`, 'Comment on the selection'], ['Escape', 'Close a panel, menu or dialog'], [`${MOD}+/`, 'This list']
  ]]
]

export function ShortcutsSheet ({ onClose }: { onClose: () => void }) {
  const dialog = useRef<HTMLDivElement>(null)
  useFocusTrap(dialog, onClose)
  return (
    <div className='backdrop' onMouseDown={e => { if (e.target === e.currentTarget) onClose() }}>
      <div className='dialog shortcuts' role='dialog' aria-modal='true' aria-labelledby='shortcuts-title' data-testid='shortcuts' ref={dialog}>
        <header><h2 id='shortcuts-title'>Keyboard shortcuts</h2><button onClick={onClose}>Close</button></header>
        {GROUPS.map(([group, keys]) => (
          <section key={group}>
            <h3>{group}</h3>
            <dl>
              {keys.map(([k, what]) => (
                <div key={k}><dt><kbd>{k}</kbd></dt><dd>{what}</dd></div>
              ))}
            </dl>
          </section>
        ))}
      </div>
    </div>
  )
}
