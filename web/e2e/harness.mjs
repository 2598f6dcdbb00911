// Shared e2e setup: the real tandem binary on a free port serving web/dist, and Debian's
// Chromium driven by playwright-core.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

export const webDir = join(dirname(fileURLToPath(import.meta.url)), '..')
export const root = join(webDir, '..')
export const artifacts = join(webDir, 'e2e', 'artifacts')
mkdirSync(artifacts, { recursive: true })

/**
 * Starts tandem on `dataDir` (fresh if omitted). `port` 0 picks a free one. Editor tests run as
 * the single local user (`--auth none`) unless `args` choose `--auth accounts`.
 */
export function startTandem ({ dataDir, port = 0, args = [] } = {}) {
  const bin = process.env.TANDEM_BIN ?? join(root, 'target', 'debug', 'tandem')
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'tandem-e2e-'))
  const auth = args.includes('--auth') ? [] : ['--auth', 'none']
  const child = spawn(bin, ['--listen', `127.0.0.1:${port}`, '--data-dir', dir, '--web-dir', process.env.TANDEM_WEB_DIR ?? join(webDir, 'dist'), ...auth, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { RUST_LOG: 'warn', ...process.env }
  })
  process.on('exit', () => child.kill('SIGKILL'))
  return new Promise((resolve, reject) => {
    let buf = ''
    const timer = setTimeout(() => reject(new Error('tandem did not start')), 10_000)
    child.on('exit', code => reject(new Error(`tandem exited early (${code})`)))
    child.stdout.on('data', chunk => {
      buf += chunk
      const m = buf.match(/tandem listening on (http:\/\/\S+)/)
      if (m) {
        clearTimeout(timer)
        const url = m[1]
        resolve({
          url,
          port: Number(new URL(url).port),
          dataDir: dir,
          child,
          kill () { child.kill('SIGKILL'); return new Promise(r => child.once('exit', r)) },
          cleanup () { child.kill('SIGKILL'); rmSync(dir, { recursive: true, force: true }) }
        })
      }
    })
  })
}

export async function launch () {
  return await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync']
  })
}

/** Creates a document over the API and returns its id. */
export async function newDoc (url, title = 'Test') {
  const res = await fetch(`${url}/api/docs`, { method: 'POST', headers: { 'content-type': 'application/json', origin: url }, body: JSON.stringify({ title }) })
  return (await res.json()).id
}

/** Opens the editor for `doc` in a fresh context with the given user name; waits for "Saved". */
export async function openEditor (browser, url, doc, name) {
  const context = await browser.newContext()
  await context.addInitScript(n => localStorage.setItem('tandem:name', n), name)
  const page = await context.newPage()
  page.on('pageerror', e => console.error(`[${name}] page error:`, e.message))
  await page.goto(`${url}/d/${doc}`)
  await page.getByTestId('editor').waitFor()
  await waitSaved(page)
  return { context, page }
}

/** Waits until y-indexeddb (which writes asynchronously) has stored an update holding `text`. */
export async function waitStoredLocally (page, doc, text) {
  await page.waitForFunction(async ([name, text]) => {
    const db = await new Promise((resolve, reject) => {
      const r = indexedDB.open(name)
      r.onsuccess = () => resolve(r.result)
      r.onerror = () => reject(r.error)
    })
    try {
      if (!db.objectStoreNames.contains('updates')) return false
      const all = await new Promise((resolve, reject) => {
        const r = db.transaction('updates').objectStore('updates').getAll()
        r.onsuccess = () => resolve(r.result)
        r.onerror = () => reject(r.error)
      })
      const needle = `,${new TextEncoder().encode(text).join(',')},`
      return all.some(u => `,${Array.from(u).join(',')},`.includes(needle))
    } finally {
      db.close()
    }
  }, [`tandem:${doc}`, text], { timeout: 10_000, polling: 50 })
}

export async function waitSaved (page, timeout = 10_000) {
  await page.getByTestId('status').filter({ hasText: /^Saved$/ }).waitFor({ timeout })
}

