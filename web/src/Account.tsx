import { accountsEnabled, currentUser, logout } from './auth'

/** Who is signed in, and the way out. Nothing in `--auth none`. */
export function AccountBadge () {
  const me = currentUser()
  if (!accountsEnabled() || me === null) return null
  return (
    <span className='account'>
      <span data-testid='me'>{me.name}</span>
      <button data-testid='sign-out' onClick={() => { void logout().then(() => location.assign('/')) }}>Sign out</button>
    </span>
  )
}
