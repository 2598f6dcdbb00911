import { describe, it, expect } from 'vitest'
import { firstHit, snippetParts } from './snippet'

describe('snippetParts', () => {
  it('turns the server snippet into text parts, never markup', () => {
    expect(snippetParts('a &lt;img src=x&gt; <mark>zebra</mark> &amp; &quot;co&#39;s&quot;')).toEqual([
      { text: 'a <img src=x> ', hit: false },
      { text: 'zebra', hit: true },
      { text: ' & "co\'s"', hit: false }
    ])
    expect(snippetParts('')).toEqual([])
    expect(firstHit('x <mark>Quokka</mark> <mark>y</mark>')).toBe('Quokka')
    expect(firstHit('nothing')).toBeUndefined()
  })
})
