import { accountsEnabled, currentUser, logout } from './auth'
import { Bell } from './Bell'

/** Who is signed in, their notifications, and the way out. Nothing in `--auth none`. */
export function AccountBadge ({ navigate }: { navigate: (to: string) => void }) {
  const me = currentUser()
  if (!accountsEnabled() || me === null) return null
  // A guest (a public link opened without an account) is never mentioned or shared with.
  const guest = me.email.endsWith('.invalid')
  return (
    <span className='account'>
      {!guest && <Bell navigate={navigate} />}
      {guest
        ? <span data-testid='me'>{me.name}</span>
        : <a href='/account' data-testid='me' title='Your account: email and API tokens' onClick={e => { e.preventDefault(); navigate('/account') }}>{me.name}</a>}
      <button data-testid='sign-out' onClick={() => { void logout().then(() => location.assign('/')) }}>Sign out</button>
    </span>
  )
}
