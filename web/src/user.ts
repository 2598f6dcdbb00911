// Who "I" am in presence: the account's name when signed in; otherwise a display name (editable,
// kept in localStorage). Each with a stable colour.
import { currentUser } from './auth'

const COLORS = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#008080', '#9a6324', '#800000']

export interface User { name: string, color: string }

export function colorFor (name: string): string {
  let h = 0
  for (const ch of name) h = (h * 31 + ch.charCodeAt(0)) >>> 0
  return COLORS[h % COLORS.length]
}

export function me (): User {
  const account = currentUser()
  if (account !== null) return { name: account.name, color: colorFor(account.email) }
  let name = localStorage.getItem('tandem:name')
  if (name === null || name.trim() === '') {
    name = `Guest ${Math.floor(1000 + Math.random() * 9000)}`
    localStorage.setItem('tandem:name', name)
  }
  return { name, color: colorFor(name) }
}

export function setMyName (name: string): User {
  localStorage.setItem('tandem:name', name)
  return { name, color: colorFor(name) }
}
