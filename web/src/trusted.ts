// Trusted Types: the server's CSP (`require-trusted-types-for 'script'`) makes the browser refuse
// strings at every DOM script sink (innerHTML, DOMParser, script src, …). This default policy is
// the one way through: HTML passes only after DOMPurify has removed scripts, event handlers and
// javascript: URLs; the one script URL allowed is our own service worker; script text is refused
// outright. ProseMirror's clipboard parser and Tiptap's HTML parsing use it.
import DOMPurify from 'dompurify'

interface TrustedTypesFactory {
  defaultPolicy: unknown
  createPolicy: (name: string, rules: {
    createHTML?: (s: string) => string
    createScriptURL?: (s: string) => string
  }) => unknown
}

export const SERVICE_WORKER = '/sw.js'

export function installTrustedTypes (): void {
  const tt = (globalThis as { trustedTypes?: TrustedTypesFactory }).trustedTypes
  if (tt === undefined || tt.defaultPolicy !== null) return
  tt.createPolicy('default', {
    createHTML: (s: string) => DOMPurify.sanitize(s),
    createScriptURL: (s: string) => {
      const url = new URL(s, location.href)
      if (url.origin === location.origin && url.pathname === SERVICE_WORKER) return url.href
      throw new TypeError(`script URL refused by the Trusted Types policy: ${s}`)
    }
  })
}
