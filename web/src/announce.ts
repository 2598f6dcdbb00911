// What a screen reader hears without looking: who joins and leaves the document and whether the
// work is saved, through one polite live region. "Saved" is said when saving finishes after a
// pause or a problem, not after every keystroke.
import { useEffect, useRef, useState } from 'react'
import type { Status } from '@tandem/provider'

/** Saying "Saved" again within this many milliseconds would only be noise. */
const QUIET_MS = 15_000

export function useAnnouncer (peers: Array<{ clientId: number, name: string }>, status: Status): string {
  const [message, setMessage] = useState('')
  const seen = useRef<Map<number, string> | null>(null)
  const lastStatus = useRef<Status>(status)
  const lastSaved = useRef(0)
  // Offline, failing or reconnecting since the last "Saved": the next one is news.
  const trouble = useRef(false)
  const say = (m: string) => setMessage(prev => prev === m ? `${m} ` : m) // a repeat must still change

  useEffect(() => {
    const now = new Map(peers.map(p => [p.clientId, p.name]))
    const before = seen.current
    seen.current = now
    if (before === null) return // the people already here when the page opened
    const joined = [...now].filter(([id]) => !before.has(id)).map(([, n]) => n)
    const left = [...before].filter(([id]) => !now.has(id)).map(([, n]) => n)
    const parts = [...joined.map(n => `${n} joined`), ...left.map(n => `${n} left`)]
    if (parts.length > 0) say(parts.join('. '))
  }, [peers])

  useEffect(() => {
    const was = lastStatus.current
    lastStatus.current = status
    if (status === was) return
    if (status === 'offline' || status === 'error' || status === 'connecting') trouble.current = true
    if (status === 'offline') say('Offline. Your changes are kept on this device.')
    else if (status === 'error') say('Your changes are not saved.')
    else if (status === 'saved') {
      const news = trouble.current || Date.now() - lastSaved.current > QUIET_MS
      lastSaved.current = Date.now()
      trouble.current = false
      if (news) say('All changes saved.')
    }
  }, [status])
  return message
}
