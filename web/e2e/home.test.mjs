// The home: an empty state for a new account; each document with its owner, a shared badge, who
// edited it last and when; sorting; renaming and deleting from a row's menu (deleting asks
// first). Screenshots at desktop and phone widths, light and dark, go to e2e/artifacts.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startTandem, launch, signUp, apiAs, shots } from './harness.mjs'

let server, browser
before(async () => { server = await startTandem({ args: ['--auth', 'accounts'] }); browser = await launch() })
after(async () => { await browser?.close(); server?.cleanup() })

const api = (token, method, path, body) => apiAs(server.url, token, method, path, body)

test('the home organizes documents: owners, sharing, sort, a row menu, an empty state', async () => {
  const A = await signUp(browser, server.url, 'ann@example.org', 'Ann Example')
  // A new account: an empty state that says what to do.
  await A.page.getByTestId('empty-state').waitFor()
  await shots(A.page, 'home-empty')

  const B = await signUp(browser, server.url, 'bo@example.org', 'Bo Example')
  const plan = (await api(A.token, 'POST', '/api/docs', { title: 'Roadmap' })).id
  await api(A.token, 'POST', '/api/docs', { title: 'Budget' })
  await api(A.token, 'POST', `/api/docs/${plan}/shares`, { email: 'bo@example.org', role: 'editor' })
  await api(B.token, 'POST', '/api/docs', { title: 'Bo’s notes' })

  await A.page.reload()
  const list = A.page.getByTestId('doc-list')
  const row = t => list.locator('li', { hasText: t })
  await row('Budget').waitFor()
  assert.match(await row('Roadmap').innerText(), /Owned by you/)
  assert.equal(await row('Roadmap').getByTestId('shared-badge').count(), 1, 'shared with Bo')
  assert.equal(await row('Budget').getByTestId('shared-badge').count(), 0)
  assert.equal(await list.locator('input').count(), 0, 'no edit box on any row')

  // Bo sees who owns what he was given.
  await B.page.reload()
  await B.page.getByTestId('doc-list').locator('li', { hasText: 'Roadmap' }).waitFor()
  assert.match(await B.page.getByTestId('doc-list').locator('li', { hasText: 'Roadmap' }).innerText(), /Owned by Ann Example[\s\S]*editor/)

  // Sort by name; the choice is remembered.
  await A.page.getByTestId('sort').selectOption('name')
  assert.deepEqual(await list.locator('li > a').allInnerTexts(), ['Budget', 'Roadmap'])
  await A.page.reload()
  await list.locator('li > a').first().waitFor()
  assert.deepEqual(await list.locator('li > a').allInnerTexts(), ['Budget', 'Roadmap'])

  // Rename from the row's menu, by keyboard.
  await row('Budget').getByTestId('row-menu').focus()
  await A.page.keyboard.press('Enter')
  await A.page.getByRole('menuitem', { name: 'Rename' }).waitFor()
  await shots(A.page, 'home')
  await A.page.keyboard.press('Enter')
  await A.page.getByTestId('rename').fill('Budget 2027')
  await A.page.keyboard.press('Enter')
  await row('Budget 2027').locator('a').waitFor()

  // Delete asks first; dismissing keeps it, accepting deletes it.
  A.page.once('dialog', d => d.dismiss())
  await row('Budget 2027').getByTestId('row-menu').click()
  await A.page.getByRole('menuitem', { name: 'Delete' }).click()
  await A.page.waitForTimeout(300)
  assert.equal(await row('Budget 2027').count(), 1, 'kept when the question is dismissed')
  A.page.once('dialog', d => d.accept())
  await row('Budget 2027').getByTestId('row-menu').click()
  await A.page.getByRole('menuitem', { name: 'Delete' }).click()
  await row('Budget 2027').waitFor({ state: 'detached' })
  assert.deepEqual(await list.locator('li > a').allInnerTexts(), ['Roadmap'])
  // Bo may not delete Ann's document: his menu has no Delete.
  await B.page.getByTestId('doc-list').locator('li', { hasText: 'Roadmap' }).getByTestId('row-menu').click()
  assert.equal(await B.page.getByRole('menuitem', { name: 'Delete' }).count(), 0)
  for (const p of [A, B]) await p.context.close()
})
