import { useEffect, useState } from 'react'
import { joinAsGuest, login, signup } from './auth'
import { previewLink, type LinkPreview } from './api'
import { ROLE_LABEL } from './Share'

/** On a share link's page (`/s/{token}`), what it opens, so a signed-out person knows before
 * signing in who shared what with them. */
function LinkIntro ({ onDone }: { onDone: () => void }) {
  const token = location.pathname.match(/^\/s\/([^/]+)$/)?.[1]
  const [preview, setPreview] = useState<LinkPreview | string | null>(null)
  useEffect(() => {
    if (token !== undefined) previewLink(decodeURIComponent(token)).then(setPreview, (e: Error) => setPreview(e.message))
  }, [token])
  if (token === undefined || preview === null) return null
  if (typeof preview === 'string') return <p className='error' role='alert'>{preview}</p>
  const title = preview.title === '' ? 'Untitled document' : preview.title
  if (preview.public) {
    return (
      <div className='note link-guest' data-testid='link-preview'>
        <p><strong>{preview.shared_by}</strong> shared <strong>{title}</strong> with anyone who has this link, to view.</p>
        <button
          type='button' className='primary' data-testid='view-as-guest'
          onClick={() => { joinAsGuest(decodeURIComponent(token)).then(onDone, (e: Error) => setPreview(e.message)) }}
        >View as a guest
        </button>
        <p className='hint'>Or sign in below to open it with your account.</p>
      </div>
    )
  }
  return (
    <p className='note' data-testid='link-preview'>
      <strong>{preview.shared_by}</strong> shared <strong>{title}</strong> with
      you ({ROLE_LABEL[preview.role].toLowerCase()}). Sign in or create an account to open it.
    </p>
  )
}

/** Why single sign-on sent the browser back (`?sso_error=`), taken off the address. */
function ssoError (): string | null {
  const params = new URLSearchParams(location.search)
  const why = params.get('sso_error')
  if (why === null) return null
  params.delete('sso_error')
  const rest = params.toString()
  history.replaceState(null, '', location.pathname + (rest === '' ? '' : `?${rest}`) + location.hash)
  return `Single sign-on did not work: ${why}`
}

/** Sign in, or create an account (the first account on a new server is its administrator);
 * with single sign-on configured, a button for it (and, if passwords are off, only that). */
export function SignIn ({ allowSignup, sso = false, passwordLogin = true, onDone }: { allowSignup: boolean, sso?: boolean, passwordLogin?: boolean, onDone: () => void }) {
  const [mode, setMode] = useState<'login' | 'signup'>('login')
  const [email, setEmail] = useState('')
  const [name, setName] = useState('')
  const [password, setPassword] = useState('')
  const [error, setError] = useState<string | null>(ssoError)
  const [busy, setBusy] = useState(false)
  const submit = async (e: React.FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    try {
      if (mode === 'login') await login(email, password)
      else await signup(email, name, password)
      onDone()
    } catch (err) {
      setError((err as Error).message)
    } finally {
      setBusy(false)
    }
  }
  return (
    <main className='signin'>
      <h1>Tandem</h1>
      <LinkIntro onDone={onDone} />
      {sso && (
        <div className='sso'>
          <a
            className='button primary' data-testid='sso'
            href={`/api/auth/oidc/start?next=${encodeURIComponent(location.pathname + location.search)}`}
          >Sign in with single sign-on
          </a>
          {!passwordLogin && error !== null && <p className='error' role='alert'>{error}</p>}
          {passwordLogin && <p className='or'>or with a password</p>}
        </div>
      )}
      {passwordLogin && (
      <form onSubmit={e => { void submit(e) }} data-testid='signin-form'>
        <h2>{mode === 'login' ? 'Sign in' : 'Create an account'}</h2>
        <label>Email <input name='email' type='email' autoComplete='email' required value={email} onChange={e => setEmail(e.target.value)} /></label>
        {mode === 'signup' && (
          <label>Name <input name='name' autoComplete='name' maxLength={100} value={name} onChange={e => setName(e.target.value)} /></label>
        )}
        <label>Password <input
          name='password' type='password' required minLength={mode === 'signup' ? 10 : 1}
          autoComplete={mode === 'login' ? 'current-password' : 'new-password'} value={password} onChange={e => setPassword(e.target.value)}
          aria-describedby={mode === 'signup' ? 'password-rule' : undefined}
                        />
          {mode === 'signup' && <span className='hint' id='password-rule' data-testid='password-rule'>At least 10 characters. A few unrelated words work well.</span>}
        </label>
        {error !== null && <p className='error' role='alert'>{error}</p>}
        <button type='submit' disabled={busy}>{mode === 'login' ? 'Sign in' : 'Create account'}</button>
        {allowSignup && (
          <button type='button' className='link' onClick={() => setMode(mode === 'login' ? 'signup' : 'login')}>
            {mode === 'login' ? 'Create an account' : 'I have an account'}
          </button>
        )}
      </form>
      )}
    </main>
  )
}
