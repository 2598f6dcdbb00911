// A stock y-websocket client for bench/big-doc-typing.sh (not a test): fills DOC with MB
// megabytes of paragraphs typed all over (each paragraph in 40 pieces, each into its middle), if
// it is empty, then types 5 keystrokes a second into it for SECS seconds.
//
//   node big-typist.mjs HOST:PORT DOC MB SECS
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'
const [addr, doc, mb, secs] = process.argv.slice(2)
const ydoc = new Y.Doc()
const provider = new WebsocketProvider(`ws://${addr}/ws`, doc, ydoc, { WebSocketPolyfill: WebSocket, disableBc: true })
await new Promise(r => provider.on('sync', s => s && r()))
const frag = ydoc.getXmlFragment('default')
const piece = 'lorem ipsum dolor sit ame'
if (frag.length === 0) {
  for (let m = 0; m < Number(mb); m++) {
    ydoc.transact(() => {
      for (let i = 0; i < 1000; i++) {
        const p = new Y.XmlElement('paragraph')
        const t = new Y.XmlText()
        p.insert(0, [t])
        frag.insert(frag.length, [p])
        for (let k = 0; k < 40; k++) t.insert(Math.min(Math.floor(t.length / 2), k * 3), piece)
      }
    })
    await new Promise(r => setTimeout(r, 500))
  }
  await new Promise(r => setTimeout(r, 3000))
  console.log('filled', frag.length, 'paragraphs')
}
const start = Date.now()
let n = 0
while (Date.now() - start < Number(secs) * 1000) {
  const p = frag.get(n % 50)
  p.get(0).insert(0, 'x')
  n++
  await new Promise(r => setTimeout(r, 200))
}
console.log('typed', n)
provider.destroy()
process.exit(0)
