import { createRoot } from 'react-dom/client'
import { lazy, Suspense, useEffect, useState } from 'react'
import { DocList } from './DocList'
import { SignIn } from './SignIn'
import { currentUser, loadConfig, offlineSession, refresh, OfflineError, type AuthConfig } from './auth'
import { getDoc, onSignedOut, redeemLink } from './api'
import { prefetchState } from './firstState'
import { installTrustedTypes, SERVICE_WORKER } from './trusted'
import './style.css'

// The editor (Tiptap, ProseMirror, Yjs: most of the code) loads when a document is opened; at
// once when the page is a document, beside the session check rather than after it.
let editorModule: typeof import('./Editor') | null = null
const loadEditor = async () => (editorModule ??= await import('./Editor'))
if (location.pathname.startsWith('/d/')) loadEditor().catch(() => { /* EditorRoute says so */ })
const AccountPage = lazy(async () => ({ default: (await import('./AccountPage')).AccountPage }))

installTrustedTypes()

type Phase = 'loading' | 'signed-out' | 'ready'

/** Pages: the document list at `/`, an editor at `/d/{doc}`, a share link at `/s/{token}`, the
 * account (email, API tokens) at `/account`. */
function App () {
  const [path, setPath] = useState(location.pathname)
  const [phase, setPhase] = useState<Phase>('loading')
  const [config, setConfig] = useState<AuthConfig | null>(null)
  useEffect(() => {
    const onPop = () => setPath(location.pathname)
    addEventListener('popstate', onPop)
    onSignedOut(() => setPhase('signed-out'))
    // Signed in = the refresh cookie still works. Offline, open what this device has, as the
    // user it remembers; the session is refreshed when the network returns.
    loadConfig().then(async cfg => {
      setConfig(cfg)
      if (cfg.mode === 'none') return setPhase('ready')
      try {
        const t = await refresh()
        setPhase(t === null ? 'signed-out' : 'ready')
      } catch (e) {
        if (!(e instanceof OfflineError)) throw e
        setPhase(currentUser() !== null ? 'ready' : 'signed-out')
      }
    }).catch(() => setPhase('ready'))
    const onOnline = () => { if (offlineSession()) refresh().catch(() => { /* retried by the editor's socket */ }) }
    addEventListener('online', onOnline)
    return () => { removeEventListener('popstate', onPop); removeEventListener('online', onOnline) }
  }, [])
  const navigate = (to: string) => {
    history.pushState(null, '', to)
    // The page is the path; a hash (`#find=…`) is for the page itself to read.
    setPath(location.pathname)
  }
  if (phase === 'loading') return <p className='loading'>Loading…</p>
  if (phase === 'signed-out') {
    return <SignIn allowSignup={config?.allow_signup ?? true} sso={config?.sso ?? false} passwordLogin={config?.password_login ?? true} onDone={() => setPhase('ready')} />
  }
  const link = path.match(/^\/s\/([^/]+)$/)
  if (link !== null) return <Redeem token={decodeURIComponent(link[1])} navigate={navigate} />
  if (path === '/account' && config?.mode !== 'none') return <Suspense fallback={<p className='loading'>Loading…</p>}><AccountPage navigate={navigate} /></Suspense>
  const m = path.match(/^\/d\/([^/]+)$/)
  return m !== null
    ? <EditorRoute key={m[1]} docId={decodeURIComponent(m[1])} navigate={navigate} />
    : <DocList navigate={navigate} />
}

/**
 * A document page: "Opening…" until the editor's code is here, then the editor. Not a lazy
 * component under Suspense: React holds suspended content back until 300 ms after its fallback
 * appeared, which kept a document waiting up to that long after the code had arrived. Whether
 * the document may be opened is asked meanwhile, and its state with it (firstState.ts).
 */
function EditorRoute ({ docId, navigate }: { docId: string, navigate: (to: string) => void }) {
  const [mod, setMod] = useState(editorModule)
  const [failed, setFailed] = useState(false)
  const [access] = useState(() => {
    const asked = getDoc(docId)
    asked.catch(() => { /* the editor page answers it */ })
    return asked
  })
  const [prefetched] = useState(() => prefetchState(docId))
  useEffect(() => { if (mod === null) loadEditor().then(setMod, () => setFailed(true)) }, [mod])
  if (failed) return <p className='error' role='alert'>The editor could not be loaded. Check your connection and reload the page.</p>
  return mod === null ? <p className='loading'>Opening…</p> : <mod.EditorPage docId={docId} navigate={navigate} access={access} prefetched={prefetched} />
}

/** Opens a share link: adds its role for the signed-in user, then opens the document. */
function Redeem ({ token, navigate }: { token: string, navigate: (to: string) => void }) {
  const [error, setError] = useState<string | null>(null)
  useEffect(() => {
    redeemLink(token).then(r => navigate(`/d/${encodeURIComponent(r.doc)}`), (e: Error) => setError(e.message))
  }, [token])
  return <main>{error === null ? <p>Opening the shared document…</p> : <p className='error' role='alert'>{error}</p>}</main>
}

createRoot(document.getElementById('root')!).render(<App />)

// The service worker keeps the app shell so a reload while offline still opens the editor.
if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register(SERVICE_WORKER).catch(() => { /* offline reloads just won't work */ })
}
