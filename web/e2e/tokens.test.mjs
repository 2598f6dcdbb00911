// The account page in Chromium: reached from one's name, it makes an API token (shown once),
// which then works as a bearer token within its scope; it lists the token with its last use,
// revokes it after asking (the token stops working), and turns a kind of email off and on.
// Screenshots of the page at both widths, light and dark.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startTandem, launch, signUp, apiAs, shots } from './harness.mjs'

let server, browser
before(async () => { server = await startTandem({ args: ['--auth', 'accounts'] }); browser = await launch() })
after(async () => { await browser?.close(); server?.cleanup() })

const asToken = async (token, method, path, body) => {
  const r = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined
  })
  return r.status
}

test('a person makes, uses and revokes an API token from the account page', async () => {
  const A = await signUp(browser, server.url, 'ann@example.org', 'Ann Example')
  await apiAs(server.url, A.token, 'POST', '/api/docs', { title: 'Quarterly plan' })
  await A.page.goto(server.url)
  await A.page.getByTestId('me').click()
  await A.page.waitForURL(u => u.pathname === '/account')
  await A.page.getByTestId('no-tokens').waitFor()

  await A.page.getByTestId('token-name').fill('Backup script')
  await A.page.getByRole('button', { name: 'Create token' }).click()
  const token = await A.page.getByTestId('new-token').inputValue()
  assert.match(token, /^tdm_/)
  const row = A.page.getByTestId('token').filter({ hasText: 'Backup script' })
  await row.waitFor()
  assert.match(await row.innerText(), /read/)

  // Within its scope: it reads, it may not write.
  assert.equal(await asToken(token, 'GET', '/api/docs'), 200)
  assert.equal(await asToken(token, 'POST', '/api/docs', { title: 'x' }), 403)
  await A.page.reload()
  // Its last use is shown (the fourth column: name, scopes, created, last used).
  await row.waitFor()
  assert.notEqual(await row.locator('td').nth(3).innerText(), 'Never')

  // Email: mentions off, then on again, as the server keeps it.
  const settled = async want => {
    for (let i = 0; i < 50; i++) {
      const muted = (await apiAs(server.url, A.token, 'GET', '/api/me/email')).muted
      if (JSON.stringify(muted) === JSON.stringify(want)) return
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    assert.fail(`email settings never became ${JSON.stringify(want)}`)
  }
  await A.page.getByTestId('email-mention').uncheck()
  await settled(['mention'])
  await shots(A.page, 'account')
  await A.page.getByTestId('email-mention').check()
  await settled([])

  // Revoking asks first; then the token stops working.
  await row.getByRole('button', { name: 'Revoke' }).click()
  await row.getByTestId('revoke-confirm').click()
  await A.page.getByTestId('no-tokens').waitFor()
  assert.equal(await asToken(token, 'GET', '/api/docs'), 401)
})
