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
