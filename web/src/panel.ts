// Side panels (history, comments) for keyboard users: opening one moves the focus into it,
// Escape inside it closes it, and closing it gives the focus back to where it was (the button
// that opened it). Unlike a dialog, the rest of the page stays reachable.
import { useEffect, type RefObject } from 'react'

export function usePanelFocus (ref: RefObject<HTMLElement | null>, onClose: () => void): void {
  useEffect(() => {
    const before = document.activeElement as HTMLElement | null
    const panel = ref.current
    // Where the user came from was the page's own control: the panel takes over from there.
    if (panel !== null && !(panel.contains(document.activeElement))) {
      panel.querySelector<HTMLElement>('textarea, button')?.focus()
    }
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape' && panel?.contains(document.activeElement) === true) { e.preventDefault(); onClose() }
    }
    document.addEventListener('keydown', onKey)
    return () => {
      document.removeEventListener('keydown', onKey)
      if (before !== null && document.contains(before) && before !== document.body) before.focus()
    }
  }, [ref])
}
