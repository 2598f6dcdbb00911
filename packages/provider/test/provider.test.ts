import { describe, it, expect, beforeEach, afterEach, vi } from 'vitest'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import * as syncProtocol from 'y-protocols/sync'
import { TandemProvider } from '../src/provider'
import { backoffDelay, drainDelay, CAP_MS } from '../src/backoff'
import { writeExt } from '../src/protocol'

/** A WebSocket stand-in the test drives by hand: what the provider sends is recorded. */
class FakeWS {
  static all: FakeWS[] = []
  readyState = 0
  binaryType = 'blob'
  sent: Uint8Array[] = []
  onopen: (() => void) | null = null
  onmessage: ((ev: { data: ArrayBuffer }) => void) | null = null
  onclose: ((ev: { code: number, reason: string }) => void) | null = null
  onerror: (() => void) | null = null
  constructor (public url: string, public protocols: string[]) { FakeWS.all.push(this) }
  send (b: Uint8Array): void { this.sent.push(b) }
  close (): void { this.drop(1000) }
  open (): void { this.readyState = 1; this.onopen?.() }
  receive (b: Uint8Array): void { this.onmessage?.({ data: b.slice().buffer }) }
  drop (code: number): void {
    if (this.readyState === 3) return
    this.readyState = 3
    this.onclose?.({ code, reason: '' })
  }
}

const last = (): FakeWS => FakeWS.all[FakeWS.all.length - 1]

function serverStep1 (sv: Uint8Array = new Uint8Array([0])): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 0)
  encoding.writeVarUint(e, 0)
  encoding.writeVarUint8Array(e, sv)
  return encoding.toUint8Array(e)
}

const ack = (revision: number): Uint8Array => writeExt({ kind: 'ack', revision })

function make (random = () => 0.5): TandemProvider {
  return new TandemProvider('ws://server', 'doc', new Y.Doc(), { WebSocketImpl: FakeWS as unknown as typeof WebSocket, random })
}

beforeEach(() => { FakeWS.all = []; vi.useFakeTimers() })
afterEach(() => { vi.useRealTimers() })

