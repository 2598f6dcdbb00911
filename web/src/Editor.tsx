import { lazy, Suspense, useEffect, useMemo, useRef, useState } from 'react'
import * as Y from 'yjs'
import { tokenize } from 'linkifyjs'
import { IndexeddbPersistence, clearDocument } from 'y-indexeddb'
import { EditorContent, useEditor, type Editor } from '@tiptap/react'
import { BubbleMenu } from '@tiptap/react/menus'
import Collaboration from '@tiptap/extension-collaboration'
import CollaborationCaret from '@tiptap/extension-collaboration-caret'
import { CharacterCount } from '@tiptap/extensions'
import { TandemProvider, type Status } from '@tandem/provider'
import { cachedDocs, downloadExport, getDoc, HttpError, peopleByIds, renameDoc, requestAccess, shareWithPerson, wsBase, type DocInfo, type Person, type Role } from './api'
import { learnNames, mentionedIds, mentions } from './mention'
import { accountsEnabled, currentUser, getToken, onToken } from './auth'
import { AccountBadge } from './Account'
import { CommentsPanel } from './Comments'
import { CommentHighlights, MARKER_EVENT, setHighlights } from './anchors'
import { useThreads } from './useThreads'
import { UndoSteps } from './undoSteps'
import { me, setMyName } from './user'
import { TableBar } from './TableMenu'
import { Toolbar } from './Toolbar'
import FileHandler from '@tiptap/extension-file-handler'
import { Uploads, uploadFiles } from './uploads'
import { useAnnouncer } from './announce'
import { SlashCommands, slashItems } from './slash'
import { Find } from './find'
import { FindBar } from './FindBar'
import { Outline } from './Outline'
import { Bold as BoldIcon, FilePen, History as HistoryIcon, Italic as ItalicIcon, Keyboard, ListTree, Search, Link as LinkIcon, MessageSquare, MessageSquarePlus, UserPlus, Webhook as WebhookIcon } from 'lucide-react'
import { NodeSelection } from '@tiptap/pm/state'
import { keepTextInEmptyBlocks } from './emptyText'
import { Counts } from './Counts'
import { allowedLink, schemaExtensions } from './extensions'
import { Suggesting, suggestions, type Mode } from './suggesting'
import { SuggestionsPanel } from './Suggestions'
import { useDerived } from './derived'
import { layOutInSlices } from './layOut'
import { DomSpecs } from './domSpecs'
import { countWords } from './wordCount'
import { forgetCopy, hasCopy, rememberCopy } from './copies'
import type { Prefetched } from './firstState'

// (User Timing marks: an open's milestones in DevTools and in e2e/trace-open.mjs.)
performance.mark('tandem:editor-code')

// Not needed for the first screen: loaded when first opened.
const ShareDialog = lazy(async () => ({ default: (await import('./Share')).ShareDialog }))
const HistoryPanel = lazy(async () => ({ default: (await import('./History')).HistoryPanel }))
const WebhooksDialog = lazy(async () => ({ default: (await import('./Webhooks')).WebhooksDialog }))
const ShortcutsSheet = lazy(async () => ({ default: (await import('./Shortcuts')).ShortcutsSheet }))

const STATUS_TEXT: Record<Status, string> = {
  connecting: 'Connecting…',
  saving: 'Saving…',
  saved: 'Saved',
  offline: 'Offline — your changes are kept on this device',
  error: 'Not saved'
}

interface Peer { clientId: number, name: string, color: string }

type Access = 'checking' | 'open' | 'none'

/**
 * A document page: the editor once the server confirms the document exists and may be opened
 * (at once when this device has it from before, so it opens offline), or a page that says it
 * cannot be opened. Nothing is typed into a document that cannot be saved.
 */
