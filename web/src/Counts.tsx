// Words and characters in the document, under it (Tiptap's CharacterCount), as in other editors.
import { useEffect, useState } from 'react'
import type { Editor } from '@tiptap/react'

export function Counts ({ editor }: { editor: Editor }) {
  const read = () => ({
    words: editor.storage.characterCount.words() as number,
    characters: editor.storage.characterCount.characters() as number
  })
  const [counts, setCounts] = useState(read)
  useEffect(() => {
    const update = () => setCounts(read())
    editor.on('update', update)
    update()
    return () => { editor.off('update', update) }
  }, [editor])
  const plural = (n: number, one: string) => `${n.toLocaleString()} ${one}${n === 1 ? '' : 's'}`
  return (
    <p className='counts' data-testid='counts'>
      {plural(counts.words, 'word')} · {plural(counts.characters, 'character')}
    </p>
  )
}
