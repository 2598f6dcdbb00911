// Stock y-websocket clients, unmodified, against tandem with accounts: the access token travels
// in y-websocket's `params` (the query string); a viewer's client receives edits, and an edit it
// makes is refused (4403) and never reaches anyone; a client without a token is refused (4401).
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'
import { startTandem } from './server.mjs'

const server = await startTandem(['--auth', 'accounts'])
after(() => server.stop())
const base = `http://${server.addr}`
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

async function api (method, path, token, body) {
  const res = await fetch(base + path, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  return { status: res.status, json: await res.json().catch(() => null) }
}

async function signup (email) {
  const r = await api('POST', '/api/auth/signup', null, { email, password: 'correct horse battery' })
  assert.equal(r.status, 201)
  return r.json.access_token
}

function connect (doc, token) {
  const ydoc = new Y.Doc()
  const params = token === undefined ? {} : { token }
  const provider = new WebsocketProvider(`ws://${server.addr}/ws`, doc, ydoc, { WebSocketPolyfill: WebSocket, disableBc: true, params })
  const closes = []
  provider.on('connection-close', ev => closes.push(ev?.code))
  const synced = new Promise(resolve => provider.once('sync', resolve))
  return { ydoc, provider, synced, closes }
}

function close (c) { c.provider.destroy(); c.ydoc.destroy() }

async function until (pred, ms = 5000) {
  const end = Date.now() + ms
  while (!pred()) {
    if (Date.now() > end) return false
    await sleep(20)
  }
  return true
}

test('stock clients authenticate with params.token; viewers are read-only; no token is refused', async () => {
  const owner = await signup('owner@example.org')
  const viewer = await signup('viewer@example.org')
  const doc = (await api('POST', '/api/docs', owner, { title: 'interop' })).json.id
  assert.equal((await api('POST', `/api/docs/${doc}/shares`, owner, { email: 'viewer@example.org', role: 'viewer' })).status, 200)

  const a = connect(doc, owner)
  const v = connect(doc, viewer)
  await Promise.all([a.synced, v.synced])
  a.ydoc.getText('text').insert(0, 'from owner')
  assert.ok(await until(() => v.ydoc.getText('text').toString() === 'from owner'), 'the viewer receives edits')

  v.ydoc.getText('text').insert(0, 'VIEWER ')
  assert.ok(await until(() => v.closes.includes(4403)), `the viewer's edit closes it with 4403: ${v.closes}`)
  await sleep(200)
  assert.equal(a.ydoc.getText('text').toString(), 'from owner', 'the refused edit reached nobody')
  const late = connect(doc, owner)
  await late.synced
  assert.equal(late.ydoc.getText('text').toString(), 'from owner', 'and was not stored')

  const anon = connect(doc)
  assert.ok(await until(() => anon.closes.includes(4401)), `no token: ${anon.closes}`)
  for (const c of [a, v, late, anon]) close(c)
})
