// Stock y-websocket clients, unmodified, against tandem: concurrent random edits to a Y.Text
// and a Y.XmlFragment converge everywhere, and a late joiner gets the identical state.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'
import { startTandem } from './server.mjs'

const server = await startTandem()
after(() => server.stop())

// disableBc: y-websocket would otherwise sync same-process clients over BroadcastChannel,
// bypassing the server this test is about.
function connect (doc) {
  const ydoc = new Y.Doc()
  const provider = new WebsocketProvider(`ws://${server.addr}/ws`, doc, ydoc, { WebSocketPolyfill: WebSocket, disableBc: true })
  const synced = new Promise(resolve => provider.once('sync', resolve))
  return { ydoc, provider, synced }
}

// Destroying the doc also stops its Awareness timer; without it node never exits.
function close (c) {
  c.provider.destroy()
  c.ydoc.destroy()
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

// Deterministic pseudo-random numbers so a failure can be replayed.
function rng (seed) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed / 0x7fffffff
  }
}

function randomEdit (ydoc, rand, tag) {
  const text = ydoc.getText('text')
  const frag = ydoc.getXmlFragment('prosemirror')
  const r = rand()
  if (r < 0.45) {
    text.insert(Math.floor(rand() * (text.length + 1)), `${tag}${Math.floor(rand() * 100)}`)
  } else if (r < 0.6 && text.length > 0) {
    const at = Math.floor(rand() * text.length)
    text.delete(at, Math.min(3, text.length - at))
  } else if (r < 0.85 || frag.length === 0) {
    const p = new Y.XmlElement('paragraph')
    p.insert(0, [new Y.XmlText(`${tag} says ${Math.floor(rand() * 1000)}`)])
    frag.insert(Math.floor(rand() * (frag.length + 1)), [p])
  } else {
    frag.delete(Math.floor(rand() * frag.length), 1)
  }
}

function snapshot (ydoc) {
  return {
    text: ydoc.getText('text').toString(),
    xml: ydoc.getXmlFragment('prosemirror').toString(),
    sv: Buffer.from(Y.encodeStateVector(ydoc)).toString('base64')
  }
}

async function waitConverged (docs, ms = 15_000) {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    const snaps = docs.map(snapshot)
    if (snaps.every(s => JSON.stringify(s) === JSON.stringify(snaps[0]))) return snaps[0]
    await sleep(50)
  }
  assert.fail(`no convergence: ${JSON.stringify(docs.map(snapshot), null, 1).slice(0, 2000)}`)
}

test('three stock clients converge on Y.Text and Y.XmlFragment; a late joiner matches', async () => {
  const name = 'interop-' + Date.now()
  const clients = [connect(name), connect(name), connect(name)]
  await Promise.all(clients.map(c => c.synced))
  await Promise.all(clients.map(async (c, i) => {
    const rand = rng(1000 + i)
    for (let n = 0; n < 150; n++) {
      randomEdit(c.ydoc, rand, 'abc'[i])
      if (rand() < 0.3) await sleep(Math.floor(rand() * 5))
    }
  }))
  const final = await waitConverged(clients.map(c => c.ydoc))
  assert.ok(final.xml.includes('says'), 'the fragment received paragraphs')
  assert.ok(final.text.length > 0)

  const late = connect(name)
  await late.synced
  const lateSnap = await waitConverged([late.ydoc, clients[0].ydoc], 5_000)
  assert.deepEqual(lateSnap, final)

  // The server has it durably: its /api reports revisions and /state decodes to the same text.
  const info = await (await fetch(`http://${server.addr}/api/docs/${name}`)).json()
  assert.ok(info.revision > 0, 'revisions were assigned')
  const res = await fetch(`http://${server.addr}/api/docs/${name}/state`)
  assert.equal(res.headers.get('cache-control'), 'no-store')
  const fromServer = new Y.Doc()
  Y.applyUpdate(fromServer, new Uint8Array(await res.arrayBuffer()))
  assert.deepEqual(snapshot(fromServer), final)

  for (const c of [...clients, late]) close(c)
})

// The server writes a message longer than 8 KiB as WebSocket fragments; a stock client reads
// the broadcast and a late joiner's sync step 2 as one message each.
test('a large edit reaches stock clients whole, and so does the large document a late joiner loads', async () => {
  const name = 'large-' + Date.now()
  const a = connect(name)
  const b = connect(name)
  await Promise.all([a.synced, b.synced])
  const big = Array.from({ length: 20_000 }, (_, i) => `line ${i};`).join(' ')
  assert.ok(big.length > 150_000)
  a.ydoc.getText('text').insert(0, big)
  await waitConverged([a.ydoc, b.ydoc])
  const late = connect(name)
  await late.synced
  await waitConverged([late.ydoc, a.ydoc], 5_000)
  assert.equal(late.ydoc.getText('text').toString(), big)
  for (const c of [a, b, late]) close(c)
})

test('awareness from a stock client reaches the others and is removed when it leaves', async () => {
  const name = 'presence-' + Date.now()
  const a = connect(name)
  const b = connect(name)
  await Promise.all([a.synced, b.synced])
  a.provider.awareness.setLocalStateField('user', { name: 'Ada' })
  const seen = async pred => {
    const deadline = Date.now() + 5000
    while (Date.now() < deadline) {
      if (pred()) return
      await sleep(20)
    }
    assert.fail('awareness never matched')
  }
  const aId = a.ydoc.clientID
  await seen(() => b.provider.awareness.getStates().get(aId)?.user?.name === 'Ada')
  // Drop the socket without a goodbye: the server must announce the removal itself.
  a.provider.shouldConnect = false
  a.provider.ws.terminate()
  await seen(() => !b.provider.awareness.getStates().has(aId))
  close(a)
  close(b)
})
