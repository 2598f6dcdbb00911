// Writes the seed corpus (fuzz/corpus/*/seed-*): real Yjs updates made with the yjs package, and
// one of every wire message. Run once from the repository root with `node fuzz/seeds.mjs`; the
// fuzzers grow the corpus from there (`make fuzz`).
import { writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
const require = createRequire(new URL('../web/package.json', import.meta.url))
const Y = require('yjs')
const encoding = require('lib0/encoding')

const updates = []
const a = new Y.Doc()
a.clientID = 7
a.on('update', u => updates.push(u))
const t = a.getText('t')
t.insert(0, 'hello')
t.insert(5, ' world', { bold: true })
t.delete(2, 3)
const frag = a.getXmlFragment('default')
const p = new Y.XmlElement('paragraph')
p.insert(0, [new Y.XmlText('para')])
frag.insert(0, [p])
a.getMap('m').set('k', [1, 'two', { three: 3 }])
a.getArray('arr').insert(0, [new Uint8Array([1, 2, 3]), 4.5, null])
updates.push(Y.encodeStateAsUpdate(a))

const msg = (type, f) => { const e = encoding.createEncoder(); encoding.writeVarUint(e, type); f(e); return encoding.toUint8Array(e) }
const sync = (sub, bytes) => msg(0, e => { encoding.writeVarUint(e, sub); encoding.writeVarUint8Array(e, bytes) })
const ext = (kind, f) => msg(100, e => { encoding.writeVarUint(e, kind); f(e) })
const awareness = msg(1, e => {
  const inner = encoding.createEncoder()
  encoding.writeVarUint(inner, 1); encoding.writeVarUint(inner, 7); encoding.writeVarUint(inner, 3)
  encoding.writeVarString(inner, JSON.stringify({ user: { name: 'Ann', color: '#f00' } }))
  encoding.writeVarUint8Array(e, encoding.toUint8Array(inner))
})
const messages = [
  sync(0, Y.encodeStateVector(a)), sync(1, updates.at(-1)), ...updates.map(u => sync(2, u)), awareness, msg(3, () => {}),
  ext(0, e => { encoding.writeVarUint(e, 1); encoding.writeVarString(e, 'node-1'); encoding.writeVarUint(e, 42); encoding.writeVarUint(e, 8 << 20) }),
  ext(1, e => encoding.writeVarUint(e, 42)),
  ext(2, e => { encoding.writeVarUint(e, 4400); encoding.writeVarString(e, 'malformed') }),
  ext(3, e => encoding.writeVarUint(e, 1500)),
  ext(4, e => encoding.writeVarString(e, 'eyJhbGciOiJIUzI1NiJ9.e30.sig')),
  ext(5, e => encoding.writeVarString(e, 'thread-1'))
]
const write = (dir, i, bytes) => writeFileSync(new URL(`corpus/${dir}/seed-${i}`, import.meta.url), bytes)
updates.forEach((u, i) => write('apply_update', i, u))
messages.forEach((m, i) => write('protocol_decode', i, m))
// A session seed is a conversation: frames joined by 0xFE.
const conversation = messages.flatMap((m, i) => i === 0 ? [...m] : [0xfe, ...m])
write('session_frames', 0, Uint8Array.from(conversation))
messages.forEach((m, i) => write('session_frames', i + 1, m))
