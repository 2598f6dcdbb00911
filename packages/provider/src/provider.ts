// TandemProvider: connects a Y.Doc to a tandem server over `tandem.v1`. Speaks the standard Yjs
// sync and awareness protocol, and uses the extensions to know what is saved:
//   - every update message we send (sync step 2 or update) is answered by exactly one ack, in
//     order, once it is durable; "saved" = connected, synced, and no unacked update messages;
//   - on disconnect the pending count is dropped: the next sync exchange re-sends whatever the
//     server lacks, and its ack covers it;
//   - an update message larger than a frame may be (a big paste, a long offline backlog) goes in
//     pieces (`part`, protocol version 2), each acked; if the server cannot take it now (1013)
//     the provider reconnects after a pause and the sync exchange sends it again;
//   - reconnects use exponential backoff with full jitter, or the server's drain delay;
//   - with accounts, the first frame is the auth message carrying the access token; a fresh token
//     goes in band (`sendToken`) before the old one expires; a 4401 close (expired or revoked
//     token) fetches a fresh token and reconnects, and the sync exchange resends any edit.
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import * as syncProtocol from 'y-protocols/sync'
import * as awarenessProtocol from 'y-protocols/awareness'
import { backoffDelay, drainDelay } from './backoff.js'
import { MSG_AWARENESS, MSG_QUERY_AWARENESS, MSG_SYNC, MSG_TANDEM, SUBPROTOCOL, readExt, splitMessage, writeExt } from './protocol.js'

export type Status = 'connecting' | 'saving' | 'saved' | 'offline' | 'error'

/** Close codes after which reconnecting cannot help. */
const FATAL: Record<number, string> = {
  1009: 'This change is larger than the server accepts at once. It is kept on this device but cannot be saved: download a copy to keep it.',
  4400: 'The server could not read a message from this editor. Reload the page.',
  4403: 'You do not have access to this document (it may have been deleted or unshared), or you may only view it.',
  4404: 'This document name is not valid.',
  4413: 'This document has reached its size limit. Your latest change is kept on this device but could not be saved: download this device\'s copy to keep it.'
}

/** A server message as a sentence: capital first letter, full stop. */
function sentence (message: string): string {
  const s = message.charAt(0).toUpperCase() + message.slice(1)
  return /[.!?]$/.test(s) ? s : `${s}.`
}

export interface ProviderOptions {
  WebSocketImpl?: typeof WebSocket
  random?: () => number
  /** Connect immediately (default true). */
  connect?: boolean
  /**
   * The access token to authenticate with (accounts mode). `fresh` asks for a new one (after the
   * server refused the last). Resolves to null when the user is signed out; rejects when it
   * cannot be had right now (offline), which is retried with backoff.
   */
  getToken?: (fresh: boolean) => Promise<string | null>
  /**
   * Whether the network may be reachable (default: the browser's `navigator.onLine`, true
   * elsewhere). While it says no, reconnect attempts wait and the status stays `offline`
   * instead of flickering through `connecting`; `reconnectNow()` (on the `online` event) ends
   * the wait.
   */
  online?: () => boolean
}

type Listener = (status: Status) => void

export class TandemProvider {
  readonly doc: Y.Doc
  readonly awareness: awarenessProtocol.Awareness
  readonly url: string
  status: Status = 'connecting'
  /** Update messages sent on this connection and not yet acked. */
  pending = 0
  /** Highest durable revision the server has reported. */
  revision = 0
  /** Largest message the server accepts (from its hello). */
  maxMessage = 8 << 20
  /** The server's protocol version (from its hello): 2 and up take split messages. */
  serverVersion = 1
  /** Why the provider stopped for good, shown to the user. */
  error: string | null = null
  /**
   * The provider stopped because the server refused a change as too large (1009, 4413): this
   * device holds edits the server will never take. Offer a download, then a fresh copy.
   */
  unsavable = false
  attempts = 0
  private ws: WebSocket | null = null
  /** The auth message (if any) went out on this socket: other frames may follow. */
  private ready = false
  private needFreshToken = false
  private readonly getToken: ((fresh: boolean) => Promise<string | null>) | null
  private synced = false
  private stopped = false
  private timer: ReturnType<typeof setTimeout> | null = null
  private drainMs: number | null = null
  private listeners = new Set<Listener>()
  private commentListeners = new Set<() => void>()
  private renameListeners = new Set<(title: string) => void>()
  private readonly WS: typeof WebSocket
  private readonly random: () => number
  private readonly online: () => boolean

  constructor (serverUrl: string, docName: string, doc: Y.Doc, opts: ProviderOptions = {}) {
    this.doc = doc
    this.url = `${serverUrl.replace(/\/$/, '')}/ws/${encodeURIComponent(docName)}`
    this.awareness = new awarenessProtocol.Awareness(doc)
    this.WS = opts.WebSocketImpl ?? WebSocket
    this.random = opts.random ?? Math.random
    this.getToken = opts.getToken ?? null
    this.online = opts.online ?? (() => (globalThis as { navigator?: { onLine?: boolean } }).navigator?.onLine !== false)
    doc.on('update', this.onDocUpdate)
    this.awareness.on('update', this.onAwarenessUpdate)
    if (opts.connect !== false) this.connect()
  }

