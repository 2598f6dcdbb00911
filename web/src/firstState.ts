// Where an opened document's state first comes from. With a copy on this device (copies.ts) the
// socket waits for it and brings only the difference. Without one, the whole state is asked for
// over HTTP as the page starts, beside loading the editor's code, so it is here by the time the
// editor is, instead of being asked for by the socket once the editor is built.
import { fetchState } from './api'
import { hasCopy } from './copies'

/** A document's state asked for ahead of the editor: `bytes` once it has arrived (null if it
 * could not be had: the socket then brings everything), `settled` when the asking is over,
 * `built` once the editor has taken it (`wasBuilt`). */
export interface Prefetched {
  bytes: Uint8Array | null
  settled: Promise<void>
  built: Promise<void>
  wasBuilt: () => void
}

/** Asks for a document's state now, unless this device keeps a copy of it. */
export function prefetchState (doc: string): Prefetched | null {
  if (hasCopy(doc)) return null
  let wasBuilt = () => {}
  const built = new Promise<void>(resolve => { wasBuilt = resolve })
  const p: Prefetched = { bytes: null, settled: Promise.resolve(), built, wasBuilt }
  p.settled = fetchState(doc).then(b => { p.bytes = b }, () => { /* the socket brings it */ })
  return p
}