export function EditorPage ({ docId, navigate, access: asked, prefetched }: {
  docId: string
  navigate: (to: string) => void
  /** The server's answer for this document (`getDoc`), asked beside loading this code. */
  access: Promise<DocInfo>
  /** Its state, asked for beside loading this code when this device has no copy. */
  prefetched: Prefetched | null
}) {
  const known = cachedDocs().some(d => d.id === docId)
  const [access, setAccess] = useState<Access>(known ? 'open' : 'checking')
  useEffect(() => {
    asked.then(() => setAccess('open'), (e: Error) => {
      // 404: missing, or no access (the server does not say which). Anything else (offline, a
      // server error) opens what this device has.
      setAccess(e instanceof HttpError && e.status === 404 ? 'none' : 'open')
    })
  }, [docId])
  // A fresh copy from the server (after this device's copy held a change it cannot save).
  const [copy, setCopy] = useState(0)
  const [discarding, setDiscarding] = useState(false)
  const discard = () => {
    setDiscarding(true) // unmounts the editor, which closes its local store
    forgetCopy(docId)
    clearDocument(`tandem:${docId}`).finally(() => { setCopy(c => c + 1); setDiscarding(false) })
  }
  if (access === 'checking' || discarding) return <p className='loading'>Opening…</p>
  if (access === 'none') return <NoAccess docId={docId} navigate={navigate} />
  // The first editor shows the answer already asked for; a fresh copy asks again.
  return <DocumentEditor key={copy} docId={docId} navigate={navigate} discard={discard} prefetched={prefetched} info={copy === 0 ? asked : null} />
}

function NoAccess ({ docId, navigate }: { docId: string, navigate: (to: string) => void }) {
  const [asked, setAsked] = useState<'no' | 'sent' | string>('no')
  const ask = () => { requestAccess(docId).then(() => setAsked('sent'), (e: Error) => setAsked(e.message)) }
  return (
    <main className='no-access' data-testid='no-access'>
      <h1>This document does not exist or you have no access</h1>
      <p>If someone shared it with you, ask them for access, or check the address.</p>
      {accountsEnabled() && (asked === 'sent'
        ? <p className='note' role='status' data-testid='access-requested'>Request sent. The owner will see it when they open Share.</p>
        : <button data-testid='request-access' onClick={ask}>Request access</button>)}
      {asked !== 'no' && asked !== 'sent' && <p className='error' role='alert'>{asked}</p>}
      <p><a href='/' onClick={e => { e.preventDefault(); navigate('/') }}>← Back to your documents</a></p>
    </main>
  )
}

