// Keeps the app shell (index.html and its hashed assets) so the editor opens offline; the
// document itself comes from IndexedDB (y-indexeddb). Network first: online, pages and assets
// are always fresh. Never touches /api or /ws: nothing private is cached here.
const CACHE = 'tandem-shell-v1'

async function precache () {
  const cache = await caches.open(CACHE)
  const res = await fetch('/', { cache: 'no-cache' })
  if (!res.ok) return
  const html = await res.clone().text()
  await cache.put('/', res)
  const assets = Array.from(html.matchAll(/\/assets\/[^"']+/g), m => m[0])
  // The chunks the entry loads later (the editor, history…), so a document opens offline even
  // if none was opened online: they are named in the entry as import(`./Name-hash.js`).
  for (const entry of assets.filter(a => a.endsWith('.js'))) {
    const js = await (await fetch(entry, { cache: 'no-cache' })).text()
    for (const m of js.matchAll(/import\(`\.\/([A-Za-z0-9_.-]+\.js)`\)/g)) assets.push(`/assets/${m[1]}`)
  }
  await cache.addAll([...new Set(assets)])
}

self.addEventListener('install', e => { e.waitUntil(precache().then(() => self.skipWaiting())) })
self.addEventListener('activate', e => { e.waitUntil(self.clients.claim()) })

self.addEventListener('fetch', e => {
  const url = new URL(e.request.url)
  const shell = e.request.method === 'GET' && url.origin === location.origin &&
    !url.pathname.startsWith('/api/') && !url.pathname.startsWith('/ws/')
  if (!shell) return
  // Every page of the single-page app is the same index.html.
  const key = e.request.mode === 'navigate' ? '/' : e.request
  e.respondWith(
    fetch(e.request).then(res => {
      if (res.ok) {
        const copy = res.clone()
        e.waitUntil(caches.open(CACHE).then(c => c.put(key, copy)))
      }
      return res
    }).catch(async () => (await caches.match(key)) ?? Response.error())
  )
})
