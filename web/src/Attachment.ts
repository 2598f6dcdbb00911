// A file attached to a document that is not shown inline (a PDF, a spreadsheet, an archive…): a
// card with its name and size that downloads it under its name. `src` is one of the document's
// files; the server's schema check refuses any other address.
import { Node, mergeAttributes } from '@tiptap/core'
import { formatSize } from './files'

export const Attachment = Node.create({
  name: 'attachment',
  group: 'block',
  atom: true,
  draggable: true,
  selectable: true,
  addAttributes () {
    return {
      src: { default: null },
      name: { default: null },
      size: { default: null },
      type: { default: null }
    }
  },
  parseHTML () {
    return [{
      tag: 'a[data-attachment]',
      getAttrs: el => ({
        src: el.getAttribute('data-src'),
        name: el.getAttribute('data-name'),
        size: Number(el.getAttribute('data-size')) || null,
        type: el.getAttribute('data-type')
      })
    }]
  },
  renderHTML ({ node }) {
    const { src, name, size, type } = node.attrs as { src: string | null, name: string | null, size: number | null, type: string | null }
    const label = name ?? 'file'
    return ['a', mergeAttributes({
      'data-attachment': '',
      'data-src': src,
      'data-name': name,
      'data-size': size,
      'data-type': type,
      class: 'attachment',
      href: src === null ? undefined : `${src}?name=${encodeURIComponent(label)}`,
      download: label,
      title: `Download ${label}`
    }), ['span', { class: 'attachment-name' }, label], ['span', { class: 'attachment-size' }, size === null ? '' : formatSize(size)]]
  }
})
