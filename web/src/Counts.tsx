// Words and characters in the document, under it (Tiptap's CharacterCount), as in other editors.
import type { Editor } from '@tiptap/react'
import { useDerived } from './derived'

// One formatter for every render: `toLocaleString` builds a new one on each call (about 30 times
// the cost of reusing one, measured in Node).
const number = new Intl.NumberFormat()

export function Counts ({ editor }: { editor: Editor }) {
  const counts = useDerived(editor, e => ({
    words: e.storage.characterCount.words() as number,
    characters: e.storage.characterCount.characters() as number
  }), { words: 0, characters: 0 })
  const plural = (n: number, one: string) => `${number.format(n)} ${one}${n === 1 ? '' : 's'}`
  return (
    <p className='counts' data-testid='counts'>
      {plural(counts.words, 'word')} · {plural(counts.characters, 'character')}
    </p>
  )
}
