// Tiptap's Hocuspocus provider (@hocuspocus/provider 3.x), unmodified, against tandem's
// /hocuspocus endpoint: it converges with stock y-websocket clients on one document, carries
// several documents over one socket (with stateless messages between its providers), is refused
// per document when its token is wrong, names no access or loses it, and its "unsynced changes" reach 0
// only once an edit is durable (a store that delays every commit by 600 ms shows it).
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import WebSocket from 'ws'
import { startTandem } from './server.mjs'

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))
const servers = []
after(() => servers.forEach(s => s.stop()))

async function start (args = [], keep) {
  const s = await startTandem(args, keep)
  servers.push(s)
  return s
}

async function until (pred, ms = 10_000, what = 'condition') {
  const end = Date.now() + ms
  while (!pred()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

function socket (server) {
  return new HocuspocusProviderWebsocket({ url: `ws://${server.addr}/hocuspocus`, WebSocketPolyfill: WebSocket })
}

/** A Hocuspocus provider on `ws` (its own socket if none), recording what it hears. */
function hocus (server, name, { token = '', ws } = {}) {
  const document = new Y.Doc()
  const heard = { synced: false, denied: null, scope: null, stateless: [], unsynced: [] }
  const provider = new HocuspocusProvider({
    name,
    document,
    token,
    ...(ws ? { websocketProvider: ws } : { url: `ws://${server.addr}/hocuspocus`, WebSocketPolyfill: WebSocket }),
    onSynced: () => { heard.synced = true },
    onAuthenticationFailed: ({ reason }) => { heard.denied = reason },
    onAuthenticated: ({ scope }) => { heard.scope = scope ?? 'authenticated' },
    onStateless: ({ payload }) => heard.stateless.push(payload),
    onUnsyncedChanges: ({ number }) => heard.unsynced.push([Date.now(), number])
  })
  if (ws) provider.attach()
  return { document, provider, heard }
}

function stock (server, name, token) {
  const ydoc = new Y.Doc()
  const provider = new WebsocketProvider(`ws://${server.addr}/ws`, name, ydoc, {
    WebSocketPolyfill: WebSocket, disableBc: true, params: token ? { token } : {}
  })
  const synced = new Promise(resolve => provider.once('sync', resolve))
  return { ydoc, provider, synced }
}

function destroy (...clients) {
  for (const c of clients) {
    c.provider.destroy()
    ;(c.document ?? c.ydoc).destroy()
  }
}

const text = d => d.getText('t').toString()

test('Hocuspocus providers and y-websocket clients converge on one document', async () => {
  const server = await start()
  const name = 'hp-' + Date.now()
  const h1 = hocus(server, name)
  const h2 = hocus(server, name)
  const s1 = stock(server, name)
  await until(() => h1.heard.synced && h2.heard.synced, 10_000, 'the providers to sync')
  await s1.synced
  let seed = 7
  const rand = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff }
  const docs = [h1.document, h2.document, s1.ydoc]
  for (let n = 0; n < 120; n++) {
    const d = docs[n % 3]
    const t = d.getText('t')
    if (rand() < 0.8 || t.length < 4) t.insert(Math.floor(rand() * (t.length + 1)), `${n % 3}:${n} `)
    else t.delete(Math.floor(rand() * (t.length - 3)), 3)
    if (n % 10 === 0) await sleep(5)
  }
  await until(() => docs.every(d => text(d) === text(docs[0])), 15_000, 'convergence')
  assert.ok(text(docs[0]).length > 200)
  // Everything they sent is durable: each provider's counter is back to 0.
  await until(() => !h1.provider.hasUnsyncedChanges && !h2.provider.hasUnsyncedChanges, 10_000, 'saved')
  // Awareness crosses between the two kinds of client, both ways.
  h1.provider.awareness.setLocalStateField('user', { name: 'Hoc' })
  s1.provider.awareness.setLocalStateField('user', { name: 'Stock' })
  const names = aw => [...aw.getStates().values()].map(st => st.user?.name).filter(Boolean).sort()
  await until(() => names(s1.provider.awareness).join() === 'Hoc,Stock', 10_000, 'the stock client to see the provider')
  await until(() => names(h2.provider.awareness).join() === 'Hoc,Stock', 10_000, 'a provider to see both')
  // A late stock joiner gets the same state.
  const late = stock(server, name)
  await late.synced
  assert.equal(text(late.ydoc), text(docs[0]))
  destroy(h1, h2, s1, late)
})

test('several documents share one socket; stateless messages reach the document\'s other providers', async () => {
  const server = await start()
  const [a, b] = ['hp-a-' + Date.now(), 'hp-b-' + Date.now()]
  const ws = socket(server)
  const ha = hocus(server, a, { ws })
  const hb = hocus(server, b, { ws })
  const other = hocus(server, a)
  const sa = stock(server, a)
  const sb = stock(server, b)
  await until(() => ha.heard.synced && hb.heard.synced && other.heard.synced, 10_000, 'sync')
  await Promise.all([sa.synced, sb.synced])
  ha.document.getText('t').insert(0, 'for A')
  hb.document.getText('t').insert(0, 'for B')
  sb.ydoc.getText('t').insert(0, 'from stock B; ')
  await until(() => text(sa.ydoc) === 'for A' && text(other.document) === 'for A', 10_000, 'A')
  await until(() => text(hb.document) === 'from stock B; for B' || text(hb.document) === 'for Bfrom stock B; ', 10_000, 'B')
  assert.equal(text(sb.ydoc), text(hb.document))
  assert.equal(text(ha.document), 'for A', 'nothing crosses between documents')
  ha.provider.sendStateless('hello A')
  await until(() => other.heard.stateless.includes('hello A'), 5_000, 'the stateless message')
  assert.deepEqual(hb.heard.stateless, [], 'a stateless message stays in its document')
  assert.deepEqual(ha.heard.stateless, [], 'and is not echoed to its sender')
  // Closing one document leaves the other working on the same socket.
  ha.provider.destroy()
  hb.document.getText('t').insert(0, '2 ')
  await until(() => text(sb.ydoc).startsWith('2 '), 10_000, 'B after A closed')
  destroy(hb, other, sa, sb)
  ws.destroy()
})

test('a wrong token or a document without access is refused per document; the socket stays', async () => {
  const server = await start(['--auth', 'accounts'])
  const base = `http://${server.addr}`
  const api = async (method, path, token, body) => {
    const res = await fetch(base + path, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
    return { status: res.status, json: await res.json().catch(() => null) }
  }
  const signup = async email => (await api('POST', '/api/auth/signup', null, { email, password: 'correct horse battery' })).json.access_token
  const ann = await signup('ann@example.org')
  const bob = await signup('bob@example.org')
  const mine = (await api('POST', '/api/docs', ann, { title: 'mine' })).json.id
  const bobs = (await api('POST', '/api/docs', bob, { title: 'private' })).json.id
  const shared = (await api('POST', '/api/docs', bob, { title: 'shared' })).json.id
  assert.equal((await api('POST', `/api/docs/${shared}/shares`, bob, { email: 'ann@example.org', role: 'viewer' })).status, 200)

  const forged = hocus(server, mine, { token: 'not-a-token' })
  await until(() => forged.heard.denied !== null, 10_000, 'the refusal')
  assert.match(forged.heard.denied, /token/)
  assert.equal(forged.heard.synced, false)

  const ws = socket(server)
  const own = hocus(server, mine, { token: ann, ws })
  const theirs = hocus(server, bobs, { token: ann, ws })
  const view = hocus(server, shared, { token: ann, ws })
  await until(() => own.heard.synced && theirs.heard.denied !== null && view.heard.synced, 10_000, 'auth answers')
  assert.match(theirs.heard.denied, /no access/)
  assert.equal(view.provider.authorizedScope, 'readonly')
  assert.equal(own.provider.authorizedScope, 'read-write')
  own.document.getText('t').insert(0, 'still here')
  const reader = stock(server, mine, ann)
  await reader.synced
  await until(() => text(reader.ydoc) === 'still here', 10_000, 'the edit on the same socket')

  // Revoked while open: that document is denied at once; the others on the socket carry on.
  const annId = (await api('GET', '/api/me', ann)).json.id
  assert.equal((await api('DELETE', `/api/docs/${shared}/shares/${annId}`, bob)).status, 204)
  await until(() => view.heard.denied !== null, 10_000, 'the revocation')
  own.document.getText('t').insert(0, 'and ')
  await until(() => text(reader.ydoc) === 'and still here', 10_000, 'the edit after the revocation')
  assert.equal(ws.status, 'connected')
  destroy(forged, own, theirs, view, reader)
  ws.destroy()
})

test('sync status arrives only once the edit is durable', async () => {
  const server = await start(['--fault-commit-delay-ms', '600'])
  const name = 'hp-slow-' + Date.now()
  const h = hocus(server, name)
  await until(() => h.heard.synced && !h.provider.hasUnsyncedChanges, 10_000, 'sync')
  const sent = Date.now()
  h.document.getText('t').insert(0, 'durable')
  await sleep(300)
  assert.ok(h.provider.hasUnsyncedChanges, 'not saved while the commit waits')
  await until(() => !h.provider.hasUnsyncedChanges, 10_000, 'saved')
  const saved = h.heard.unsynced.filter(([, n]) => n === 0).at(-1)[0]
  assert.ok(saved - sent >= 550, `saved after ${saved - sent} ms, before the 600 ms commit`)
  // Saved means on disk: a server killed now still has it. (The provider goes first: one whose
  // server vanished keeps a retry timer that outlives destroy().)
  destroy(h)
  await server.kill()
  const again = await start([], { dataDir: server.dataDir })
  const s = stock(again, name)
  await s.synced
  assert.equal(text(s.ydoc), 'durable')
  destroy(s)
})

test('an idle provider is kept alive: it hears from the server before its silence timeout', async () => {
  // The provider reconnects after messageReconnectTimeout without a message; WebSocket pings do
  // not count. With pings every 400 ms, a provider that gives up after 1.5 s stays connected.
  const server = await start(['--ping-interval-ms', '400'])
  const name = 'hp-idle-' + Date.now()
  const document = new Y.Doc()
  let closes = 0
  const provider = new HocuspocusProvider({
    url: `ws://${server.addr}/hocuspocus`,
    WebSocketPolyfill: WebSocket,
    name,
    document,
    token: '',
    messageReconnectTimeout: 1500,
    onClose: () => { closes++ }
  })
  await until(() => provider.synced, 10_000, 'sync')
  await sleep(5000)
  assert.equal(closes, 0, 'the provider dropped an idle connection')
  provider.destroy()
  document.destroy()
})
