// The table controls: in the toolbar, a size picker that inserts a table with a header row; and,
// while the cursor is in a table, a bar of its own with rows, columns, the header row, merge and
// split, and delete.
// Tab and Shift+Tab move between cells and arrows move across them (Tiptap's table extension).
import { useEffect, useRef, useState } from 'react'
import type { Editor } from '@tiptap/react'
import { Table } from 'lucide-react'
import { canProposeRows, proposeRow, proposeRowRemoval } from './suggesting'

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
    if (open) picker.current?.querySelector<HTMLButtonElement>(`[data-testid="table-${size.rows}x${size.cols}"]`)?.focus()
  }, [open])
  return (
    <span className='table-menu'>
      <button
        data-testid='tb-table' aria-haspopup='dialog' aria-expanded={open} aria-label='Insert a table' data-tip='Table'
        onMouseDown={e => { e.preventDefault(); setOpen(!open) }}
        onKeyDown={e => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); setOpen(!open) } }}
      >
        <Table aria-hidden size={18} />
      </button>
      {open && (
        <div
          ref={picker} className='table-picker' role='dialog' aria-label='Insert a table'
          onKeyDown={e => {
            if (e.key === 'Escape') { setOpen(false); editor.commands.focus() }
            // Arrows move across the grid (Enter inserts the size shown).
            const step: Record<string, [number, number]> = { ArrowRight: [0, 1], ArrowLeft: [0, -1], ArrowDown: [1, 0], ArrowUp: [-1, 0] }
            const d = step[e.key]
            if (d === undefined) return
            e.preventDefault()
            const rows = Math.min(MAX, Math.max(1, size.rows + d[0]))
            const cols = Math.min(MAX, Math.max(1, size.cols + d[1]))
            picker.current?.querySelector<HTMLButtonElement>(`[data-testid="table-${rows}x${cols}"]`)?.focus()
          }}
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
    </span>
  )
}

/**
 * While the cursor is in a table: what can be done to it. While suggesting, rows are proposed
 * (a new row, or a row's removal, as one suggestion each); the rest is not available.
 */
export function TableBar ({ editor, suggesting = false, user = '' }: { editor: Editor, suggesting?: boolean, user?: string }) {
  const c = () => editor.chain().focus()
  const act = (id: string, label: string, run: () => boolean, can: boolean, proposable = false) => {
    const off = suggesting && !proposable
    return (
      <button
        key={id} data-testid={`table-${id}`} disabled={!can || off} title={off ? `${label}: not available while suggesting` : undefined}
        onMouseDown={e => { e.preventDefault(); run() }} onClick={e => { if (e.detail === 0) run() }}
      >
        {label}
      </button>
    )
  }
  if (!editor.isActive('table')) return null
  const can = editor.can()
  const rows = canProposeRows(editor.state)
  const row = (below: boolean) => () => suggesting ? proposeRow(editor, user, below) : (below ? c().addRowAfter().run() : c().addRowBefore().run())
  return (
        <div className='table-actions' role='toolbar' aria-label='Table' data-testid='table-bar'>
          {act('row-above', 'Row above', row(false), suggesting ? rows : can.addRowBefore(), true)}
          {act('row-below', 'Row below', row(true), suggesting ? rows : can.addRowAfter(), true)}
          {act('row-delete', 'Delete row', () => suggesting ? proposeRowRemoval(editor, user) : c().deleteRow().run(), suggesting || can.deleteRow(), true)}
          {act('col-left', 'Column left', () => c().addColumnBefore().run(), can.addColumnBefore())}
          {act('col-right', 'Column right', () => c().addColumnAfter().run(), can.addColumnAfter())}
          {act('col-delete', 'Delete column', () => c().deleteColumn().run(), can.deleteColumn())}
          {act('header', 'Header row', () => c().toggleHeaderRow().run(), can.toggleHeaderRow())}
          {act('merge', 'Merge cells', () => c().mergeCells().run(), can.mergeCells())}
          {act('split', 'Split cell', () => c().splitCell().run(), can.splitCell())}
          {act('delete', 'Delete table', () => c().deleteTable().run(), can.deleteTable())}
        </div>
  )
}