/** This device's copy of the document, as an HTML file to keep what the server could not take. */
function downloadCopy (editor: Editor, title: string): void {
  const name = title.trim() === '' ? 'Untitled document' : title.trim()
  const escaped = name.replace(/[&<>"]/g, c => `&#${c.charCodeAt(0)};`)
  const html = `<!doctype html><meta charset="utf-8"><title>${escaped}</title>\n${editor.getHTML()}\n`
  const a = document.createElement('a')
  a.href = URL.createObjectURL(new Blob([html], { type: 'text/html' }))
  a.download = `${name.replace(/[\\/:*?"<>|]/g, '-')} (copy on this device).html`
  a.click()
  setTimeout(() => URL.revokeObjectURL(a.href), 1000)
}

/** The value of a `#key=…` hash (`find`, `mention`, `thread`), if the page has one. */
function readHash (key: string): string | null {
  const m = location.hash.match(new RegExp(`^#${key}=(.+)$`))
  if (m === null) return null
  try { return decodeURIComponent(m[1]) } catch { return null }
}

function DocumentEditor ({ docId, navigate, discard, prefetched, info }: { docId: string, navigate: (to: string) => void, discard: () => void, prefetched: Prefetched | null, info: Promise<DocInfo> | null }) {
  // One Y.Doc, local store and provider per open document; torn down when leaving it. The
  // socket opens in the effect, not here: React may discard a render (Suspense) and with it a
  // provider made during it, which must not have connected.
  const { ydoc, provider } = useMemo(() => {
    const ydoc = new Y.Doc()
    const provider = new TandemProvider(wsBase(), docId, ydoc, {
      connect: false,
      getToken: accountsEnabled() ? getToken : undefined
    })
    return { ydoc, provider }
  }, [docId])
  const [status, setStatus] = useState<Status>(provider.status)
  const [peers, setPeers] = useState<Peer[]>([])
  const [title, setTitle] = useState('')
  // Once the user edits the title, a late metadata response must not overwrite it.
  const titleTouched = useRef(false)
  const [name, setName] = useState(me().name)
  // Until the server says otherwise, assume the user may edit (offline copies stay editable;
  // the server refuses what a viewer sends anyway).
  const [role, setRole] = useState<Role>('editor')
  const [editorsCanShare, setEditorsCanShare] = useState(false)
  const [sharing, setSharing] = useState(false)
  // On a phone the header's actions fold into a menu.
  const [menu, setMenu] = useState(false)
  const [history, setHistory] = useState(false)
  const [shortcuts, setShortcuts] = useState(false)
  // Owners' webhooks; opened by the notice that one was turned off (`#webhooks`).
  const [webhooks, setWebhooks] = useState(location.hash === '#webhooks')
  // Find (Ctrl+F) or find and replace (Ctrl+H); the outline of the headings.
  const [finding, setFinding] = useState<'off' | 'find' | 'replace'>('off')
  // Opened from a search result (`#find=word`): the find bar opens on that word once the
  // document has arrived, at its first match.
  const findOnOpen = useRef<string | null>(readHash('find'))
  // Opened from a notification: the mention (`#mention=ref`) or thread (`#thread=id`) it names.
  const placeOnOpen = useRef({ mention: readHash('mention'), thread: readHash('thread') })
  // Someone just mentioned who cannot open the document: the offer to share it with them.
  const [noAccess, setNoAccess] = useState<Person | null>(null)
  const [shareOffer, setShareOffer] = useState<string | null>(null)
  const [findInitial, setFindInitial] = useState<string | undefined>(undefined)
  const [outline, setOutline] = useState(false)
  const [comments, setComments] = useState(false)
  const [draft, setDraft] = useState<{ from: number, to: number } | null>(null)
  const { threads, reload: reloadThreads, notice } = useThreads(docId, provider)
  const [activeThread, setActiveThread] = useState<string | null>(null)
  // Why the last file was not attached (too large, a program…), until dismissed.
  const [refusal, setRefusal] = useState<string | null>(null)
  const fileInput = useRef<HTMLInputElement>(null)
  const openThreads = threads.filter(t => t.resolved_at === null)
  const announcement = useAnnouncer(peers, status)
  const canEdit = role === 'editor' || role === 'owner'
  const canComment = canEdit || role === 'commenter'
  // Editing, Suggesting or Viewing: commenters always suggest (the server takes nothing else from
  // them), editors and owners choose. Suggestions need an account to be made as.
  const myId = String(currentUser()?.id ?? '')
  const [chosen, setChosen] = useState<Mode>('editing')
  const mode: Mode = role === 'viewer' || (role === 'commenter' && myId === '')
    ? 'viewing'
    : role === 'commenter' ? (chosen === 'viewing' ? 'viewing' : 'suggesting') : chosen
  const modeRef = useRef(mode)
  modeRef.current = mode
  const [suggestionsOpen, setSuggestionsOpen] = useState(false)

  useEffect(() => {
    // This device's copy of the document (y-indexeddb). Opened with the page, except on a first
    // visit, whose state came over HTTP (firstState.ts): then once that state is built and the
    // browser is idle, since opening a store writes the whole document to it (about 90 ms for
    // 1 MB), which would otherwise come before the document first shows.
    let idb = null as IndexeddbPersistence | null
    let stopped = false
    let saved = false
    const openStore = () => {
      if (stopped || idb !== null) return
      idb = new IndexeddbPersistence(`tandem:${docId}`, ydoc)
      // Once saved and in the store, this device keeps the document (copies.ts).
      void idb.whenSynced.then(() => { if (saved && !stopped) rememberCopy(docId) })
    }
    const firstVisit = prefetched !== null && !hasCopy(docId)
    if (firstVisit) {
      void prefetched.built.then(() => {
        // Also then: the link finder's tables, built on the first text typed otherwise (~40 ms).
        const idle = () => { openStore(); tokenize('') }
        if ('requestIdleCallback' in window) requestIdleCallback(idle, { timeout: 1000 })
        else setTimeout(idle, 200)
      })
    } else openStore()
    const stopEmptyText = keepTextInEmptyBlocks(ydoc.getXmlFragment('default'))
    const offStatus = provider.on(s => {
      setStatus(s)
      if (s === 'saved' && !saved) {
        saved = true
        if (idb?.synced === true) rememberCopy(docId)
      }
    })
    // With a copy here, the socket opens once it is loaded (or after a second, should the
    // browser's store be slow): its first message then tells the server what the device already
    // has, and only the rest comes over the network, not the whole document again.
    let connecting = false
    const connect = () => { if (!connecting) { connecting = true; provider.connect() } }
    let slowStore: ReturnType<typeof setTimeout> | undefined
    if (hasCopy(docId) && idb !== null) {
      idb.whenSynced.then(connect, connect)
      slowStore = setTimeout(connect, 1000)
    } else if (prefetched === null) connect()
    // (else the state asked for as the page started comes first: the effect on `live` below)
    const onAwareness = () => {
      const list: Peer[] = []
      provider.awareness.getStates().forEach((s, clientId) => {
        const u = (s as { user?: { name?: string, color?: string } }).user
        if (u?.name !== undefined) list.push({ clientId, name: u.name, color: u.color ?? '#888' })
      })
      setPeers(list)
    }
    provider.awareness.on('change', onAwareness)
    // A rename by anyone shows at once, unless this user is typing a title of their own.
    const offRenamed = provider.onRenamed(t => {
      if (document.activeElement?.getAttribute('aria-label') !== 'Title') { titleTouched.current = false; setTitle(t) }
    })
    // A refreshed access token goes to the open socket in band, before the old one expires.
    const offToken = onToken(t => { if (t !== null && t !== '') provider.sendToken(t) })
    const goOffline = () => provider.disconnect()
    const goOnline = () => provider.reconnectNow()
    addEventListener('offline', goOffline)
    addEventListener('online', goOnline)
    const showInfo = (d: { role: Role, title: string, editors_can_share?: boolean }) => {
      setRole(d.role)
      if (d.editors_can_share !== undefined) setEditorsCanShare(d.editors_can_share)
      if (!titleTouched.current) setTitle(d.title)
    }
    // Offline, the title and role as this device last saw them.
    const cached = cachedDocs().find(d => d.id === docId)
    if (cached !== undefined) showInfo(cached)
    const answer = info ?? getDoc(docId)
    answer.then(showInfo, () => {})
    return () => {
      offRenamed()
      offToken()
      removeEventListener('offline', goOffline)
      removeEventListener('online', goOnline)
      provider.awareness.off('change', onAwareness)
      offStatus()
      clearTimeout(slowStore)
      connecting = true
      stopped = true
      stopEmptyText()
      provider.destroy()
      void idb?.destroy()
      ydoc.destroy()
    }
  }, [docId, ydoc, provider])

  const editor = useEditor({
    extensions: [
      ...schemaExtensions.filter(e => e.name !== 'mention' || !accountsEnabled()),
      ...(accountsEnabled() ? [mentions(docId, setNoAccess)] : []),
      CharacterCount.configure({ wordCounter: countWords }),
      DomSpecs,
      Collaboration.configure({ document: ydoc, field: 'default' }),
      CollaborationCaret.configure({ provider, user: me() }),
      CommentHighlights,
      UndoSteps,
      Uploads.configure({ docId }),
      Find,
      Suggesting.configure({ user: () => myId, mode: () => modeRef.current }),
      SlashCommands.configure({ items: () => slashItems(() => fileInput.current?.click()) }),
      // Files pasted or dropped into the document are uploaded (the server decides what it takes).
      FileHandler.configure({
        onPaste: (e, files) => uploadFiles(e, docId, files, setRefusal),
        onDrop: (e, files, pos) => uploadFiles(e, docId, files, setRefusal, pos)
      })
    ],
    editorProps: { attributes: { 'data-testid': 'editor', class: 'prose', spellcheck: 'false' } }
  }, [ydoc, provider])
  // The editor once its view is mounted (EditorContent mounts it after the first render): what
  // reads the view or its storage waits for it.
  const [mounted, setMounted] = useState<Editor | null>(null)
  useEffect(() => {
    if (editor === null) return
    if (editor.isInitialized) { setMounted(editor); return }
    const ready = () => { performance.mark('tandem:editor-mounted'); setMounted(editor) }
    editor.on('create', ready)
    return () => { editor.off('create', ready) }
  }, [editor])
  const live = mounted === editor ? mounted : null
  // A long document's blocks past the first screens are laid out in idle moments (layOut.ts).
  useEffect(() => live === null ? undefined : layOutInSlices(live), [live])

  // Without a copy here, the state asked for as the page started (firstState.ts) is taken once
  // the editor's view and its menus are in place, as the server's (nothing of it is sent back);
  // then the socket opens and brings only what changed since. Taken earlier, the whole document
  // would be built twice: y-tiptap builds it again whenever a plugin is added, as each menu
  // does when it mounts.
  useEffect(() => {
    if (live === null || prefetched === null || hasCopy(docId)) return
    let done = false
    const arrived = () => {
      if (done) return
      done = true
      performance.mark('tandem:apply-state')
      if (prefetched.bytes !== null) provider.applyState(prefetched.bytes)
      performance.mark('tandem:state-applied')
      prefetched.bytes = null
      provider.connect()
      prefetched.wasBuilt()
    }
    void prefetched.settled.then(arrived)
    const slow = setTimeout(arrived, 3000)
    return () => { done = true; clearTimeout(slow) }
  }, [live])

  useEffect(() => { editor?.setEditable(mode !== 'viewing') }, [editor, mode])
  const pending = useDerived(live, e => suggestions(e.state.doc).length, 0)
  useEffect(() => {
    const word = findOnOpen.current
    if (word === null || live === null || (status !== 'saved' && status !== 'saving')) return
    findOnOpen.current = null
    window.history.replaceState(window.history.state, '', location.pathname)
    setFindInitial(word)
    setFinding('find')
  }, [live, status])
  // Mentions show their people's current names; a notification's place is scrolled to.
  useEffect(() => {
    if (live === null || (status !== 'saved' && status !== 'saving')) return
    const ids = mentionedIds(live.state.doc)
    if (accountsEnabled() && ids.length > 0) peopleByIds(docId, ids.slice(0, 50)).then(learnNames, () => {})
    const { mention, thread } = placeOnOpen.current
    placeOnOpen.current = { mention: null, thread: null }
    if (mention !== null) {
      const el = live.view.dom.querySelector<HTMLElement>(`.mention[data-ref="${CSS.escape(mention)}"]`)
      if (el !== null) {
        el.scrollIntoView({ block: 'center' })
        el.classList.add('flash')
        setTimeout(() => el.classList.remove('flash'), 2500)
      }
    }
    if (thread !== null) { setActiveThread(thread); setComments(true) }
    if (mention !== null || thread !== null) window.history.replaceState(window.history.state, '', location.pathname)
  }, [live, status, docId])
  // Open threads are marked in the text and in the margin whether or not the panel is open.
  useEffect(() => {
    if (live === null) return
    setHighlights(live, openThreads.map(t => ({ id: t.id, anchor: t.anchor })), activeThread)
  }, [live, threads, activeThread])
  useEffect(() => {
    if (live === null) return
    const dom = live.view.dom
    const onMarker = (e: Event) => { setActiveThread((e as CustomEvent<string>).detail); setComments(true) }
    // Ctrl+Alt+M (⌘⌥M) comments on the selection, as in other editors; Ctrl+/ lists shortcuts.
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.altKey && e.code === 'KeyM') { e.preventDefault(); startComment() }
      if ((e.ctrlKey || e.metaKey) && !e.altKey && e.key === '/') { e.preventDefault(); setShortcuts(true) }
      if ((e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey && (e.key === 'f' || e.key === 'h')) {
        e.preventDefault()
        setFinding(e.key === 'h' ? 'replace' : 'find')
      }
    }
    dom.addEventListener(MARKER_EVENT, onMarker)
    // On the document: a read-only editor (a commenter's) never has the focus.
    document.addEventListener('keydown', onKey)
    return () => { dom.removeEventListener(MARKER_EVENT, onMarker); document.removeEventListener('keydown', onKey) }
  })

  const startComment = () => {
    if (!canComment) return
    const sel = editor?.state.selection
    if (sel === undefined || sel.empty) return alert('Select the text to comment on first.')
    setDraft({ from: sel.from, to: sel.to })
    setComments(true)
  }
  const saveTitle = (t: string) => { renameDoc(docId, t).then(d => setTitle(d.title), () => {}) }
  const changeName = (n: string) => {
    setName(n)
    const user = setMyName(n)
    editor?.commands.updateUser(user)
  }

  return (
    <main className='editor-page'>
      <header>
        <a href='/' onClick={e => { e.preventDefault(); navigate('/') }}>← Documents</a>
        <input
          className='title' aria-label='Title' data-testid='title' value={title} maxLength={200} placeholder='Untitled document' readOnly={!canEdit}
          onChange={e => { titleTouched.current = true; setTitle(e.target.value) }} onBlur={e => { if (canEdit) saveTitle(e.target.value.trim()) }}
          onKeyDown={e => {
            // Enter leaves the title for the text, as in other editors.
            // (At once, not on the next frame as Tiptap's focus does: typing continues there.)
            if (e.key === 'Enter' && editor !== null) {
              e.preventDefault()
              editor.commands.setTextSelection(1)
              editor.view.focus()
            }
          }}
        />
        {!canEdit && <span className='badge' data-testid='view-only'>{role === 'commenter' ? 'Can comment and suggest' : 'View only'}</span>}
        <select
          aria-label='Mode' data-testid='mode' value={mode} className={`mode ${mode}`} disabled={role === 'viewer'}
          onChange={e => setChosen(e.target.value as Mode)}
        >
          <option value='editing' disabled={!canEdit}>Editing</option>
          <option value='suggesting' disabled={myId === ''}>Suggesting</option>
          <option value='viewing'>Viewing</option>
        </select>
        <span data-testid='status' className={`status ${status}`}>{STATUS_TEXT[status]}</span>
        {accountsEnabled()
          ? <AccountBadge navigate={navigate} />
          : <input className='me' aria-label='Your name' value={name} onChange={e => changeName(e.target.value)} maxLength={40} />}
        <button
          className='menu-toggle' aria-label='Menu' aria-expanded={menu} aria-controls='doc-actions'
          data-testid='menu' onClick={() => setMenu(!menu)}
        >☰
        </button>
        <div className={`actions${menu ? ' open' : ''}`} id='doc-actions' onClick={e => { if ((e.target as HTMLElement).tagName === 'BUTTON') setMenu(false) }}>
          <select
            aria-label='Export' data-testid='export' value=''
            onChange={e => {
              const [f, marked] = e.target.value.split('+') as ['markdown' | 'html' | 'text' | 'json', string | undefined]
              if (f !== ('' as string)) downloadExport(docId, f, undefined, marked === 'suggestions').catch(() => {})
            }}
          >
            <option value='' disabled>Export…</option>
            <option value='markdown'>Markdown</option>
            <option value='html'>HTML</option>
            <option value='text'>Plain text</option>
            <option value='json'>ProseMirror JSON</option>
            {pending > 0 && <option value='markdown+suggestions'>Markdown + suggestions</option>}
            {pending > 0 && <option value='html+suggestions'>HTML + suggestions</option>}
          </select>
          <button data-testid='comments' aria-label={`Comments: ${openThreads.length} open`} onClick={() => setComments(!comments)}>
            <MessageSquare size={16} aria-hidden /> Comments{openThreads.length > 0 && <span className='count' data-testid='comment-count'>{openThreads.length}</span>}
          </button>
          {canComment && <button data-testid='comment' onMouseDown={e => { e.preventDefault(); startComment() }} onClick={e => { if (e.detail === 0) startComment() }}><MessageSquarePlus size={16} aria-hidden /> Comment</button>}
          <button data-testid='suggestions' aria-label={`Suggestions: ${pending} pending`} aria-pressed={suggestionsOpen} onClick={() => setSuggestionsOpen(!suggestionsOpen)}>
            <FilePen size={16} aria-hidden /> Suggestions{pending > 0 && <span className='count' data-testid='suggestion-count'>{pending}</span>}
          </button>
          <button data-testid='outline' aria-pressed={outline} onClick={() => setOutline(!outline)}><ListTree size={16} aria-hidden /> Outline</button>
          <button data-testid='find' aria-keyshortcuts='Control+F' onClick={() => setFinding('replace')}><Search size={16} aria-hidden /> Find</button>
          <button data-testid='history' onClick={() => setHistory(!history)}><HistoryIcon size={16} aria-hidden /> History</button>
          <button data-testid='shortcuts-open' aria-keyshortcuts='Control+/' onClick={() => setShortcuts(true)}><Keyboard size={16} aria-hidden /> Shortcuts</button>
          {accountsEnabled() && role === 'owner' && <button data-testid='webhooks-open' onClick={() => setWebhooks(true)}><WebhookIcon size={16} aria-hidden /> Webhooks</button>}
          {accountsEnabled() && (role === 'owner' || (role === 'editor' && editorsCanShare)) && <button className='primary' data-testid='share' onClick={() => setSharing(true)}><UserPlus size={16} aria-hidden /> Share</button>}
        </div>
      </header>
      {sharing && (
        <Suspense fallback={null}><ShareDialog
          docId={docId} myRole={role} editorsCanShare={editorsCanShare}
          onEditorsCanShare={setEditorsCanShare} onClose={() => setSharing(false)}
        /></Suspense>
      )}
      {shortcuts && <Suspense fallback={null}><ShortcutsSheet onClose={() => setShortcuts(false)} /></Suspense>}
      {webhooks && accountsEnabled() && role === 'owner' && <Suspense fallback={null}><WebhooksDialog docId={docId} onClose={() => { setWebhooks(false); if (location.hash === '#webhooks') window.history.replaceState(null, '', location.pathname) }} /></Suspense>}
      {provider.error !== null && (
        <div className='toast error unsaved' role='alert' data-testid='provider-error'>
          <p>{provider.error}</p>
          {provider.unsavable && (
            <p className='actions-row'>
              {live !== null && <button type='button' data-testid='download-copy' onClick={() => downloadCopy(live, title)}>Download this device's copy</button>}
              <button type='button' data-testid='discard-copy' onClick={discard}>Continue with the saved version</button>
            </p>
          )}
        </div>
      )}
      {notice !== null && (
        <p className='toast' role='status' data-testid='comment-notice'>
          <strong>{notice.who}</strong> commented: {notice.body.length > 80 ? `${notice.body.slice(0, 80)}…` : notice.body}
        </p>
      )}
      <p className='sr-only' aria-live='polite' role='status' data-testid='announcer'>{announcement}</p>
      <ul data-testid='presence' className='presence' aria-label='People here'>
        {peers.map(p => <li key={p.clientId} style={{ borderColor: p.color }}>{p.name}</li>)}
      </ul>
      {live !== null && mode !== 'viewing' && <Toolbar editor={live} editLink={() => editLink(live)} attach={() => fileInput.current?.click()} suggesting={mode === 'suggesting'} />}
      {live !== null && mode !== 'viewing' && <TableBar editor={live} suggesting={mode === 'suggesting'} user={myId} />}
      {live !== null && finding !== 'off' && <FindBar editor={live} canEdit={canEdit} replacing={finding === 'replace'} initial={findInitial} onClose={() => { setFinding('off'); setFindInitial(undefined) }} />}
      <input
        ref={fileInput} type='file' multiple hidden data-testid='file-input' aria-label='Attach images or files'
        onChange={e => {
          const files = Array.from(e.target.files ?? [])
          e.target.value = ''
          if (live !== null && files.length > 0) uploadFiles(live, docId, files, setRefusal)
        }}
      />
      {noAccess !== null && (
        <div className='toast' role='alert' data-testid='mention-no-access'>
          <p><strong>{noAccess.name}</strong> cannot open this document, so they will not see the mention.</p>
          <p className='actions-row'>
            {(role === 'owner' || (role === 'editor' && editorsCanShare)) && (
              <button
                type='button' className='primary' data-testid='share-mentioned' onClick={() => {
                  const who = noAccess
                  setNoAccess(null)
                  shareWithPerson(docId, who.id, 'commenter').then(
                    () => setShareOffer(`Shared with ${who.name} (can comment).`),
                    (e: Error) => setShareOffer(`Not shared: ${e.message}`))
                }}
              >Share with them (can comment)
              </button>
            )}
            <button type='button' onClick={() => setNoAccess(null)}>Not now</button>
          </p>
        </div>
      )}
      {shareOffer !== null && (
        <p className='toast' role='status' data-testid='share-offer-result'>
          {shareOffer} <button type='button' onClick={() => setShareOffer(null)}>Dismiss</button>
        </p>
      )}
      {refusal !== null && (
        <p className='toast error' role='alert' data-testid='upload-refused'>
          {refusal} <button type='button' onClick={() => setRefusal(null)}>Dismiss</button>
        </p>
      )}
      <div className='doc-area'>
        <div className='doc-column'>
          <EditorContent editor={editor} />
          {live !== null && <Counts editor={live} />}
        </div>
        {live !== null && <LinkBubble editor={live} canEdit={canEdit} />}
        {/* Mounted once, whatever the mode: each mount adds a plugin, and y-tiptap then builds
            the whole document again. */}
        {live !== null && <FileBubble editor={live} editing={mode === 'editing'} />}
        {live !== null && <SelectionBubble editor={live} canEdit={mode === 'editing'} canComment={canComment} comment={startComment} />}
        {suggestionsOpen && live !== null && (
          <SuggestionsPanel
            docId={docId} editor={live} me={myId} canDecide={canEdit} canComment={canComment} comment={startComment}
            onClose={() => setSuggestionsOpen(false)}
          />
        )}
        {outline && live !== null && <Outline editor={live} onClose={() => setOutline(false)} />}
        {history && <Suspense fallback={null}><HistoryPanel docId={docId} canRestore={canEdit} onClose={() => setHistory(false)} /></Suspense>}
        {comments && live !== null && (
          <CommentsPanel
            docId={docId} editor={live} threads={threads} reload={reloadThreads} canComment={canComment}
            active={activeThread} setActive={setActiveThread} draft={draft} onDraftDone={() => setDraft(null)}
            onClose={() => setComments(false)}
          />
        )}
      </div>
    </main>
  )
}

/** Asks for a link address (prefilled when editing one) and applies it; empty removes the link. */
function editLink (editor: Editor): boolean {
  const c = () => editor.chain().focus()
  const current = (editor.getAttributes('link') as { href?: string }).href ?? ''
  const url = prompt('Link address (http, https or mailto)', current)
  if (url === null) return false
  if (url === '') return c().extendMarkRange('link').unsetLink().run()
  if (!allowedLink(url)) {
    alert('Only http, https and mailto links are allowed.')
    return false
  }
  return c().extendMarkRange('link').setLink({ href: url.trim() }).run()
}

/** Over a link the caret is in: where it goes (opens in a new tab), Edit and Remove. */
function LinkBubble ({ editor, canEdit }: { editor: Editor, canEdit: boolean }) {
  const href = (editor.getAttributes('link') as { href?: string }).href ?? ''
  return (
    <BubbleMenu
      editor={editor} className='link-bubble' data-testid='link-bubble'
      shouldShow={({ editor: e }) => e.isActive('link')}
    >
      <a href={allowedLink(href) ? href : undefined} target='_blank' rel='noopener noreferrer' data-testid='link-open'>{href}</a>
      {canEdit && <button data-testid='link-edit' onMouseDown={e => { e.preventDefault(); editLink(editor) }}>Edit</button>}
      {canEdit && (
        <button data-testid='link-remove' onMouseDown={e => { e.preventDefault(); editor.chain().focus().extendMarkRange('link').unsetLink().run() }}>
          Remove
        </button>
      )}
    </BubbleMenu>
  )
}

/** Over a selected image: its alt text (what a screen reader says); over an attachment: download. */
function FileBubble ({ editor, editing }: { editor: Editor, editing: boolean }) {
  const image = editor.isActive('image')
  const attrs = editor.getAttributes(image ? 'image' : 'attachment') as { alt?: string, src?: string, name?: string }
  const setAlt = () => {
    const alt = prompt('Describe the image for people who cannot see it (alt text)', attrs.alt ?? '')
    if (alt !== null) editor.chain().focus().updateAttributes('image', { alt: alt.trim() }).run()
  }
  return (
    <BubbleMenu
      editor={editor} className='link-bubble' data-testid='file-bubble' pluginKey='fileBubble'
      shouldShow={({ editor: e }) => editing && (e.isActive('image') || e.isActive('attachment'))}
    >
      {image
        ? <button data-testid='image-alt' onMouseDown={e => { e.preventDefault(); setAlt() }}>Alt text{attrs.alt !== undefined && attrs.alt !== '' ? `: ${attrs.alt}` : ''}</button>
        : <a href={`${attrs.src ?? ''}?name=${encodeURIComponent(attrs.name ?? 'file')}`} download={attrs.name ?? 'file'} data-testid='attachment-download'>Download {attrs.name}</a>}
    </BubbleMenu>
  )
}

/** Over selected text: bold, italic, link and comment, where the pointer already is. */
function SelectionBubble ({ editor, canEdit, canComment, comment }: { editor: Editor, canEdit: boolean, canComment: boolean, comment: () => void }) {
  const c = () => editor.chain().focus()
  const b = (id: string, label: string, icon: React.ReactNode, run: () => unknown, active = false) => (
    <button
      key={id} data-testid={`bubble-${id}`} aria-label={label} title={label} className={active ? 'active' : ''} aria-pressed={active}
      onMouseDown={e => { e.preventDefault(); run() }}
    >
      {icon}
    </button>
  )
  return (
    <BubbleMenu
      editor={editor} className='selection-bubble' data-testid='selection-bubble' pluginKey='selectionBubble'
      shouldShow={({ editor: e, state }) => {
        const { selection } = state
        return (canEdit || canComment) && !selection.empty && !(selection instanceof NodeSelection) && !e.isActive('codeBlock') &&
          state.doc.textBetween(selection.from, selection.to, ' ').trim() !== ''
      }}
    >
      {canEdit && b('bold', 'Bold', <BoldIcon size={16} aria-hidden />, () => c().toggleBold().run(), editor.isActive('bold'))}
      {canEdit && b('italic', 'Italic', <ItalicIcon size={16} aria-hidden />, () => c().toggleItalic().run(), editor.isActive('italic'))}
      {canEdit && b('link', 'Link', <LinkIcon size={16} aria-hidden />, () => editLink(editor), editor.isActive('link'))}
      {canComment && b('comment', 'Comment', <MessageSquarePlus size={16} aria-hidden />, comment)}
    </BubbleMenu>
  )
}