describe('ack bookkeeping', () => {
  it('is saved only when every update message is acked', () => {
    const p = make()
    const ws = last()
    expect(ws.protocols).toEqual(['tandem.v1'])
    ws.open()
    expect(p.status).toBe('connecting')
    ws.receive(writeExt({ kind: 'hello', version: 1, serverId: 's', revision: 7, maxMessage: 1000 }))
    ws.receive(serverStep1())
    expect(p.pending).toBe(1) // our step 2
    expect(p.status).toBe('saving')
    ws.receive(ack(7))
    expect(p.status).toBe('saved')
    const text = p.doc.getText('t')
    text.insert(0, 'a')
    text.insert(1, 'b')
    expect(p.pending).toBe(2)
    ws.receive(ack(8))
    expect(p.status).toBe('saving')
    ws.receive(ack(9))
    expect(p.status).toBe('saved')
    expect(p.revision).toBe(9)
    p.destroy()
  })

  it('sends an update above the cap in acked pieces, and a large sync step 2 too (protocol 2)', () => {
    const p = make()
    const ws = last()
    ws.open()
    ws.receive(writeExt({ kind: 'hello', version: 2, serverId: 's', revision: 0, maxMessage: 1000 }))
    ws.receive(serverStep1())
    ws.receive(ack(0))
    expect(p.status).toBe('saved')
    ws.sent = []
    p.doc.getText('t').insert(0, 'x'.repeat(2500))
    // 968 bytes a piece: three frames, each under the cap, each awaiting its ack.
    expect(ws.sent.length).toBe(3)
    expect(p.pending).toBe(3)
    const whole: number[] = []
    for (const frame of ws.sent) {
      expect(frame.length).toBeLessThanOrEqual(1000)
      const d = decoding.createDecoder(frame)
      expect(decoding.readVarUint(d)).toBe(100)
      expect(decoding.readVarUint(d)).toBe(7)
      const total = decoding.readVarUint(d)
      whole.push(...decoding.readVarUint8Array(d))
      expect(total).toBeGreaterThan(2500)
    }
    // The pieces put together are the ordinary update message.
    const d = decoding.createDecoder(new Uint8Array(whole))
    expect([decoding.readVarUint(d), decoding.readVarUint(d)]).toEqual([0, 2])
    const copy = new Y.Doc()
    Y.applyUpdate(copy, decoding.readVarUint8Array(d))
    expect(copy.getText('t').toString()).toBe('x'.repeat(2500))
    ws.receive(ack(0))
    ws.receive(ack(0))
    expect(p.status).toBe('saving')
    ws.receive(ack(1))
    expect(p.status).toBe('saved')

    // Offline edits above the cap go in pieces as the answer to the server's step 1.
    ws.drop(1006)
    p.doc.getText('t').insert(0, 'y'.repeat(3000))
    vi.advanceTimersByTime(1000)
    const again = last()
    again.open()
    again.receive(writeExt({ kind: 'hello', version: 2, serverId: 's', revision: 1, maxMessage: 1000 }))
    const sv = Y.encodeStateVector(copy)
    again.receive(serverStep1(sv))
    // Our step 1 and presence, then a 3,000-byte step 2 in four pieces.
    expect(again.sent.filter(f => f[0] === 100 && f[1] === 7).length).toBe(4)
    expect(p.pending).toBe(4)
    p.destroy()
  })

  it('comes back after the server could not take a large change now (1013)', () => {
    const p = make(() => 0)
    last().open()
    last().drop(1013)
    expect(p.status).toBe('offline')
    vi.advanceTimersByTime(1)
    expect(FakeWS.all.length).toBe(2)
    p.destroy()
  })

  it('while the network is down, waits without trying and stays offline; back online, it connects', () => {
    let online = true
    const p = new TandemProvider('ws://server', 'doc', new Y.Doc(), { WebSocketImpl: FakeWS as unknown as typeof WebSocket, random: () => 0.5, online: () => online })
    last().open()
    online = false
    last().drop(1006)
    const seen: string[] = []
    p.on(s => seen.push(s))
    vi.advanceTimersByTime(10 * CAP_MS)
    expect(FakeWS.all.length).toBe(1)
    expect(p.status).toBe('offline')
    expect(seen).toEqual([])
    online = true
    vi.advanceTimersByTime(CAP_MS)
    expect(FakeWS.all.length).toBe(2)
    expect(p.status).toBe('connecting')
    p.destroy()
  })

  it('refuses to send an update larger than the cap of a server without pieces and keeps it locally', () => {
    const p = make()
    last().open()
    last().receive(writeExt({ kind: 'hello', version: 1, serverId: 's', revision: 0, maxMessage: 100 }))
    p.doc.getText('t').insert(0, 'x'.repeat(500))
    expect(p.status).toBe('error')
    expect(p.error).toMatch(/larger than the server accepts/)
    expect(p.doc.getText('t').length).toBe(500)
    p.destroy()
  })
})

describe('backoff', () => {
  it('grows exponentially with full jitter and is capped', () => {
    expect(backoffDelay(0, () => 0.999)).toBe(249)
    expect(backoffDelay(3, () => 0.999)).toBe(1998)
    expect(backoffDelay(30, () => 0.999)).toBe(CAP_MS - 10)
    expect(backoffDelay(5, () => 0)).toBe(0)
    expect(drainDelay(500, () => 0)).toBe(500)
    expect(drainDelay(500, () => 0.999)).toBe(999)
  })

  it('reconnects after a jittered delay, longer each failed attempt', () => {
    make(() => 0.999)
    last().drop(1006)
    vi.advanceTimersByTime(248)
    expect(FakeWS.all.length).toBe(1)
    vi.advanceTimersByTime(2)
    expect(FakeWS.all.length).toBe(2)
    last().drop(1006) // second failure: up to 500 ms
    vi.advanceTimersByTime(400)
    expect(FakeWS.all.length).toBe(2)
    vi.advanceTimersByTime(100)
    expect(FakeWS.all.length).toBe(3)
  })

  it('honours the drain notice', () => {
    make(() => 0)
    last().open()
    last().receive(writeExt({ kind: 'drain', reconnectAfterMs: 700 }))
    last().drop(1012)
    vi.advanceTimersByTime(699)
    expect(FakeWS.all.length).toBe(1)
    vi.advanceTimersByTime(1)
    expect(FakeWS.all.length).toBe(2)
  })

  it('stops for good when access is gone', () => {
    const p = make()
    last().drop(4403)
    vi.advanceTimersByTime(60_000)
    expect(FakeWS.all.length).toBe(1)
    expect(p.status).toBe('error')
  })

  it('says why a change was refused and that it was not saved (a commenter\'s edit that is not a suggestion)', () => {
    const p = make()
    last().open()
    const why = 'you may only suggest changes here, and this was not a suggestion of yours (a change of the format "bold"); your change was not saved'
    last().receive(writeExt({ kind: 'error', code: 4403, message: why }))
    last().drop(4403)
    vi.advanceTimersByTime(60_000)
    expect(FakeWS.all.length).toBe(1)
    expect(p.status).toBe('error')
    expect(p.error).toBe(`Y${why.slice(1)}.`)
    expect(p.unsavable).toBe(true)
    // Losing access is said in the provider's own words, with nothing to download.
    const q = make()
    last().open()
    last().receive(writeExt({ kind: 'error', code: 4403, message: 'document deleted' }))
    expect(q.error).toContain('do not have access')
    expect(q.unsavable).toBe(false)
  })

  it('stops and says why when the document is at its size limit', () => {
    const p = make()
    last().drop(4413)
    vi.advanceTimersByTime(60_000)
    expect(FakeWS.all.length).toBe(1)
    expect(p.status).toBe('error')
    expect(p.error).toContain('size limit')
  })

  it('stops on the error message even when the close that follows is abnormal', () => {
    const p = make()
    const ws = last()
    ws.open()
    ws.receive(writeExt({ kind: 'error', code: 4413, message: 'too big' }))
    ws.drop(1006)
    vi.advanceTimersByTime(60_000)
    expect(FakeWS.all.length).toBe(1)
    expect(p.status).toBe('error')
    expect(p.error).toContain('size limit')
  })
})

