// "Anyone with the link can view": an owner makes a public link in the share dialog; a browser
// with no account opens it, views the document as a guest with a generated name (the owner sees
// the guest arrive), cannot edit, and is shut out the moment the owner revokes the link.
// Screenshots of the link's page, desktop and phone, light and dark.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startTandem, launch, signUp, apiAs, waitSaved, shots } from './harness.mjs'

let server, browser
before(async () => { server = await startTandem({ args: ['--auth', 'accounts'] }); browser = await launch() })
after(async () => { await browser?.close(); server?.cleanup() })

test('a public link opens in a browser with no account, view only, until revoked', async () => {
  const A = await signUp(browser, server.url, 'ann@example.org', 'Ann Example')
  const doc = (await apiAs(server.url, A.token, 'POST', '/api/docs', { title: 'Launch notes' })).id
  await A.page.goto(`${server.url}/d/${doc}`)
  await A.page.getByTestId('editor').click()
  await A.page.keyboard.type('Everyone may read this.')
  await waitSaved(A.page)

  // The owner makes the link in the share dialog.
  await A.page.getByTestId('share').click()
  await A.page.getByTestId('share-dialog').waitFor()
  await A.page.getByTestId('link-public').check()
  await A.page.getByRole('button', { name: 'Create link' }).click()
  const url = await A.page.getByTestId('new-link').inputValue()
  await A.page.getByTestId('public-badge').waitFor()
  await A.page.keyboard.press('Escape')

  // Someone with no account opens it.
  const context = await browser.newContext()
  const page = await context.newPage()
  await page.goto(url)
  await page.getByTestId('view-as-guest').waitFor()
  assert.match(await page.getByTestId('link-preview').innerText(), /Ann Example shared Launch notes with anyone/)
  await shots(page, 'public-link')
  await page.getByTestId('view-as-guest').click()
  await page.waitForURL(u => u.pathname === `/d/${doc}`)
  await page.getByTestId('editor').filter({ hasText: 'Everyone may read this.' }).waitFor()
  assert.equal(await page.getByTestId('editor').getAttribute('contenteditable'), 'false', 'view only')
  // The owner sees a guest arrive, under a generated name.
  await A.page.getByTestId('presence').filter({ hasText: /Guest \w+/ }).waitFor()

  // The owner's dialog lists the guest without an address or a role to change.
  await A.page.getByTestId('share').click()
  const guestRow = A.page.getByTestId('shares').locator('li', { hasText: 'guest, no account' })
  await guestRow.waitFor()
  assert.match(await guestRow.innerText(), /^Guest \w+/)
  assert.equal(await guestRow.locator('select').count(), 0)
  assert.doesNotMatch(await A.page.getByTestId('shares').innerText(), /guest\.invalid/)
  await shots(A.page, 'share-public-link')
  // Revoked: the guest's view closes.
  await A.page.getByTestId('links').getByRole('button', { name: 'Revoke' }).click()
  await page.getByText(/access|removed|revoked|no longer/i).first().waitFor({ timeout: 10_000 })
  await context.close()
})
