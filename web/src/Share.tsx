import { useEffect, useRef, useState } from 'react'
import {
  cancelInvitation, createLink, dismissRequest, listShares, revokeLink, setEditorsCanShare, shareWith, unshare,
  type AccessRequest, type Invitation, type Role, type Share, type ShareLink
} from './api'

const ROLES: Role[] = ['viewer', 'commenter', 'editor', 'owner']

/** What each role may do, as people say it. */
export const ROLE_LABEL: Record<Role, string> = {
  viewer: 'Can view',
  commenter: 'Can comment',
  editor: 'Can edit',
  owner: 'Owner'
}

/** Link lifetimes offered, in hours (`null`: until revoked). */
const EXPIRY: Array<[string, number | null]> = [['1 day', 24], ['7 days', 168], ['30 days', 720], ['Never', null]]

/**
 * The owner's sharing dialog, over the document: people with access (role changed in place,
 * removable, including those who joined through a link), people who asked for access, and share
 * links (role, labelled expiry, copy, revoke). Focus stays inside; Escape closes it. Owners choose
 * whether editors may share; an editor who may shares up to editor and changes nobody's access.
 */
export function ShareDialog ({ docId, myRole, editorsCanShare, onEditorsCanShare, onClose }: {
  docId: string
  myRole: Role
  editorsCanShare: boolean
  onEditorsCanShare: (yes: boolean) => void
  onClose: () => void
}) {
  const owner = myRole === 'owner'
  const [shares, setShares] = useState<Share[]>([])
  const [links, setLinks] = useState<ShareLink[]>([])
  const [requests, setRequests] = useState<AccessRequest[]>([])
  const [invitations, setInvitations] = useState<Invitation[]>([])
  // Set when the last email added had no account: it was invited, and needs the sign-up page.
  const [invited, setInvited] = useState<string | null>(null)
  const [email, setEmail] = useState('')
  const [role, setRole] = useState<Role>('editor')
  const [linkRole, setLinkRole] = useState<Role>('viewer')
  // Anyone with the link can view, with no account (viewing links only).
  const [linkPublic, setLinkPublic] = useState(false)
  const [expiry, setExpiry] = useState(1) // index into EXPIRY: 7 days
  const [newLink, setNewLink] = useState<string | null>(null)
  const [copied, setCopied] = useState(false)
  const [error, setError] = useState<string | null>(null)
  const dialog = useRef<HTMLDivElement>(null)
  const reload = () => {
    listShares(docId).then(r => {
      setShares(r.shares); setLinks(r.links); setRequests(r.requests); setInvitations(r.invitations)
    }, (e: Error) => setError(e.message))
  }
  useEffect(reload, [docId])
  useFocusTrap(dialog, onClose)
  const run = (f: () => Promise<unknown>) => { setError(null); f().then(reload, (e: Error) => setError(e.message)) }
  const copy = (text: string) => {
    navigator.clipboard.writeText(text).then(() => setCopied(true), () => setCopied(false))
  }

  return (
    <div className='backdrop' onMouseDown={e => { if (e.target === e.currentTarget) onClose() }}>
      <div className='dialog' role='dialog' aria-modal='true' aria-labelledby='share-title' data-testid='share-dialog' ref={dialog}>
        <header><h2 id='share-title'>Share</h2><button onClick={onClose}>Close</button></header>
        {error !== null && <p className='error' role='alert'>{error}</p>}
        <form onSubmit={e => {
          e.preventDefault()
          run(async () => {
            const r = await shareWith(docId, email, role)
            setInvited('user' in r ? null : r.email)
            setEmail('')
          })
        }}
        >
          <input aria-label='Email' type='email' placeholder='name@example.org' required value={email} onChange={e => setEmail(e.target.value)} />
          <RoleSelect label='Role' value={role} onChange={setRole} withOwner={owner} />
          <button type='submit'>Add</button>
        </form>
        {invited !== null && (
          <p className='note' role='status' data-testid='invited'>
            {invited} has no account yet: they are invited, and get access when they sign up with
            this email. Send them the sign-up page:{' '}
            <input aria-label='Sign-up page' readOnly value={`${location.origin}/`} onFocus={e => e.target.select()} />
            <button onClick={() => copy(`${location.origin}/`)}>{copied ? 'Copied' : 'Copy'}</button>
          </p>
        )}
        {owner && (
          <label className='setting'>
            <input
              type='checkbox' data-testid='editors-can-share' checked={editorsCanShare}
              onChange={e => {
                // Shown at once; put back if the server refuses.
                const yes = e.target.checked
                onEditorsCanShare(yes)
                setEditorsCanShare(docId, yes).catch((err: Error) => { onEditorsCanShare(!yes); setError(err.message) })
              }}
            /> Editors can share (up to editor)
          </label>
        )}
        {owner && requests.length > 0 && (
          <>
            <h3>Asked for access</h3>
            <ul data-testid='requests'>
              {requests.map(r => (
                <li key={r.user.id}>
                  <span>{r.user.name}</span> <small>{r.user.email}</small>
                  <button onClick={() => run(async () => await shareWith(docId, r.user.email, 'viewer'))}>Let view</button>
                  <button onClick={() => run(async () => await shareWith(docId, r.user.email, 'editor'))}>Let edit</button>
                  <button className='danger' onClick={() => run(async () => await dismissRequest(docId, r.user.id))}>Dismiss</button>
                </li>
              ))}
            </ul>
          </>
        )}
        <h3>People with access</h3>
        <ul data-testid='shares'>
          {shares.map(s => (
            <li key={s.user.id}>
              <span>{s.user.name}</span> <small>{isGuest(s.user) ? 'guest, no account' : s.user.email}</small>
              {s.via_link !== undefined && <small> · via link</small>}
              {s.role === 'owner' || !owner
                ? <em>{ROLE_LABEL[s.role]}</em>
                : (
                  <>
                    {isGuest(s.user)
                      ? <em>{ROLE_LABEL[s.role]}</em>
                      : <RoleSelect label={`Role of ${s.user.name}`} value={s.role} onChange={r => run(async () => await shareWith(docId, s.user.email, r))} />}
                    <button className='danger' onClick={() => run(async () => await unshare(docId, s.user.id))}>Remove</button>
                  </>
                  )}
            </li>
          ))}
        </ul>
        {owner && invitations.length > 0 && (
          <>
            <h3>Invited, no account yet</h3>
            <ul data-testid='invitations'>
              {invitations.map(i => (
                <li key={i.email}>
                  <span>{i.email}</span> <em>{ROLE_LABEL[i.role]}</em> <small>pending</small>
                  <button className='danger' onClick={() => run(async () => await cancelInvitation(docId, i.email))}>Withdraw</button>
                </li>
              ))}
            </ul>
          </>
        )}
        <h3>Links</h3>
        <form onSubmit={e => {
          e.preventDefault()
          run(async () => {
            const r = await createLink(docId, linkRole, EXPIRY[expiry][1], linkPublic && linkRole === 'viewer')
            setNewLink(`${location.origin}${r.path}`)
            setCopied(false)
          })
        }}
        >
          <RoleSelect label='Link role' value={linkRole} onChange={setLinkRole} withOwner={false} />
          <select aria-label='Link expires' value={expiry} onChange={e => setExpiry(Number(e.target.value))}>
            {EXPIRY.map(([label], i) => <option key={label} value={i}>{i === EXPIRY.length - 1 ? 'Never expires' : `Expires in ${label}`}</option>)}
          </select>
          {linkRole === 'viewer' && (
            <label className='check'>
              <input type='checkbox' data-testid='link-public' checked={linkPublic} onChange={e => setLinkPublic(e.target.checked)} />
              Anyone with the link, no account needed
            </label>
          )}
          <button type='submit'>Create link</button>
        </form>
        {newLink !== null && (
          <p className='new-link'>
            Shown once: <input aria-label='New link' readOnly value={newLink} data-testid='new-link' onFocus={e => e.target.select()} />
            <button data-testid='copy-link' onClick={() => copy(newLink)}>{copied ? 'Copied' : 'Copy'}</button>
          </p>
        )}
        <ul data-testid='links'>
          {links.map(l => (
            <li key={l.id}>
              <em>{ROLE_LABEL[l.role]}</em>{l.public && <span className='badge' data-testid='public-badge'>Anyone with the link</span>} <small>{l.revoked ? 'revoked' : l.expires_at !== null ? `expires ${new Date(l.expires_at).toLocaleString()}` : 'no expiry'}</small>
              {owner && !l.revoked && <button className='danger' onClick={() => run(async () => await revokeLink(docId, l.id))}>Revoke</button>}
            </li>
          ))}
        </ul>
      </div>
    </div>
  )
}

