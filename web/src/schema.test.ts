// The editor's schema and the server's copy of it (`schema/editor.json`, which the server checks
// every client update against) must list the same nodes, marks and attributes: adding a node
// type to the editor without the server fails here.
import { describe, expect, it } from 'vitest'
import { getSchema } from '@tiptap/core'
import { schemaExtensions } from './extensions'
import serverSchema from '../../schema/editor.json'

describe('the editor schema', () => {
  it('is the one the server checks', () => {
    const schema = getSchema(schemaExtensions)
    const attrs = (spec: { attrs?: Record<string, unknown> | null }) => Object.keys(spec.attrs ?? {}).sort()
    const nodes = Object.fromEntries(Object.entries(schema.nodes)
      .filter(([name]) => name !== 'doc' && name !== 'text')
      .map(([name, type]) => [name, attrs(type.spec)]))
    const marks = Object.fromEntries(Object.entries(schema.marks).map(([name, type]) => [name, attrs(type.spec)]))
    expect({ nodes, marks }).toEqual({ nodes: serverSchema.nodes, marks: serverSchema.marks })
  })
})
