// The bell: the unread count of one's notifications (mentions, replies to one's threads,
// documents shared with one), live over the server's event stream, and the list under it. Opening
// one marks it read and goes to its place; "Mark all read" clears the count.
import { useEffect, useRef, useState } from 'react'
import { Bell as BellIcon } from 'lucide-react'
import { listNotifications, markRead, watchUnread, type Notice } from './api'

const ago = (t: number): string => {
  const s = Math.max(0, (Date.now() - t) / 1000)
  if (s < 60) return 'just now'
  if (s < 3600) return `${Math.floor(s / 60)} min ago`
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`
  return new Date(t).toLocaleDateString()
}

export function Bell ({ navigate }: { navigate: (to: string) => void }) {
  const [unread, setUnread] = useState(0)
  const [open, setOpen] = useState(false)
  const [items, setItems] = useState<Notice[] | null>(null)
  const [error, setError] = useState<string | null>(null)
  const button = useRef<HTMLButtonElement>(null)
  const panel = useRef<HTMLDivElement>(null)

  useEffect(() => watchUnread(setUnread), [])
  // Open, the list follows the count (a new notification arrives while it is shown).
  useEffect(() => {
    if (!open) return
    listNotifications().then(p => { setItems(p.notifications); setError(null) }, (e: Error) => setError(e.message))
  }, [open, unread])
  useEffect(() => {
    if (!open) return
    const onKey = (e: KeyboardEvent) => { if (e.key === 'Escape') { setOpen(false); button.current?.focus() } }
    const onDown = (e: MouseEvent) => {
      const t = e.target as Node
      if (panel.current?.contains(t) !== true && button.current?.contains(t) !== true) setOpen(false)
    }
    document.addEventListener('keydown', onKey)
    document.addEventListener('mousedown', onDown)
    panel.current?.querySelector<HTMLElement>('button')?.focus()
    return () => { document.removeEventListener('keydown', onKey); document.removeEventListener('mousedown', onDown) }
  }, [open])

  const go = (n: Notice) => {
    setOpen(false)
    if (!n.read) markRead(n.id).then(setUnread, () => {})
    navigate(n.link)
  }
  const label = unread > 0 ? `Notifications, ${unread} unread` : 'Notifications'

  return (
    <span className='bell'>
      <button ref={button} type='button' className='icon' aria-label={label} aria-expanded={open} aria-haspopup='dialog' data-testid='bell' onClick={() => setOpen(o => !o)}>
        <BellIcon size={18} aria-hidden />
        {unread > 0 && <span className='bell-count' data-testid='unread-count' aria-hidden>{unread > 99 ? '99+' : unread}</span>}
      </button>
      {open && (
        <div ref={panel} className='notifications' role='dialog' aria-label='Notifications' data-testid='notifications'>
          <header>
            <h2>Notifications</h2>
            <button type='button' data-testid='mark-all-read' disabled={unread === 0} onClick={() => { markRead().then(n => { setUnread(n); setItems(list => list?.map(i => ({ ...i, read: true })) ?? null) }, () => {}) }}>Mark all read</button>
          </header>
          {error !== null && <p className='error' role='alert'>{error}</p>}
          {items === null && error === null && <p className='muted'>Loading…</p>}
          {items !== null && items.length === 0 && <p className='muted'>Nothing yet. Mentions of you, replies to your comments and documents shared with you show up here.</p>}
          {items !== null && items.length > 0 && (
            <ul>
              {items.map(n => (
                <li key={n.id} className={n.read ? 'read' : 'unread'}>
                  <button type='button' data-testid='notification' onClick={() => go(n)}>
                    {!n.read && <span className='dot' aria-label='Unread' />}
                    <span className='text'>{n.text}</span>
                    {n.detail !== '' && <span className='detail'>“{n.detail}”</span>}
                    <span className='when'>{ago(n.created_at)}</span>
                  </button>
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
    </span>
  )
}
