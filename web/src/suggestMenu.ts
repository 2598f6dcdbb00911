// The list a suggestion opens at the caret ("/" for blocks, "@" for people): a listbox of
// options, arrows choose, Enter picks, a click picks. Plain DOM, driven by Tiptap's suggestion
// utility (`slash.ts`, `mention.ts`).
import type { SuggestionProps } from '@tiptap/suggestion'

export interface MenuOptions<T> {
  /** The listbox's accessible name. */
  label: string
  /** `data-testid` of the list (`${testid}-menu`) and its options (`${testid}-${id}`). */
  testid: string
  /** Shown when nothing matches. */
  empty: string
  show: (item: T) => { id: string | number, label: string, hint: string }
}

export class SuggestMenu<T> {
  private readonly el = document.createElement('div')
  private selected = 0
  private props: SuggestionProps<T, T>
  private readonly options: MenuOptions<T>

  constructor (props: SuggestionProps<T, T>, options: MenuOptions<T>) {
    this.props = props
    this.options = options
    this.el.className = 'slash-menu'
    this.el.setAttribute('role', 'listbox')
    this.el.setAttribute('aria-label', options.label)
    this.el.dataset.testid = `${options.testid}-menu`
    document.body.append(this.el)
    this.render()
  }

  update (props: SuggestionProps<T, T>): void {
    this.props = props
    this.selected = Math.min(this.selected, Math.max(0, props.items.length - 1))
    this.render()
  }

  key (e: KeyboardEvent): boolean {
    const n = this.props.items.length
    if (e.key === 'ArrowDown' && n > 0) { this.selected = (this.selected + 1) % n; this.render(); return true }
    if (e.key === 'ArrowUp' && n > 0) { this.selected = (this.selected - 1 + n) % n; this.render(); return true }
    if (e.key === 'Enter' && n > 0) { this.props.command(this.props.items[this.selected]); return true }
    return false
  }

  destroy (): void { this.el.remove() }

  private render (): void {
    const { items, clientRect } = this.props
    const rect = clientRect?.()
    if (rect != null) {
      // The page's width, not the window's: a wide toolbar may overflow the window on a phone.
      const width = document.documentElement.clientWidth
      this.el.style.left = `${Math.max(scrollX + 4, Math.min(rect.left + scrollX, scrollX + width - 258))}px`
      this.el.style.top = `${rect.bottom + scrollY + 4}px`
    }
    this.el.replaceChildren(...(items.length === 0
      ? [Object.assign(document.createElement('p'), { className: 'slash-empty', textContent: this.options.empty })]
      : items.map((item, i) => {
        const shown = this.options.show(item)
        const b = document.createElement('button')
        b.type = 'button'
        b.setAttribute('role', 'option')
        b.setAttribute('aria-selected', String(i === this.selected))
        b.dataset.testid = `${this.options.testid}-${shown.id}`
        b.className = i === this.selected ? 'selected' : ''
        const label = Object.assign(document.createElement('strong'), { textContent: shown.label })
        const hint = Object.assign(document.createElement('span'), { textContent: shown.hint })
        b.append(label, hint)
        b.addEventListener('mousedown', e => { e.preventDefault(); this.props.command(item) })
        return b
      })))
    this.el.querySelector('.selected')?.scrollIntoView({ block: 'nearest' })
  }
}
