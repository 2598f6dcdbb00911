// Tandem's `tandem.v1` extension messages (outer type 100); see docs/protocol.md.
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'

export const MSG_SYNC = 0
export const MSG_AWARENESS = 1
export const MSG_QUERY_AWARENESS = 3
export const MSG_TANDEM = 100
export const SUBPROTOCOL = 'tandem.v1'

export type Ext =
  | { kind: 'hello', version: number, serverId: string, revision: number, maxMessage: number }
  | { kind: 'ack', revision: number }
  | { kind: 'error', code: number, message: string }
  | { kind: 'drain', reconnectAfterMs: number }
  | { kind: 'auth', token: string }
  | { kind: 'comments', thread: string }
  | { kind: 'renamed', title: string }
  | { kind: 'unknown', id: number }

export function readExt (decoder: decoding.Decoder): Ext {
  const id = decoding.readVarUint(decoder)
  switch (id) {
    case 0: return {
      kind: 'hello',
      version: decoding.readVarUint(decoder),
      serverId: decoding.readVarString(decoder),
      revision: decoding.readVarUint(decoder),
      maxMessage: decoding.readVarUint(decoder)
    }
    case 1: return { kind: 'ack', revision: decoding.readVarUint(decoder) }
    case 2: return { kind: 'error', code: decoding.readVarUint(decoder), message: decoding.readVarString(decoder) }
    case 3: return { kind: 'drain', reconnectAfterMs: decoding.readVarUint(decoder) }
    case 4: return { kind: 'auth', token: decoding.readVarString(decoder) }
    case 5: return { kind: 'comments', thread: decoding.readVarString(decoder) }
    case 6: return { kind: 'renamed', title: decoding.readVarString(decoder) }
    default: return { kind: 'unknown', id }
  }
}

export function writeExt (ext: Ext): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, MSG_TANDEM)
  switch (ext.kind) {
    case 'hello':
      encoding.writeVarUint(e, 0); encoding.writeVarUint(e, ext.version); encoding.writeVarString(e, ext.serverId)
      encoding.writeVarUint(e, ext.revision); encoding.writeVarUint(e, ext.maxMessage); break
    case 'ack': encoding.writeVarUint(e, 1); encoding.writeVarUint(e, ext.revision); break
    case 'error': encoding.writeVarUint(e, 2); encoding.writeVarUint(e, ext.code); encoding.writeVarString(e, ext.message); break
    case 'drain': encoding.writeVarUint(e, 3); encoding.writeVarUint(e, ext.reconnectAfterMs); break
    case 'auth': encoding.writeVarUint(e, 4); encoding.writeVarString(e, ext.token); break
    case 'comments': encoding.writeVarUint(e, 5); encoding.writeVarString(e, ext.thread); break
    case 'renamed': encoding.writeVarUint(e, 6); encoding.writeVarString(e, ext.title); break
    default: throw new Error('cannot encode unknown extension')
  }
  return encoding.toUint8Array(e)
}
