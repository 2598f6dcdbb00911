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
  | { kind: 'part', total: number, bytes: Uint8Array }
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
    case 7: return { kind: 'part', total: decoding.readVarUint(decoder), bytes: decoding.readVarUint8Array(decoder) }
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
    case 'part': encoding.writeVarUint(e, 7); encoding.writeVarUint(e, ext.total); encoding.writeVarUint8Array(e, ext.bytes); break
    default: throw new Error('cannot encode unknown extension')
  }
  return encoding.toUint8Array(e)
}

/** Largest piece of a split message: a megabyte, or less to stay under the server's cap. */
export function pieceSize (maxMessage: number): number {
  return Math.max(64, Math.min(1 << 20, maxMessage - 32))
}

/**
 * A message too large for one frame as `part` extensions (protocol version 2): pieces of its
 * bytes, in order, each under the server's cap; the server acks each and handles the last as the
 * whole message. Messages that fit are returned as they are.
 */
export function splitMessage (message: Uint8Array, maxMessage: number): Uint8Array[] {
  const size = pieceSize(maxMessage)
  if (message.length <= size) return [message]
  const parts: Uint8Array[] = []
  for (let at = 0; at < message.length; at += size) {
    parts.push(writeExt({ kind: 'part', total: message.length, bytes: message.subarray(at, at + size) }))
  }
  return parts
}
