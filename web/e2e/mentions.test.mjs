// @mentions and notifications in two browsers: Ann types "@Bo", picks Bob from the list, and
// Bob's bell (another browser, on his home page) counts one unread at once; his list says Ann
// mentioned him in the document, and opening it goes to the mention. Mentioning Cy, who cannot
// open the document, offers to share it. Screenshots of the list and the "@" menu.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startTandem, launch, signUp, apiAs, waitSaved, shots } from './harness.mjs'

let server, browser
before(async () => { server = await startTandem({ args: ['--auth', 'accounts'] }); browser = await launch() })
after(async () => { await browser?.close(); server?.cleanup() })

test('a mention notifies the person named, live, in another browser', async () => {
  const A = await signUp(browser, server.url, 'ann@example.org', 'Ann Example')
  const B = await signUp(browser, server.url, 'bob@example.org', 'Bob Builder')
  const C = await signUp(browser, server.url, 'cy@example.org', 'Cy Twombly')
  const doc = (await apiAs(server.url, A.token, 'POST', '/api/docs', { title: 'Launch notes' })).id
  await apiAs(server.url, A.token, 'POST', `/api/docs/${doc}/shares`, { email: 'bob@example.org', role: 'editor' })
  // Cy and Ann share another document: Ann may mention Cy, who cannot open this one.
  const cys = (await apiAs(server.url, C.token, 'POST', '/api/docs', { title: "Cy's" })).id
  await apiAs(server.url, C.token, 'POST', `/api/docs/${cys}/shares`, { email: 'ann@example.org', role: 'viewer' })

  // Bob waits on his home page: one unread (the share).
  await B.page.goto(server.url)
  const count = B.page.getByTestId('unread-count')
  await count.filter({ hasText: '1' }).waitFor()

  await A.page.goto(`${server.url}/d/${doc}`)
  await A.page.getByTestId('editor').click()
  await A.page.keyboard.type('Over to @Bo')
  const menu = A.page.getByTestId('mention-menu')
  await menu.getByText('Bob Builder').waitFor()
  assert.match(await menu.innerText(), /can edit/)
  await shots(A.page, 'mention-menu')
  await A.page.keyboard.press('Enter')
  await A.page.keyboard.type('for review.')
  await waitSaved(A.page)
  const mention = A.page.locator('.prose .mention')
  assert.equal(await mention.innerText(), '@Bob Builder')

  // Bob's bell counts it without a reload; the list names Ann, the document and the mention.
  await count.filter({ hasText: '2' }).waitFor({ timeout: 10_000 })
  await B.page.getByTestId('bell').click()
  const first = B.page.getByTestId('notification').first()
  await first.filter({ hasText: 'Ann Example mentioned you in “Launch notes”' }).waitFor()
  await shots(B.page, 'notifications')
  await first.click()
  await B.page.waitForURL(u => u.pathname === `/d/${doc}`)
  // At the mention itself: scrolled to and outlined for a moment.
  await B.page.locator('.prose .mention.flash', { hasText: '@Bob Builder' }).waitFor()
  await count.filter({ hasText: '1' }).waitFor()
  // Mark all read clears the count.
  await B.page.getByTestId('bell').click()
  await B.page.getByTestId('mark-all-read').click()
  await count.waitFor({ state: 'detached' })
  await B.page.keyboard.press('Escape')

  // Cy cannot open the document: the mention offers to share it, and sharing reaches Cy.
  await A.page.keyboard.type(' And @Cy')
  await menu.getByText('cannot open this document').waitFor()
  await A.page.keyboard.press('Enter')
  const offer = A.page.getByTestId('mention-no-access')
  await offer.waitFor()
  assert.match(await offer.innerText(), /Cy Twombly cannot open this document/)
  await shots(A.page, 'mention-offer')
  await A.page.getByTestId('share-mentioned').click()
  await A.page.getByTestId('share-offer-result').filter({ hasText: 'Shared with Cy Twombly' }).waitFor()
  await waitSaved(A.page)
  let kinds = []
  for (let i = 0; i < 50 && kinds.length < 2; i++) {
    const page = await apiAs(server.url, C.token, 'GET', '/api/notifications')
    kinds = page.notifications.filter(n => n.doc === doc).map(n => n.kind).sort()
    if (kinds.length < 2) await new Promise(resolve => setTimeout(resolve, 100))
  }
  assert.deepEqual(kinds, ['mention', 'share'])
})
