// The table controls in the toolbar: a size picker that inserts a table with a header row, and,
// while the cursor is in a table, rows, columns, the header row, merge and split, and delete.
// Tab and Shift+Tab move between cells and arrows move across them (Tiptap's table extension).
import { useEffect, useRef, useState } from 'react'
import type { Editor } from '@tiptap/react'

const MAX = 8

export function TableMenu ({ editor }: { editor: Editor }) {
  const [open, setOpen] = useState(false)
  const [size, setSize] = useState({ rows: 3, cols: 3 })
  const picker = useRef<HTMLDivElement>(null)
  const c = () => editor.chain().focus()
  const insert = (rows: number, cols: number) => {
    c().insertTable({ rows, cols, withHeaderRow: true }).run()
    setOpen(false)
  }
  useEffect(() => {
    if (open) picker.current?.querySelector<HTMLButtonElement>('button')?.focus()
  }, [open])
  const act = (id: string, label: string, run: () => boolean, can: boolean) => (
    <button key={id} data-testid={`table-${id}`} disabled={!can} onMouseDown={e => { e.preventDefault(); run() }}>
      {label}
    </button>
  )
  const inTable = editor.isActive('table')
  const can = editor.can()
  return (
    <span className='table-menu'>
      <button
        data-testid='tb-table' aria-haspopup='dialog' aria-expanded={open} title='Insert a table'
        onMouseDown={e => { e.preventDefault(); setOpen(!open) }}
      >
        Table
      </button>
      {open && (
        <div
          ref={picker} className='table-picker' role='dialog' aria-label='Insert a table'
          onKeyDown={e => { if (e.key === 'Escape') { setOpen(false); editor.commands.focus() } }}
        >
          <div className='grid' style={{ gridTemplateColumns: `repeat(${MAX}, 1fr)` }}>
            {Array.from({ length: MAX * MAX }, (_, i) => {
              const rows = Math.floor(i / MAX) + 1
              const cols = (i % MAX) + 1
              const lit = rows <= size.rows && cols <= size.cols
              return (
                <button
                  key={i} data-testid={`table-${rows}x${cols}`} aria-label={`${rows} by ${cols} table`}
                  className={lit ? 'lit' : ''}
                  onMouseEnter={() => setSize({ rows, cols })} onFocus={() => setSize({ rows, cols })}
                  onClick={() => insert(rows, cols)}
                />
              )
            })}
          </div>
          <p data-testid='table-picker-size' aria-live='polite'>{size.rows} × {size.cols}</p>
        </div>
      )}
      {inTable && (
        <span className='table-actions' role='group' aria-label='Table'>
          {act('row-above', 'Row above', () => c().addRowBefore().run(), can.addRowBefore())}
          {act('row-below', 'Row below', () => c().addRowAfter().run(), can.addRowAfter())}
          {act('row-delete', 'Delete row', () => c().deleteRow().run(), can.deleteRow())}
          {act('col-left', 'Column left', () => c().addColumnBefore().run(), can.addColumnBefore())}
          {act('col-right', 'Column right', () => c().addColumnAfter().run(), can.addColumnAfter())}
          {act('col-delete', 'Delete column', () => c().deleteColumn().run(), can.deleteColumn())}
          {act('header', 'Header row', () => c().toggleHeaderRow().run(), can.toggleHeaderRow())}
          {act('merge', 'Merge cells', () => c().mergeCells().run(), can.mergeCells())}
          {act('split', 'Split cell', () => c().splitCell().run(), can.splitCell())}
          {act('delete', 'Delete table', () => c().deleteTable().run(), can.deleteTable())}
        </span>
      )}
    </span>
  )
}