  on (listener: Listener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /**
   * Calls `listener` when the document's comments changed (the `comments` extension) and after
   * every (re)connect, since notices sent while away are lost.
   */
  onComments (listener: () => void): () => void {
    this.commentListeners.add(listener)
    return () => this.commentListeners.delete(listener)
  }

  /** Calls `listener` with the new title when someone renames the document (`renamed`). */
  onRenamed (listener: (title: string) => void): () => void {
    this.renameListeners.add(listener)
    return () => this.renameListeners.delete(listener)
  }

  connect (): void {
    if (this.ws !== null || this.stopped) return
    const ws = new this.WS(this.url, [SUBPROTOCOL])
    ws.binaryType = 'arraybuffer'
    this.ws = ws
    this.synced = false
    this.ready = false
    this.pending = 0
    this.setStatus('connecting')
    ws.onopen = () => {
      if (this.getToken === null) return this.start(ws)
      const fresh = this.needFreshToken
      this.getToken(fresh).then(token => {
        if (this.ws !== ws) return
        if (token === null) return this.fail('Your session has ended. Sign in again to keep editing; your changes are kept on this device.')
        this.needFreshToken = false
        ws.send(writeExt({ kind: 'auth', token }))
        this.start(ws)
      }, () => ws.close())
    }
    ws.onmessage = (ev: MessageEvent) => this.onMessage(new Uint8Array(ev.data as ArrayBuffer))
    ws.onclose = (ev: CloseEvent) => this.onClose(ev.code, ev.reason)
    ws.onerror = () => { /* onclose follows */ }
  }

  /** Opens the sync exchange on an authenticated (or auth-less) socket. */
  private start (ws: WebSocket): void {
    if (this.ws !== ws || ws.readyState !== 1) return
    this.ready = true
    const e = encoding.createEncoder()
    encoding.writeVarUint(e, MSG_SYNC)
    syncProtocol.writeSyncStep1(e, this.doc)
    this.send(encoding.toUint8Array(e))
    if (this.awareness.getLocalState() !== null) {
      this.send(awarenessMessage(this.awareness, [this.doc.clientID]))
    }
  }

  /**
   * Applies a state the server gave some other way (its HTTP API) as if it came over the
   * socket: nothing of it is sent back. Before the socket opens, the provider stops listening
   * meanwhile, so Yjs does not encode the whole state again for it (about 50 ms for 1 MB);
   * a change made meanwhile by an observer still reaches the server, in the sync exchange that
   * opens every connection.
   */
  applyState (update: Uint8Array): void {
    if (this.ws !== null) return Y.applyUpdate(this.doc, update, this)
    this.doc.off('update', this.onDocUpdate)
    try {
      Y.applyUpdate(this.doc, update, this)
    } finally {
      this.doc.on('update', this.onDocUpdate)
    }
  }

  /** Sends a fresh access token in band, so the open socket outlives the old one. */
  sendToken (token: string): void {
    this.send(writeExt({ kind: 'auth', token }))
  }

  /** Reconnects at once, skipping any backoff wait (e.g. the browser came back online). */
  reconnectNow (): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    this.attempts = 0
    this.connect()
  }

  /** Drops the connection now and reconnects after backoff (e.g. the browser went offline). */
  disconnect (): void {
    this.ws?.close()
  }

  destroy (): void {
    this.stopped = true
    if (this.timer !== null) clearTimeout(this.timer)
    this.doc.off('update', this.onDocUpdate)
    this.awareness.off('update', this.onAwarenessUpdate)
    awarenessProtocol.removeAwarenessStates(this.awareness, [this.doc.clientID], 'local')
    this.ws?.close()
    this.awareness.destroy()
  }

  private send (bytes: Uint8Array): void {
    if (this.ws?.readyState === 1 && this.ready) this.ws.send(bytes)
  }

  /** Sends an update message (whole, or in acked pieces when too large for one frame). */
  private sendUpdateMessage (bytes: Uint8Array): void {
    if (this.ws?.readyState !== 1 || !this.ready) return
    const parts = this.serverVersion >= 2 ? splitMessage(bytes, this.maxMessage) : [bytes]
    if (parts[0].length > this.maxMessage) return this.fail(FATAL[1009], true)
    for (const part of parts) {
      this.pending += 1
      this.ws.send(part)
    }
    this.refresh()
  }

  private readonly onDocUpdate = (update: Uint8Array, origin: unknown): void => {
    if (origin === this) return // applied from the server
    const e = encoding.createEncoder()
    encoding.writeVarUint(e, MSG_SYNC)
    syncProtocol.writeUpdate(e, update)
    // Offline: nothing to send; the sync exchange on reconnect carries it (and IndexedDB keeps it).
    this.sendUpdateMessage(encoding.toUint8Array(e))
    this.refresh()
  }

