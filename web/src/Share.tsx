import { useEffect, useState } from 'react'
import { createLink, listShares, revokeLink, shareWith, unshare, type Role, type Share, type ShareLink } from './api'

const ROLES: Role[] = ['viewer', 'commenter', 'editor', 'owner']

/** The owner's sharing panel: people (by account email) and links (role, expiry, revocable). */
export function ShareDialog ({ docId, onClose }: { docId: string, onClose: () => void }) {
  const [shares, setShares] = useState<Share[]>([])
  const [links, setLinks] = useState<ShareLink[]>([])
  const [email, setEmail] = useState('')
  const [role, setRole] = useState<Role>('editor')
  const [linkRole, setLinkRole] = useState<Role>('viewer')
  const [hours, setHours] = useState('')
  const [newLink, setNewLink] = useState<string | null>(null)
  const [error, setError] = useState<string | null>(null)
  const reload = () => { listShares(docId).then(r => { setShares(r.shares); setLinks(r.links) }, (e: Error) => setError(e.message)) }
  useEffect(reload, [docId])
  const run = (f: () => Promise<unknown>) => { setError(null); f().then(reload, (e: Error) => setError(e.message)) }

  return (
    <div className='dialog' role='dialog' aria-label='Share' data-testid='share-dialog'>
      <header><h2>Share</h2><button onClick={onClose}>Close</button></header>
      {error !== null && <p className='error' role='alert'>{error}</p>}
      <form onSubmit={e => { e.preventDefault(); run(async () => { await shareWith(docId, email, role); setEmail('') }) }}>
        <input aria-label='Email' type='email' placeholder='name@example.org' required value={email} onChange={e => setEmail(e.target.value)} />
        <select aria-label='Role' value={role} onChange={e => setRole(e.target.value as Role)}>
          {ROLES.map(r => <option key={r}>{r}</option>)}
        </select>
        <button type='submit'>Add</button>
      </form>
      <ul data-testid='shares'>
        {shares.map(s => (
          <li key={s.user.id}>
            <span>{s.user.name}</span> <small>{s.user.email}</small> <em>{s.role}</em>{s.via_link !== undefined && <small> · via link</small>}
            {s.role !== 'owner' && <button className='danger' onClick={() => run(async () => await unshare(docId, s.user.id))}>Remove</button>}
          </li>
        ))}
      </ul>
      <h3>Links</h3>
      <form onSubmit={e => {
        e.preventDefault()
        run(async () => {
          const r = await createLink(docId, linkRole, hours === '' ? null : Number(hours))
          setNewLink(`${location.origin}${r.path}`)
        })
      }}
      >
        <select aria-label='Link role' value={linkRole} onChange={e => setLinkRole(e.target.value as Role)}>
          {ROLES.filter(r => r !== 'owner').map(r => <option key={r}>{r}</option>)}
        </select>
        <input aria-label='Expires in hours' type='number' min='0.01' step='any' placeholder='never expires' value={hours} onChange={e => setHours(e.target.value)} />
        <button type='submit'>Create link</button>
      </form>
      {newLink !== null && <p className='new-link'>Copy this link now; it is shown once: <input readOnly value={newLink} data-testid='new-link' onFocus={e => e.target.select()} /></p>}
      <ul data-testid='links'>
        {links.map(l => (
          <li key={l.id}>
            <em>{l.role}</em> <small>{l.revoked ? 'revoked' : l.expires_at !== null ? `expires ${new Date(l.expires_at).toLocaleString()}` : 'no expiry'}</small>
            {!l.revoked && <button className='danger' onClick={() => run(async () => await revokeLink(docId, l.id))}>Revoke</button>}
          </li>
        ))}
      </ul>
    </div>
  )
}
