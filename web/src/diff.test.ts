import { describe, it, expect } from 'vitest'
import { wordDiff } from './diff'

describe('wordDiff', () => {
  it('marks what was deleted and added since a version', () => {
    expect(wordDiff('the quick fox', 'the slow fox jumps')).toEqual([
      { kind: 'same', text: 'the ' },
      { kind: 'deleted', text: 'quick' },
      { kind: 'added', text: 'slow' },
      { kind: 'same', text: ' fox' },
      { kind: 'added', text: ' jumps' }
    ])
    expect(wordDiff('same', 'same')).toEqual([{ kind: 'same', text: 'same' }])
    expect(wordDiff('', 'new')).toEqual([{ kind: 'added', text: 'new' }])
  })
})
