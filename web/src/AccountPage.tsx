import { useEffect, useState } from 'react'
import { ArrowLeft } from 'lucide-react'
import { currentUser } from './auth'
import { AccountBadge } from './Account'
import {
  createToken, emailSettings, listTokens, revokeToken, setEmailFor,
  type ApiToken, type Scope
} from './api'

const SCOPES: Array<[Scope, string]> = [['read', 'Read'], ['write', 'Write'], ['admin', 'Administer']]
const EXPIRY: Array<[string, number | undefined]> = [['Never expires', undefined], ['30 days', 30], ['90 days', 90], ['1 year', 365]]
const KINDS: Array<[string, string]> = [
  ['mention', 'When someone mentions me'],
  ['reply', 'When someone replies to my comment'],
  ['share', 'When a document is shared with me'],
  ['webhook', 'When one of my webhooks is turned off']
]

const day = (ms: number | null | undefined): string => ms === null || ms === undefined ? '—' : new Date(ms).toLocaleDateString()

/**
 * The account page (`/account`): who you are, which notifications reach you by email, and your
 * API tokens for integrations: made with a name, scopes and an expiry, the secret shown once,
 * listed with when each was last used, revoked after asking. Administrators also make and revoke
 * service accounts' tokens (an integration's own account, which owners share documents with).
 */
