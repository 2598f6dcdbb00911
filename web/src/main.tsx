import { createRoot } from 'react-dom/client'
import { useEffect, useState } from 'react'
import { DocList } from './DocList'
import { EditorPage } from './Editor'
import './style.css'

/** The two pages: the document list at `/`, an editor at `/d/{doc}`. */
function App () {
  const [path, setPath] = useState(location.pathname)
  useEffect(() => {
    const onPop = () => setPath(location.pathname)
    addEventListener('popstate', onPop)
    return () => removeEventListener('popstate', onPop)
  }, [])
  const navigate = (to: string) => {
    history.pushState(null, '', to)
    setPath(to)
  }
  const m = path.match(/^\/d\/([^/]+)$/)
  return m !== null
    ? <EditorPage key={m[1]} docId={decodeURIComponent(m[1])} navigate={navigate} />
    : <DocList navigate={navigate} />
}

createRoot(document.getElementById('root')!).render(<App />)

// The service worker keeps the app shell so a reload while offline still opens the editor.
if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('/sw.js').catch(() => { /* offline reloads just won't work */ })
}