describe('resend after reconnect', () => {
  it('sends offline edits in the sync step 2 of the next connection', () => {
    const p = make(() => 0)
    last().open()
    last().receive(serverStep1())
    last().receive(ack(0))
    last().drop(1006)
    expect(p.status).toBe('offline')
    p.doc.getText('t').insert(0, 'offline edit')
    expect(p.pending).toBe(0) // nothing could be sent
    vi.advanceTimersByTime(1)
    const ws = last()
    ws.open()
    ws.receive(serverStep1()) // the server has nothing
    const reply = ws.sent[ws.sent.length - 1]
    const d = decoding.createDecoder(reply)
    expect(decoding.readVarUint(d)).toBe(0)
    expect(decoding.readVarUint(d)).toBe(syncProtocol.messageYjsSyncStep2)
    const server = new Y.Doc()
    Y.applyUpdate(server, decoding.readVarUint8Array(d))
    expect(server.getText('t').toString()).toBe('offline edit')
    expect(p.status).toBe('saving')
    ws.receive(ack(1))
    expect(p.status).toBe('saved')
    p.destroy()
  })
})

describe('a state applied before connecting (the first visit\'s HTTP state)', () => {
  it('is not encoded for the provider nor sent back; what an observer adds meanwhile reaches the server', () => {
    const server = new Y.Doc()
    server.getText('t').insert(0, 'from the server')
    const state = Y.encodeStateAsUpdate(server)
    const doc = new Y.Doc()
    const p = new TandemProvider('ws://server', 'doc', doc, { WebSocketImpl: FakeWS as unknown as typeof WebSocket, connect: false })
    const listeners = (): number => (doc as unknown as { _observers: Map<string, Set<unknown>> })._observers.get('update')?.size ?? 0
    expect(listeners()).toBe(1)
    // An observer that reacts to the arriving state with a change of this device's own.
    let seen = -1
    const text = doc.getText('t')
    const fix = (): void => {
      seen = listeners()
      if (!text.toString().endsWith('!')) doc.transact(() => text.insert(text.length, '!'))
    }
    text.observe(fix)
    p.applyState(state)
    text.unobserve(fix)
    expect(seen).toBe(0) // no 'update' listener while it applied: Yjs encoded nothing
    expect(listeners()).toBe(1) // and the provider listens again
    expect(text.toString()).toBe('from the server!')
    p.connect()
    const ws = last()
    ws.open()
    ws.receive(serverStep1(Y.encodeStateVector(server)))
    const reply = ws.sent[ws.sent.length - 1]
    const d = decoding.createDecoder(reply)
    expect(decoding.readVarUint(d)).toBe(0)
    expect(decoding.readVarUint(d)).toBe(syncProtocol.messageYjsSyncStep2)
    Y.applyUpdate(server, decoding.readVarUint8Array(d))
    expect(server.getText('t').toString()).toBe('from the server!')
    // Nothing but the exchange went out: the applied state was not sent back as an update.
    const kinds = ws.sent.map(m => { const r = decoding.createDecoder(m); return [decoding.readVarUint(r), decoding.readVarUint(r)] })
    expect(kinds.filter(([type]) => type === 0)).toEqual([[0, syncProtocol.messageYjsSyncStep1], [0, syncProtocol.messageYjsSyncStep2]])
    p.destroy()
  })
})

