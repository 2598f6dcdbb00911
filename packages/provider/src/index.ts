// @tandem/provider: connect any Yjs document (a Tiptap editor's, for one) to a Tandem server over
// the `tandem.v1` subprotocol, with acks, "Saved", drain handling and token refresh.
export { TandemProvider, type ProviderOptions, type Status } from './provider.js'
export { backoffDelay, drainDelay, BASE_MS, CAP_MS } from './backoff.js'
export { SUBPROTOCOL } from './protocol.js'
