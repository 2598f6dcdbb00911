// @mentions: typing "@" lists the people one may mention here (those who can open the document
// first, then people one shares other documents with); choosing one inserts a mention node that
// holds their account id and shows their *current* name (the label it was written with is the
// fallback). The node also carries a `ref`, its place, so a notification can link to it. The
// server checks every mention (the account exists and the author may mention it) and tells the
// person once the edit is durable.
import type { Editor, Range } from '@tiptap/core'
import Mention, { type MentionOptions } from '@tiptap/extension-mention'
import { PluginKey } from '@tiptap/pm/state'
import { Fragment, type Node as PmNode } from '@tiptap/pm/model'
import { mentionable, type Person } from './api'
import { SuggestMenu } from './suggestMenu'
import { proposeInline, type SuggestionAttrs } from './suggesting'
import { colorFor } from './user'

/** Current names by account id, as last heard from the server, and the views showing them. */
const names = new Map<string, string>()
const painters = new Set<() => void>()

/** Remembers people's current names; mentions on screen show them at once. */
export function learnNames (people: Person[]): void {
  for (const p of people) names.set(String(p.id), p.name)
  painters.forEach(paint => paint())
}

/** An account's current name, if heard. */
export const nameOf = (id: string): string | undefined => names.get(id)

/** The account ids of the mentions in a document. */
export function mentionedIds (doc: PmNode): number[] {
  const ids = new Set<number>()
  doc.descendants(node => {
    if (node.type.name === 'mention') {
      const id = Number(node.attrs.id)
      if (Number.isSafeInteger(id)) ids.add(id)
    }
  })
  return [...ids]
}

const roleHint = (p: Person): string => p.role === null
  ? 'cannot open this document'
  : ({ owner: 'owner', editor: 'can edit', commenter: 'can comment', viewer: 'can view' })[p.role]

/** The node with its `ref` attribute and a view of the current name: part of the schema. */
export const MentionNode = Mention.extend<MentionOptions<Person, Person>>({
  addAttributes () {
    return {
      ...this.parent?.(),
      ref: {
        default: null,
        parseHTML: (el: HTMLElement) => el.getAttribute('data-ref'),
        renderHTML: (attrs: Record<string, unknown>) => typeof attrs.ref === 'string' ? { 'data-ref': attrs.ref } : {}
      }
    }
  },
  addNodeView () {
    return ({ node }) => {
      const dom = document.createElement('span')
      dom.className = 'mention'
      dom.dataset.type = 'mention'
      let current = node
      const paint = (): void => {
        const id = String(current.attrs.id)
        const label = current.attrs.label as string | null
        dom.textContent = `@${names.get(id) ?? label ?? 'someone'}`
        dom.dataset.id = id
        if (typeof current.attrs.ref === 'string') dom.dataset.ref = current.attrs.ref
        // A proposed mention, or one proposed for removal (suggesting.ts).
        const ins = current.attrs.suggestionInsert as SuggestionAttrs | null | undefined
        const del = current.attrs.suggestionDelete as SuggestionAttrs | null | undefined
        const s = del ?? ins
        if (s != null) {
          dom.dataset.suggestBlock = del != null ? 'delete' : 'insert'
          dom.dataset.suggestion = s.id
          dom.style.setProperty('--suggest-color', colorFor(s.user))
        } else {
          delete dom.dataset.suggestBlock
          delete dom.dataset.suggestion
        }
      }
      paint()
      painters.add(paint)
      return {
        dom,
        update: (next: PmNode) => {
          if (next.type !== current.type) return false
          current = next
          paint()
          return true
        },
        destroy: () => { painters.delete(paint) }
      }
    }
  }
}).configure({
  HTMLAttributes: { class: 'mention' },
  renderText: ({ node }) => `@${names.get(String(node.attrs.id)) ?? (node.attrs.label as string | null) ?? 'someone'}`,
  deleteTriggerWithBackspace: true
})

/**
 * The editor's mention node with its "@" list for document `docId`. `onNoAccess` hears of a
 * mention of someone who cannot open the document (the editor offers to share it).
 */
export function mentions (docId: string, onNoAccess: (p: Person) => void) {
  return MentionNode.configure({
    suggestion: {
      pluginKey: new PluginKey('mentionMenu'),
      char: '@',
      items: async ({ query }: { query: string }) => {
        const people = await mentionable(docId, query).catch(() => [])
        learnNames(people)
        return people
      },
      command: ({ editor, range, props }: { editor: Editor, range: Range, props: Person }) => {
        const ref = crypto.randomUUID().slice(0, 8)
        const { schema } = editor.state
        const nodes = [schema.nodes.mention.create({ id: String(props.id), label: props.name, ref }), schema.text(' ')]
        // While suggesting, the mention is proposed; else it goes in as typed.
        if (!proposeInline(editor, range.from, range.to, nodes)) editor.chain().focus().insertContentAt(range, Fragment.from(nodes)).run()
        if (props.role === null) onNoAccess(props)
      },
      render: () => {
        let menu: SuggestMenu<Person> | null = null
        const options = {
          label: 'Mention someone',
          testid: 'mention',
          empty: 'Nobody by that name',
          show: (p: Person) => ({ id: p.id, label: p.name, hint: roleHint(p) })
        }
        return {
          onStart: props => { menu = new SuggestMenu(props, options) },
          onUpdate: props => menu?.update(props),
          onKeyDown: ({ event }) => {
            if (event.key === 'Escape') { menu?.destroy(); menu = null; return true }
            return menu?.key(event) ?? false
          },
          onExit: () => { menu?.destroy(); menu = null }
        }
      }
    }
  })
}