/** The document's text, without other people's caret labels. */
export async function editorText (page) {
  return await page.getByTestId('editor').evaluate(el => {
    const c = el.cloneNode(true)
    c.querySelectorAll('.collaboration-carets__label').forEach(n => n.remove())
    return Array.from(c.children).map(b => b.textContent).join('\n')
  })
}

/** The document's HTML, without carets, labels or remote selections. */
export async function editorHtml (page) {
  return await page.getByTestId('editor').evaluate(el => {
    const c = el.cloneNode(true)
    c.querySelectorAll('.collaboration-carets__label').forEach(n => n.remove())
    c.querySelectorAll('.collaboration-carets__caret, .ProseMirror-yjs-selection').forEach(n => n.replaceWith(...n.childNodes))
    c.normalize()
    return c.innerHTML
  })
}

export const PASSWORD = 'correct horse battery'

/** A fresh browser profile that signs up through the UI; resolves with the page and its token. */
export async function signUp (browser, url, email, name) {
  const context = await browser.newContext()
  // Any CSP or Trusted Types violation means our own code needs something the policy forbids.
  await context.addInitScript(() => {
    window.__violations = []
    document.addEventListener('securitypolicyviolation', e => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`))
  })
  const page = await context.newPage()
  page.on('pageerror', e => console.error(`[${email}] page error:`, e.message))
  await page.goto(url)
  await page.getByTestId('signin-form').waitFor()
  await page.getByRole('button', { name: 'Create an account' }).click()
  await page.locator('input[name=email]').fill(email)
  await page.locator('input[name=name]').fill(name)
  await page.locator('input[name=password]').fill(PASSWORD)
  const signed = page.waitForResponse(r => r.url().endsWith('/api/auth/signup'))
  await page.getByRole('button', { name: 'Create account' }).click()
  const token = (await (await signed).json()).access_token
  await page.getByTestId('new-doc').waitFor()
  return { context, page, token }
}


/** An API call as `token`'s holder (from this server's origin); the JSON answer, or null. */
export async function apiAs (url, token, method, path, body) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, origin: url, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const text = await res.text()
  return text === '' ? null : JSON.parse(text)
}

/**
 * Types `n` single characters in A and times each until B shows it, in the document's first or
 * last top-level paragraph. Two clocks, sorted samples in ms each: `page` from the key's
 * `keydown` event in A to the first animation frame in B after the character is in B's DOM (a
 * MutationObserver armed before each keypress), on the system clock both pages read
 * (`Date.now()`, to the millisecond: each page's `performance.timeOrigin` is fixed per process
 * and the two disagreed by up to 14 ms); `harness` from the test asking Chromium
 * to press the key to the test hearing that B shows it, which adds the DevTools protocol's
 * round trips to both pages. (Until 2026-12-02 both counted A's caret label, drawn inside the
 * paragraph with A's name, as typed text, so B "showed" a keystroke up to a name's length early.)
 */
export async function keystrokeLatency (A, B, n, paragraph = 'first') {
  await A.page.evaluate(() => {
    window.__keydownAt = 0
    addEventListener('keydown', () => { window.__keydownAt = Date.now() }, true)
  })
  const page = []
  const harness = []
  for (let i = 1; i <= n; i++) {
    const rendered = B.page.evaluate(([k, which]) => new Promise(resolve => {
      const el = document.querySelector('[data-testid=editor]')
      // The paragraph's own text: A's caret, drawn inside it, carries A's name as text.
      const len = () => {
        const ps = el.querySelectorAll(':scope > p')
        const p = which === 'first' ? ps[0] : ps[ps.length - 1]
        if (p === undefined) return 0
        const carets = [...p.querySelectorAll('.collaboration-carets__caret')]
        return p.textContent.length - carets.reduce((n, c) => n + c.textContent.length, 0)
      }
      const shown = () => requestAnimationFrame(() => resolve(Date.now()))
      if (len() >= k) return shown()
      const mo = new MutationObserver(() => { if (len() >= k) { mo.disconnect(); shown() } })
      mo.observe(el, { childList: true, subtree: true, characterData: true })
    }), [i, paragraph])
    const t0 = performance.now()
    await A.page.keyboard.type('x')
    const shownAt = await rendered
    harness.push(performance.now() - t0)
    page.push(shownAt - await A.page.evaluate(() => window.__keydownAt))
  }
  const sorted = xs => xs.sort((x, y) => x - y)
  return { page: sorted(page), harness: sorted(harness) }
}

/** Screenshots of the page as it is, at desktop and phone widths, light and dark, into
 * e2e/artifacts as `{name}-{desktop|phone}-{light|dark}.png`; leaves it light at desktop width. */
export async function shots (page, name) {
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme })
    await page.setViewportSize({ width: 1100, height: 700 })
    await page.screenshot({ path: join(artifacts, `${name}-desktop-${scheme}.png`) })
    await page.setViewportSize({ width: 375, height: 760 })
    await page.screenshot({ path: join(artifacts, `${name}-phone-${scheme}.png`) })
  }
  await page.emulateMedia({ colorScheme: 'light' })
  await page.setViewportSize({ width: 1100, height: 700 })
}

/** Marks the page's milestones (the socket made, opened, a message over 100 kB; each request
 * and its answer) with their time since navigation; `timeline(page)` reads them. For the tools
 * that time an open (profile-open.mjs, trace-open.mjs). */
export async function markMilestones (page) {
  await page.addInitScript(() => {
    const marks = window.__marks = []
    const mark = what => marks.push([what, Math.round(performance.now())])
    addEventListener('DOMContentLoaded', () => mark('DOMContentLoaded'))
    const WS = window.WebSocket
    window.WebSocket = class extends WS {
      constructor (...a) {
        super(...a)
        mark('socket created')
        this.addEventListener('open', () => mark('socket open'))
        this.addEventListener('message', ev => { if (ev.data.byteLength > 100000) mark(`state arrived (${ev.data.byteLength} B)`) })
      }
    }
    const f = window.fetch
    window.fetch = (...a) => { const u = String(a[0]).slice(0, 50); mark(`fetch ${u}`); return f(...a).then(r => { mark(`fetched ${u}`); return r }) }
  })
}

/** The milestones `markMilestones` recorded and the page's own User Timing marks (`tandem:…`),
 * in time order, one line. */
export const timeline = async page => (await page.evaluate(() => [
  ...(window.__marks ?? []),
  ...performance.getEntriesByType('mark').map(m => [m.name, Math.round(m.startTime)])
])).sort((a, b) => a[1] - b[1]).map(([w, t]) => `${t} ${w}`).join(' | ')

/** A CPU profile (CDP `Profiler.stop`) as self time by function, most first: [name, ms]. */
export function selfTimeByFunction (profile) {
  const byId = new Map(profile.nodes.map(n => [n.id, n]))
  const self = new Map()
  profile.samples.forEach((id, k) => {
    const f = byId.get(id).callFrame
    const name = `${f.functionName || '(anonymous)'} ${f.url.split('/').pop()}:${f.lineNumber}:${f.columnNumber}`
    self.set(name, (self.get(name) ?? 0) + (profile.timeDeltas[k] ?? 0) / 1000)
  })
  return [...self].sort((a, b) => b[1] - a[1])
}

/** A CPU profile's time (ms) in samples whose stack holds a function of that name (inclusive). */
export function timeIn (profile, functionName) {
  const byId = new Map(profile.nodes.map(n => [n.id, n]))
  const parent = new Map()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  let ms = 0
  profile.samples.forEach((id, k) => {
    for (let at = id; at !== undefined; at = parent.get(at)) {
      if (byId.get(at).callFrame.functionName === functionName) { ms += (profile.timeDeltas[k] ?? 0) / 1000; break }
    }
  })
  return ms
}
