// Words and characters in the document, under it (Tiptap's CharacterCount), as in other editors.
import type { Editor } from '@tiptap/react'
import { useDerived } from './derived'

export function Counts ({ editor }: { editor: Editor }) {
  const counts = useDerived(editor, e => ({
    words: e.storage.characterCount.words() as number,
    characters: e.storage.characterCount.characters() as number
  }), { words: 0, characters: 0 })
  const plural = (n: number, one: string) => `${n.toLocaleString()} ${one}${n === 1 ? '' : 's'}`
  return (
    <p className='counts' data-testid='counts'>
      {plural(counts.words, 'word')} · {plural(counts.characters, 'character')}
    </p>
  )
}