export function AccountPage ({ navigate }: { navigate: (to: string) => void }) {
  const me = currentUser()
  const [tokens, setTokens] = useState<ApiToken[] | null>(null)
  const [service, setService] = useState<ApiToken[]>([])
  const [muted, setMuted] = useState<string[]>([])
  const [name, setName] = useState('')
  const [serviceName, setServiceName] = useState('')
  const [scopes, setScopes] = useState<Scope[]>(['read'])
  const [expiry, setExpiry] = useState(0)
  const [secret, setSecret] = useState<string | null>(null)
  const [copied, setCopied] = useState(false)
  const [confirming, setConfirming] = useState<string | null>(null)
  const [error, setError] = useState<string | null>(null)
  const reload = () => {
    listTokens().then(r => { setTokens(r.tokens); setService(r.service) }, (e: Error) => setError(e.message))
  }
  useEffect(() => {
    reload()
    emailSettings().then(s => setMuted(s.muted), () => {})
  }, [])
  const run = (f: () => Promise<unknown>) => { setError(null); f().then(reload, (e: Error) => setError(e.message)) }
  if (me === null) return null
  const admin = me.is_admin

  const tokenRows = (list: ApiToken[], testid: string, owner: boolean) => (
    <table className='tokens' data-testid={testid}>
      <thead><tr>{owner && <th>Account</th>}<th>Name</th><th>Scopes</th><th>Created</th><th>Last used</th><th>Expires</th><th><span className='sr-only'>Actions</span></th></tr></thead>
      <tbody>
        {list.map(t => (
          <tr key={t.id} data-testid='token'>
            {owner && <td data-label='Account'>{t.user_name}</td>}
            <td data-label='Name'>{t.name}</td>
            <td data-label='Scopes'>{t.scopes.join(', ')}</td>
            <td data-label='Created'>{day(t.created_at)}</td>
            <td data-label='Last used'>{t.last_used_at === null ? 'Never' : day(t.last_used_at)}</td>
            <td data-label='Expires'>{t.expires_at === null ? 'Never' : day(t.expires_at)}</td>
            <td>
              {confirming === t.id
                ? (
                  <span className='confirm'>
                    <button type='button' className='danger' data-testid='revoke-confirm' onClick={() => { setConfirming(null); run(async () => await revokeToken(t.id)) }}>Revoke now</button>
                    <button type='button' onClick={() => setConfirming(null)}>Keep</button>
                  </span>
                  )
                : <button type='button' className='danger' onClick={() => setConfirming(t.id)}>Revoke</button>}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  )

  return (
    <main className='account-page'>
      <header>
        <button type='button' className='link' onClick={() => navigate('/')}><ArrowLeft size={16} aria-hidden /> Documents</button>
        <h1>Account</h1>
        <AccountBadge navigate={navigate} />
      </header>
      {error !== null && <p className='error' role='alert'>{error}</p>}
      <section aria-labelledby='profile'>
        <h2 id='profile'>Profile</h2>
        <p><strong>{me.name}</strong> · {me.email}{admin && <span className='badge'>Administrator</span>}</p>
      </section>
      <section aria-labelledby='email-prefs'>
        <h2 id='email-prefs'>Email</h2>
        {KINDS.map(([kind, label]) => (
          <label key={kind} className='check setting'>
            <input
              type='checkbox' checked={!muted.includes(kind)} data-testid={`email-${kind}`}
              onChange={e => {
                // Shown at once; the server's answer (or the old state, if it refuses) wins.
                const on = e.target.checked
                const before = muted
                setMuted(on ? muted.filter(k => k !== kind) : [...muted, kind])
                setEmailFor(kind, on).then(s => setMuted(s.muted), (err: Error) => { setMuted(before); setError(err.message) })
              }}
            /> {label}
          </label>
        ))}
      </section>
      <section aria-labelledby='api-tokens'>
        <h2 id='api-tokens'>API tokens</h2>
        <p className='muted'>
          For scripts and integrations: send one as <code>Authorization: Bearer …</code> to the
          HTTP API, or as <code>?token=…</code> to a document's socket. A token acts as you,
          within its scopes: Read (a socket is read-only), Write{admin ? ', Administer' : ''}.
          {admin && ' A service account is an integration’s own account: share documents with it by its address.'}
        </p>
        <form onSubmit={e => {
          e.preventDefault()
          run(async () => {
            const t = await createToken({ name, scopes, expires_in_days: EXPIRY[expiry][1], ...(serviceName.trim() !== '' ? { service: serviceName.trim() } : {}) })
            setSecret(t.token)
            setCopied(false)
            setName('')
          })
        }}
        >
          <input aria-label='Token name' placeholder='What it is for, e.g. “Backup script”' required maxLength={80} value={name} onChange={e => setName(e.target.value)} data-testid='token-name' />
          <fieldset className='scopes'>
            <legend className='sr-only'>Scopes</legend>
            {SCOPES.filter(([s]) => admin || s !== 'admin').map(([s, label]) => (
              <label key={s} className='check'>
                <input type='checkbox' checked={scopes.includes(s)} data-testid={`scope-${s}`} onChange={e => setScopes(e.target.checked ? [...scopes, s] : scopes.filter(x => x !== s))} /> {label}
              </label>
            ))}
          </fieldset>
          <select aria-label='Expires' value={expiry} onChange={e => setExpiry(Number(e.target.value))}>
            {EXPIRY.map(([label], i) => <option key={label} value={i}>{i === 0 ? label : `Expires in ${label}`}</option>)}
          </select>
          {admin && <input aria-label='Service account (optional)' placeholder='For a service account (optional)' value={serviceName} onChange={e => setServiceName(e.target.value)} data-testid='token-service' />}
          <button type='submit' className='primary' disabled={scopes.length === 0}>Create token</button>
        </form>
        {secret !== null && (
          <p className='new-link' role='status'>
            Copy it now, it is shown once: <input aria-label='New token' readOnly value={secret} data-testid='new-token' onFocus={e => e.target.select()} />
            <button type='button' onClick={() => { navigator.clipboard.writeText(secret).then(() => setCopied(true), () => setCopied(false)) }}>{copied ? 'Copied' : 'Copy'}</button>
          </p>
        )}
        {tokens !== null && tokens.length === 0 && <p className='muted' data-testid='no-tokens'>No tokens yet.</p>}
        {tokens !== null && tokens.length > 0 && tokenRows(tokens, 'tokens', false)}
        {admin && service.length > 0 && (
          <>
            <h3>Service accounts’ tokens</h3>
            {tokenRows(service, 'service-tokens', true)}
          </>
        )}
      </section>
    </main>
  )
}
