// A long document is laid out a slice at a time once it arrives, not all at once: the blocks
// past the first screens skip layout (`content-visibility: auto`, which still lays out any of
// them scrolled into view, found or focused) until idle moments release them, a slice each, in
// order. Opening 1 MB of text then lays out what is on screen before the page is shown, and the
// rest in pieces short enough not to hold up a keystroke. A key pressed or a pointer put down
// before the last slice releases everything at once: Chromium moves the caret wrongly into a
// block whose layout it skipped (Ctrl+End into the last paragraph put the caret at its start,
// and the typing after it out of order, in the end-to-end suite). Nor is the containment kept
// for good: it made typing flaky the same way, and it makes a block the containing block of
// the comment markers positioned in the margin (BENCHMARKS.md).
import type { Editor } from '@tiptap/react'

/** Top-level blocks always laid out at once: more than any screen shows. */
const FIRST_BLOCKS = 60
/** Blocks released per idle moment (about 1 kB of text each in the benchmark: ~15 ms). */
const SLICE_BLOCKS = 120

/** The rule that keeps top-level blocks from the `from`-th (1-based) on out of layout. */
const skipRule = (from: number): string =>
  `.ProseMirror.prose > :nth-child(n+${from}) { content-visibility: auto; contain-intrinsic-size: auto 4em; }`

/** From now until `editor`'s document first grows past FIRST_BLOCKS, and then until every
 * block is released; returns the function that stops (and lays out the rest at once). */
export function layOutInSlices (editor: Editor): () => void {
  if (!('requestIdleCallback' in window)) return () => {}
  const style = document.createElement('style')
  style.textContent = skipRule(FIRST_BLOCKS + 1)
  document.head.append(style)
  let from = FIRST_BLOCKS + 1
  let idle: number | undefined
  const stop = () => {
    removeEventListener('keydown', stop, true)
    removeEventListener('pointerdown', stop, true)
    editor.off('update', onUpdate)
    if (idle !== undefined) cancelIdleCallback(idle)
    idle = undefined
    style.remove()
  }
  const release = () => {
    idle = undefined
    if (editor.isDestroyed) return stop()
    from += SLICE_BLOCKS
    if (from > editor.state.doc.childCount) return stop()
    style.textContent = skipRule(from)
    idle = requestIdleCallback(release, { timeout: 250 })
  }
  // The first slice waits for a frame with the document on screen.
  const onUpdate = () => {
    if (idle !== undefined || editor.state.doc.childCount <= FIRST_BLOCKS) return
    editor.off('update', onUpdate)
    idle = requestIdleCallback(release, { timeout: 250 })
  }
  editor.on('update', onUpdate)
  addEventListener('keydown', stop, true)
  addEventListener('pointerdown', stop, true)
  onUpdate()
  return stop
}
