// The kept DOM specs (domSpecs.ts) render every node exactly as Tiptap does, are shared only
// between nodes with the same attributes, and are kept at all.
import { describe, expect, it } from 'vitest'
import { Editor } from '@tiptap/core'
import type { Node as PmNode } from '@tiptap/pm/model'
import { schemaExtensions } from './extensions'
import { BY_ATTRIBUTES, DomSpecs } from './domSpecs'
import { INSERT } from './suggesting'

if (typeof navigator === 'undefined') Object.assign(globalThis, { navigator: { platform: '', userAgent: '' } })

const content = {
  type: 'doc',
  content: [
    { type: 'paragraph', content: [{ type: 'text', text: 'a' }] },
    { type: 'paragraph', content: [{ type: 'text', text: 'b' }] },
    { type: 'paragraph', attrs: { [INSERT]: { id: 's1', user: '7' } }, content: [{ type: 'text', text: 'proposed' }] },
    { type: 'heading', attrs: { level: 2 }, content: [{ type: 'text', text: 'h2' }] },
    { type: 'heading', attrs: { level: 3 }, content: [{ type: 'text', text: 'h3' }] },
    {
      type: 'table',
      content: [
        { type: 'tableRow', content: [{ type: 'tableHeader', content: [{ type: 'paragraph' }] }, { type: 'tableHeader', attrs: { colwidth: [120] }, content: [{ type: 'paragraph' }] }] },
        { type: 'tableRow', content: [{ type: 'tableCell', attrs: { colspan: 2, colwidth: [80, 120] }, content: [{ type: 'paragraph' }] }] },
        { type: 'tableRow', content: [{ type: 'tableCell', content: [{ type: 'paragraph' }] }, { type: 'tableCell', content: [{ type: 'paragraph' }] }] }
      ]
    },
    { type: 'bulletList', content: [{ type: 'listItem', content: [{ type: 'paragraph' }] }] },
    { type: 'taskList', content: [{ type: 'taskItem', attrs: { checked: true }, content: [{ type: 'paragraph' }] }, { type: 'taskItem', attrs: { checked: false }, content: [{ type: 'paragraph' }] }] }
  ]
}

const nodesOf = (editor: Editor): PmNode[] => {
  const all: PmNode[] = []
  editor.state.doc.descendants(n => { if (BY_ATTRIBUTES.includes(n.type.name)) all.push(n) })
  return all
}
const render = (n: PmNode) => JSON.stringify(n.type.spec.toDOM?.(n))

describe('kept DOM specs', () => {
  const plain = new Editor({ extensions: schemaExtensions, content })
  const kept = new Editor({ extensions: [...schemaExtensions, DomSpecs], content })

  it('render each node as Tiptap does', () => {
    const a = nodesOf(plain)
    const b = nodesOf(kept)
    expect(b.length).toBeGreaterThan(15)
    expect(b.map(render)).toEqual(a.map(render))
    // What differs between nodes still differs: levels, spans, widths, checks, suggestions.
    expect(new Set(b.map(render)).size).toBeGreaterThan(8)
  })

  it('are shared between nodes with the same attributes, and only those', () => {
    const [p1, p2, p3] = nodesOf(kept).filter(n => n.type.name === 'paragraph')
    const toDOM = p1.type.spec.toDOM!
    expect(toDOM(p1)).toBe(toDOM(p2))
    expect(toDOM(p3)).not.toBe(toDOM(p1))
    // Without the extension every call makes a new one.
    const [q1, q2] = nodesOf(plain).filter(n => n.type.name === 'paragraph')
    expect(q1.type.spec.toDOM!(q1)).not.toBe(q2.type.spec.toDOM!(q2))
  })
})
