// A document's comment threads, shared by the editor (its margin markers, the count on the
// Comments button, the live notice) and the Comments panel. Refetched whenever the server says
// they changed (the provider's `comments` notice, and after every reconnect).
import { useCallback, useEffect, useRef, useState } from 'react'
import { listComments, type CommentInfo, type Thread } from './api'
import { currentUser } from './auth'
import type { TandemProvider } from '@tandem/provider'

export interface Notice { id: string, who: string, body: string }

export function useThreads (docId: string, provider: TandemProvider): {
  threads: Thread[]
  reload: () => void
  notice: Notice | null
} {
  const [threads, setThreads] = useState<Thread[]>([])
  const [notice, setNotice] = useState<Notice | null>(null)
  // Comment ids seen so far; `null` until the first load (nothing is news then).
  const seen = useRef<Set<string> | null>(null)
  const reload = useCallback(() => {
    listComments(docId).then(next => {
      const all = next.flatMap(t => t.comments)
      const before = seen.current
      seen.current = new Set(all.map(c => c.id))
      setThreads(next)
      if (before === null) return
      const me = currentUser()?.id
      const fresh = all.filter((c: CommentInfo) => !before.has(c.id) && c.author !== null && c.author.id !== me)
      const last = fresh[fresh.length - 1]
      if (last !== undefined) setNotice({ id: last.id, who: last.author?.name ?? 'Someone', body: last.body })
    }, () => { /* offline: keep what is shown */ })
  }, [docId])
  useEffect(() => {
    reload()
    return provider.onComments(reload)
  }, [reload, provider])
  useEffect(() => {
    if (notice === null) return
    const t = setTimeout(() => setNotice(null), 6000)
    return () => clearTimeout(t)
  }, [notice])
  return { threads, reload, notice }
}