/** Someone who opened a public link without an account: they can only view, and have no email. */
const isGuest = (u: { email: string }): boolean => u.email.endsWith('@guest.invalid')

function RoleSelect ({ label, value, onChange, withOwner = true }: { label: string, value: Role, onChange: (r: Role) => void, withOwner?: boolean }) {
  return (
    <select aria-label={label} value={value} onChange={e => onChange(e.target.value as Role)}>
      {ROLES.filter(r => withOwner || r !== 'owner').map(r => <option key={r} value={r}>{ROLE_LABEL[r]}</option>)}
    </select>
  )
}

/** Keeps Tab inside `ref`, focuses its first field on open, and closes on Escape. */
export function useFocusTrap (ref: React.RefObject<HTMLElement | null>, onClose: () => void): void {
  useEffect(() => {
    const el = ref.current
    if (el === null) return
    const before = document.activeElement as HTMLElement | null
    const focusable = () => Array.from(el.querySelectorAll<HTMLElement>('input, select, textarea, button, a[href]'))
      .filter(f => !f.hasAttribute('disabled'))
    ;(focusable().find(f => f.tagName === 'INPUT') ?? focusable()[0])?.focus()
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') { e.preventDefault(); onClose(); return }
      if (e.key !== 'Tab') return
      const all = focusable()
      if (all.length === 0) return
      const i = all.indexOf(document.activeElement as HTMLElement)
      const next = e.shiftKey ? (i <= 0 ? all.length - 1 : i - 1) : (i === all.length - 1 ? 0 : i + 1)
      e.preventDefault()
      all[next].focus()
    }
    // On the document: focus can fall out of the dialog (a button that removed itself).
    document.addEventListener('keydown', onKey)
    return () => { document.removeEventListener('keydown', onKey); before?.focus() }
  }, [ref, onClose])
}