  private readonly onAwarenessUpdate = (
    { added, updated, removed }: { added: number[], updated: number[], removed: number[] },
    origin: unknown
  ): void => {
    if (origin !== 'local') return // only our own presence goes out; never echo others'
    this.send(awarenessMessage(this.awareness, added.concat(updated, removed)))
  }

  private onMessage (data: Uint8Array): void {
    const decoder = decoding.createDecoder(data)
    const type = decoding.readVarUint(decoder)
    if (type === MSG_SYNC) {
      const e = encoding.createEncoder()
      encoding.writeVarUint(e, MSG_SYNC)
      const kind = syncProtocol.readSyncMessage(decoder, e, this.doc, this)
      if (kind === syncProtocol.messageYjsSyncStep1) {
        // Our step 2 answers the server's step 1: it is an update message and will be acked.
        this.sendUpdateMessage(encoding.toUint8Array(e))
        this.synced = true
      }
      this.refresh()
    } else if (type === MSG_AWARENESS) {
      awarenessProtocol.applyAwarenessUpdate(this.awareness, decoding.readVarUint8Array(decoder), this)
    } else if (type === MSG_QUERY_AWARENESS) {
      this.send(awarenessMessage(this.awareness, Array.from(this.awareness.getStates().keys())))
    } else if (type === MSG_TANDEM) {
      const ext = readExt(decoder)
      if (ext.kind === 'hello') {
        this.revision = ext.revision
        this.maxMessage = ext.maxMessage
        this.serverVersion = ext.version
        for (const l of this.commentListeners) l()
      } else if (ext.kind === 'comments') {
        for (const l of this.commentListeners) l()
      } else if (ext.kind === 'renamed') {
        for (const l of this.renameListeners) l(ext.title)
      } else if (ext.kind === 'ack') {
        this.pending = Math.max(0, this.pending - 1)
        this.revision = Math.max(this.revision, ext.revision)
        this.attempts = 0 // a working connection resets the backoff
        this.refresh()
      } else if (ext.kind === 'drain') {
        this.drainMs = ext.reconnectAfterMs
      } else if (ext.kind === 'error' && FATAL[ext.code] !== undefined) {
        // The server closes next with the same code, but the close frame may be lost (1006):
        // stop now, so the status never reads "Offline" for a change that will not be saved.
        // A change refused for what it is (a commenter's edit that is not wholly their own
        // suggestion, a viewer's edit): the server's own words, and the change stays on this
        // device only (download it, or continue with the saved version).
        const refused = ext.code === 4403 && ext.message.includes('your change was not saved')
        this.fail(refused ? sentence(ext.message) : FATAL[ext.code], refused || ext.code === 1009 || ext.code === 4413)
      }
    }
  }

  private onClose (code: number, _reason: string): void {
    this.ws = null
    this.ready = false
    this.synced = false
    this.pending = 0
    // Others' presence is unknown while we are away.
    const others = Array.from(this.awareness.getStates().keys()).filter(id => id !== this.doc.clientID)
    awarenessProtocol.removeAwarenessStates(this.awareness, others, this)
    if (FATAL[code] !== undefined) {
      this.fail(FATAL[code], code === 1009 || code === 4413)
      return
    }
    if (this.stopped) return
    this.setStatus('offline')
    // 4401: the token expired or was revoked; come back at once with a fresh one (the server
    // answers a second bad token with 4401 again, which then backs off like any failure).
    const unauthorized = code === 4401 && this.getToken !== null
    if (unauthorized) this.needFreshToken = true
    const delay = this.drainMs !== null
      ? drainDelay(this.drainMs, this.random)
      : unauthorized && this.attempts === 0 ? 0 : backoffDelay(this.attempts, this.random)
    this.drainMs = null
    this.attempts += 1
    this.retryAfter(delay)
  }

  /** Reconnects after `delay`, or, while the network is known to be down, waits again. */
  private retryAfter (delay: number): void {
    this.timer = setTimeout(() => {
      this.timer = null
      if (this.online()) return this.connect()
      this.retryAfter(backoffDelay(this.attempts, this.random))
      this.attempts += 1
    }, delay)
  }

  private fail (message: string, unsavable = false): void {
    this.error = message
    this.unsavable = unsavable
    this.stopped = true
    this.ws?.close()
    this.setStatus('error')
  }

  private refresh (): void {
    if (this.error !== null) return this.setStatus('error')
    if (this.ws === null || this.ws.readyState !== 1) return this.setStatus(this.ws === null ? 'offline' : 'connecting')
    if (!this.synced) return this.setStatus('connecting')
    this.setStatus(this.pending > 0 ? 'saving' : 'saved')
  }

  private setStatus (s: Status): void {
    if (s === this.status) return
    this.status = s
    for (const l of this.listeners) l(s)
  }
}

function awarenessMessage (awareness: awarenessProtocol.Awareness, clients: number[]): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, MSG_AWARENESS)
  encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(awareness, clients))
  return encoding.toUint8Array(e)
}