describe('authentication', () => {
  const authed = (tokens: Array<string | null>, calls: boolean[]) => new TandemProvider('ws://server', 'doc', new Y.Doc(), {
    WebSocketImpl: FakeWS as unknown as typeof WebSocket,
    random: () => 0.5,
    getToken: async (fresh: boolean) => { calls.push(fresh); return tokens.shift() ?? null }
  })
  const firstExt = (ws: FakeWS) => {
    const d = decoding.createDecoder(ws.sent[0])
    expect(decoding.readVarUint(d)).toBe(100)
    expect(decoding.readVarUint(d)).toBe(4) // auth
    return decoding.readVarString(d)
  }

  it('sends the access token as the first frame, before any sync message or edit', async () => {
    const calls: boolean[] = []
    const p = authed(['tok-1'], calls)
    const ws = last()
    ws.open()
    p.doc.getText('t').insert(0, 'typed while authenticating')
    expect(ws.sent.length).toBe(0) // nothing may precede the token
    await vi.waitFor(() => expect(ws.sent.length).toBeGreaterThan(1))
    expect(firstExt(ws)).toBe('tok-1')
    expect(calls).toEqual([false])
    const d = decoding.createDecoder(ws.sent[1])
    expect(decoding.readVarUint(d)).toBe(0) // sync
    expect(decoding.readVarUint(d)).toBe(0) // step 1
    p.sendToken('tok-2')
    const inBand = decoding.createDecoder(ws.sent[ws.sent.length - 1])
    decoding.readVarUint(inBand); decoding.readVarUint(inBand)
    expect(decoding.readVarString(inBand)).toBe('tok-2')
    p.destroy()
  })

  it('on 4401 fetches a fresh token, reconnects at once and resends offline edits', async () => {
    const calls: boolean[] = []
    const p = authed(['old', 'new'], calls)
    last().open()
    await vi.waitFor(() => expect(last().sent.length).toBeGreaterThan(1))
    last().receive(serverStep1())
    last().drop(4401)
    expect(p.status).toBe('offline')
    expect(p.error).toBeNull()
    p.doc.getText('t').insert(0, 'offline edit')
    vi.advanceTimersByTime(0)
    const ws = last()
    expect(FakeWS.all.length).toBe(2)
    ws.open()
    await vi.waitFor(() => expect(ws.sent.length).toBeGreaterThan(1))
    expect(calls).toEqual([false, true])
    expect(firstExt(ws)).toBe('new')
    // The server's step 1 (it has nothing) is answered with a step 2 carrying the edit.
    ws.receive(serverStep1())
    const step2 = ws.sent[ws.sent.length - 1]
    const other = new Y.Doc()
    const d = decoding.createDecoder(step2)
    decoding.readVarUint(d)
    syncProtocol.readSyncMessage(d, encoding.createEncoder(), other, null)
    expect(other.getText('t').toString()).toBe('offline edit')
    p.destroy()
  })

  it('stops with a clear message when the session is gone', async () => {
    const p = authed([null], [])
    last().open()
    await vi.waitFor(() => expect(p.status).toBe('error'))
    expect(p.error).toMatch(/sign in again/i)
    p.destroy()
  })
})

describe('comments notices', () => {
  it('tells listeners on every notice and after every (re)connect, since notices sent while away are lost', () => {
    const p = make()
    const heard = vi.fn()
    const off = p.onComments(heard)
    const ws = last()
    ws.open()
    ws.receive(writeExt({ kind: 'hello', version: 1, serverId: 's', revision: 0, maxMessage: 1000 }))
    expect(heard).toHaveBeenCalledTimes(1)
    ws.receive(writeExt({ kind: 'comments', thread: 't1' }))
    expect(heard).toHaveBeenCalledTimes(2)
    ws.receive(ack(1)) // other extension messages are not comment changes
    expect(heard).toHaveBeenCalledTimes(2)
    off()
    ws.receive(writeExt({ kind: 'comments', thread: 't2' }))
    expect(heard).toHaveBeenCalledTimes(2)
    p.destroy()
  })
})
