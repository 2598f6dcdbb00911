import { describe, expect, it } from 'vitest'
import { countWords } from './wordCount'

const bySplitting = (text: string): number => text.split(' ').filter(w => w !== '').length

describe('countWords', () => {
  it('counts as splitting on spaces does, on every shape of spacing', () => {
    const cases = ['', ' ', '   ', 'one', ' one', 'one ', '  one  two   three ', 'a b', 'tab\tis not a space', 'line\nbreak', 'émoji 🙂 here', 'x'.repeat(1000)]
    for (const text of cases) expect(countWords(text), JSON.stringify(text)).toBe(bySplitting(text))
  })

  it('agrees on random text of spaces, letters and other whitespace', () => {
    let seed = 7
    const random = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31 }
    const alphabet = '  ab\t\nc '
    for (let n = 0; n < 200; n++) {
      const text = Array.from({ length: Math.floor(random() * 60) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('')
      expect(countWords(text), JSON.stringify(text)).toBe(bySplitting(text))
    }
  })
})
