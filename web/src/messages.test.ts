import { describe, expect, it } from 'vitest'
import { forPeople } from './messages'

describe('messages for people', () => {
  it('says what to do instead of a status', () => {
    expect(forPeople(429, 'too many requests: try again in 3 s', '3')).toBe('That was a lot at once. Try again in 3 seconds.')
    expect(forPeople(503, 'too many sign-ins at once', '2')).toMatch(/^The server is busy right now\. Try again in 2 seconds/)
    expect(forPeople(500, 'store error')).not.toMatch(/store error/)
    expect(forPeople(404, 'document not found')).toMatch(/no longer exists, or you have no access/)
  })
  it("keeps the server's own explanation, as a sentence", () => {
    expect(forPeople(400, 'this file is not text: Tandem imports Markdown (.md)')).toBe('This file is not text: Tandem imports Markdown (.md)')
    expect(forPeople(403, undefined)).toBe('You do not have permission to do that.')
  })
})
