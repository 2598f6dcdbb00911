// y-prosemirror (stable v1) writes an empty paragraph, heading or table cell's paragraph as an
// element with no Y.XmlText in it. Two people typing into it at once then each add a text of
// their own, and y-prosemirror's merge of the two reorders and repeats characters (seen typing
// into one new table cell from two windows: "writer" and "editor" became "writerditoree";
// upstream: yjs/y-prosemirror#160, #161, #271). So every empty textblock this client creates
// gets its empty text at once, and both people's keystrokes go into that one text. (The server
// does the same for a new document's first paragraph.)
import * as Y from 'yjs'

const TEXTBLOCKS = new Set(['paragraph', 'heading', 'codeBlock'])

/** Starts watching `fragment`; returns the function that stops. */
export function keepTextInEmptyBlocks (fragment: Y.XmlFragment): () => void {
  const doc = fragment.doc
  const onChange = (events: Array<Y.YEvent<Y.AbstractType<unknown>>>, txn: Y.Transaction) => {
    if (!txn.local || doc === null) return
    const empty: Y.XmlElement[] = []
    const visit = (t: unknown) => {
      if (!(t instanceof Y.XmlElement)) return
      if (TEXTBLOCKS.has(t.nodeName) && t.length === 0) empty.push(t)
      else t.toArray().forEach(visit)
    }
    for (const e of events) {
      for (const item of e.changes.added) {
        if (item.content instanceof Y.ContentType) visit(item.content.type)
      }
    }
    if (empty.length > 0) {
      doc.transact(() => { for (const el of empty) if (el.length === 0) el.insert(0, [new Y.XmlText()]) })
    }
  }
  fragment.observeDeep(onChange)
  return () => fragment.unobserveDeep(onChange)
}
