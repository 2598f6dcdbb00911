// A signed-in person reloads the document while offline: the app still knows who they are, opens
// the document from this device with its title, takes typing, lists their documents, and when the
// network returns refreshes the session and saves, with no reload.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startTandem, launch, waitSaved, signUp, waitStoredLocally, editorText } from './harness.mjs'

let server, browser
before(async () => { server = await startTandem({ args: ['--auth', 'accounts'] }); browser = await launch() })
after(async () => { await browser?.close(); server?.cleanup() })

test('a reload while offline keeps the signed-in session, and the edits save when the network returns', async () => {
  const { context, page, token } = await signUp(browser, server.url, 'ada@example.org', 'Ada')
  await page.getByTestId('new-doc').click()
  await page.getByTestId('editor').waitFor()
  const doc = decodeURIComponent(page.url().split('/d/')[1])
  await page.getByLabel('Title').fill('Field notes')
  await page.getByLabel('Title').press('Tab')
  await page.getByTestId('editor').click()
  await page.keyboard.type('online part. ')
  await waitSaved(page)
  // The service worker must control the page (it serves the app shell offline).
  await page.evaluate(async () => { await navigator.serviceWorker.ready })
  await page.reload()
  await waitSaved(page)
  assert.equal(await page.getByLabel('Title').inputValue(), 'Field notes')

  await context.setOffline(true)
  await page.reload()
  await page.getByTestId('editor').getByText('online part.').waitFor({ timeout: 10_000 })
  assert.equal(await page.getByTestId('me').textContent(), 'Ada', 'still signed in as Ada, not a guest')
  assert.equal(await page.getByLabel('Title').inputValue(), 'Field notes')
  assert.ok(await page.getByTestId('sign-out').isVisible())
  await page.getByTestId('editor').click()
  await page.keyboard.press('End')
  await page.keyboard.insertText('typed offline.')
  await waitStoredLocally(page, doc, 'typed offline.')
  // The document list, offline, is the one this device last saw, not the sign-in page.
  await page.getByText('← Documents').click()
  await page.getByTestId('offline-list').waitFor()
  await page.getByTestId('doc-list').getByText('Field notes').click()
  await page.getByTestId('editor').getByText('typed offline.').waitFor()

  await context.setOffline(false)
  await waitSaved(page, 20_000)
  const res = await fetch(`${server.url}/api/docs/${doc}/export?format=text`, { headers: { authorization: `Bearer ${token}` } })
  assert.equal(res.status, 200)
  assert.equal((await res.text()).trim(), (await editorText(page)).trim())
  assert.ok((await editorText(page)).includes('online part. typed offline.'))
  await context.close()
})

test('a document comes whole once: with the page on a first visit, from this device\'s copy after', async () => {
  const { context, page } = await signUp(browser, server.url, 'bea@example.org', 'Bea')
  await page.getByTestId('new-doc').click()
  await page.getByTestId('editor').waitFor()
  const doc = decodeURIComponent(page.url().split('/d/')[1])
  await page.getByTestId('editor').click()
  // About 60 kB of text, pasted as one edit.
  const text = Array.from({ length: 300 }, (_, i) => `Line ${i}: ${'words worth keeping '.repeat(10)}`).join('\n') + '\nthe last line'
  await page.getByTestId('editor').evaluate((el, t) => {
    const dt = new DataTransfer()
    dt.setData('text/plain', t)
    el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }))
  }, text)
  await waitSaved(page)
  await waitStoredLocally(page, doc, 'the last line')
  // What each open brings from the server: its largest socket message, and the state asked for
  // over HTTP as the page starts.
  const brought = async p => {
    let socket = 0
    let state = 0
    const onSocket = ws => ws.on('framereceived', f => { if (typeof f.payload !== 'string') socket = Math.max(socket, f.payload.length) })
    const onResponse = async r => { if (r.url().endsWith('/state')) state += (await r.body()).length }
    p.on('websocket', onSocket)
    p.on('response', onResponse)
    await p.goto(`${server.url}/d/${encodeURIComponent(doc)}`)
    await p.getByTestId('editor').getByText('the last line').waitFor()
    await waitSaved(p)
    p.off('websocket', onSocket)
    p.off('response', onResponse)
    return { socket, state }
  }
  // Without a copy on this device (it is removed), the whole document comes once, asked for as
  // the page starts; the socket then brings only what changed since...
  await page.goto(server.url)
  await page.getByTestId('new-doc').waitFor()
  await page.evaluate(async name => {
    localStorage.removeItem('tandem:copies')
    await new Promise((resolve, reject) => { const r = indexedDB.deleteDatabase(name); r.onsuccess = resolve; r.onerror = reject; r.onblocked = reject })
  }, `tandem:${doc}`)
  const first = await brought(page)
  assert.ok(first.state > 50_000, `the whole document came with the page (${first.state} B)`)
  assert.ok(first.socket < 5_000, `and not again over the socket (${first.socket} B)`)
  await waitStoredLocally(page, doc, 'the last line')
  // ...and with one, only what the copy lacks.
  await page.goto(server.url)
  await page.getByTestId('new-doc').waitFor()
  const again = await brought(page)
  assert.equal(again.state, 0, 'a document this device keeps is not asked for whole')
  assert.ok(again.socket < 5_000, `this device's copy was loaded before the socket opened (${again.socket} B)`)
  await context.close()
})
