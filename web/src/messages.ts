// What a person reads when a request fails: the server's own explanation where it wrote one for
// people (a refused import, a closed sign-up), and plain words where it could only give a status
// or where the words are for machines ("too many requests: try again in 3 s").

/** The message to show for a failed request with `status` and the server's `error` text. */
export function forPeople (status: number, error: string | undefined, retryAfter: string | null = null): string {
  const wait = retryAfter !== null && /^\d+$/.test(retryAfter) ? Number(retryAfter) : null
  const soon = wait === null ? 'in a moment' : wait <= 1 ? 'in a second' : `in ${wait} seconds`
  if (status === 429) return `That was a lot at once. Try again ${soon}.`
  if (status === 503) return `The server is busy right now. Try again ${soon}; nothing was lost.`
  if (status >= 500) return 'Something went wrong on the server. Try again; if it keeps happening, tell your administrator.'
  if (status === 404) return 'That document or item no longer exists, or you have no access to it.'
  if (status === 413) return 'That is too large to send in one go.'
  if (error !== undefined && error !== '') return error.charAt(0).toUpperCase() + error.slice(1)
  return status === 403 ? 'You do not have permission to do that.' : `That did not work (error ${status}).`
}

/** For a request that never reached the server. */
export const OFFLINE = 'You are offline. Your changes are kept on this device; try this again once you are back online.'
