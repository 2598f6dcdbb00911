// Single sign-on in Chromium against a small OpenID provider started here: the real redirect
// flow signs a new person in (an account made from the verified email) and back to the page they
// started on; a forged state, a wrong nonce, an expired ID token, a wrong audience and an
// unverified email are each refused with a message and no session. With password sign-in turned
// off, the sign-in page offers only single sign-on and the password API refuses. Screenshots of
// the sign-in page with the button, at both widths, light and dark.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { startTandem, launch, apiAs, shots } from './harness.mjs'
import { startProvider } from './oidc-provider.mjs'

let op, server, browser
const freePort = () => new Promise(resolve => {
  const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)) })
})

before(async () => {
  op = await startProvider()
  const port = await freePort()
  server = await startTandem({
    port,
    args: ['--auth', 'accounts', '--public-url', `http://127.0.0.1:${port}`, '--oidc-issuer', op.issuer,
      '--oidc-client-id', 'tandem', '--oidc-client-secret', 'provider-secret']
  })
  browser = await launch()
})
after(async () => { await browser?.close(); server?.cleanup(); await op?.close() })

/** A fresh browser that clicks "Sign in with single sign-on" on `path`; resolves with the page. */
async function viaSso (path = '/') {
  const context = await browser.newContext()
  const page = await context.newPage()
  await page.goto(server.url + path)
  await page.getByTestId('sso').click()
  return { context, page }
}

test('a person signs in with single sign-on and lands where they began', async () => {
  op.mode = 'ok'
  // The first person becomes the administrator; make one so Ann is an ordinary new account.
  const first = await fetch(`${server.url}/api/auth/signup`, {
    method: 'POST', headers: { 'content-type': 'application/json', origin: server.url },
    body: JSON.stringify({ email: 'admin@example.org', password: 'correct horse battery' })
  })
  assert.equal(first.status, 201)
  const admin = (await first.json()).access_token
  const doc = (await apiAs(server.url, admin, 'POST', '/api/docs', { title: 'Welcome' })).id
  await apiAs(server.url, admin, 'POST', `/api/docs/${doc}/shares`, { email: 'ann@example.org', role: 'editor' })

  const signin = await browser.newPage()
  await signin.goto(`${server.url}/d/${doc}`)
  await signin.getByTestId('sso').waitFor()
  await shots(signin, 'sso-signin')
  await signin.close()

  const { context, page } = await viaSso(`/d/${doc}`)
  await page.waitForURL(u => u.pathname === `/d/${doc}`)
  await page.locator('.ProseMirror').waitFor()
  const me = await page.evaluate(async () => (await (await fetch('/api/auth/refresh', { method: 'POST' })).json()).user)
  assert.equal(me.email, 'ann@example.org')
  assert.equal(me.name, 'Ann Example')
  assert.equal(op.tokenRequests, 1)
  await context.close()
})

for (const [mode, message] of [
  ['forged-state', /does not match the sign-in started here/],
  ['wrong-nonce', /nonce/i],
  ['expired', /expired/i],
  ['wrong-aud', /audience/i],
  ['unverified', /not verified/]
]) {
  test(`single sign-on refuses ${mode}`, async () => {
    op.mode = mode
    const { context, page } = await viaSso('/')
    const alert = page.getByRole('alert')
    await alert.waitFor()
    assert.match(await alert.innerText(), message)
    assert.match(await alert.innerText(), /Single sign-on did not work/)
    assert.ok(!page.url().includes('sso_error'), 'the reason is taken off the address')
    // No session: the refresh cookie was never set.
    const status = await page.evaluate(async () => (await fetch('/api/auth/refresh', { method: 'POST' })).status)
    assert.equal(status, 401)
    await page.getByTestId('sso').waitFor()
    await context.close()
  })
}

test('with password sign-in off, only single sign-on is offered and the password API refuses', async () => {
  const port = await freePort()
  const sso = await startTandem({
    port,
    args: ['--auth', 'accounts', '--public-url', `http://127.0.0.1:${port}`, '--oidc-issuer', op.issuer,
      '--oidc-client-id', 'tandem', '--oidc-client-secret', 'provider-secret', '--password-login', 'false']
  })
  try {
    op.mode = 'ok'
    const config = await (await fetch(`${sso.url}/api/auth/config`)).json()
    assert.equal(config.sso, true)
    assert.equal(config.password_login, false)
    const refused = await fetch(`${sso.url}/api/auth/signup`, {
      method: 'POST', headers: { 'content-type': 'application/json', origin: sso.url },
      body: JSON.stringify({ email: 'eve@example.org', password: 'correct horse battery' })
    })
    assert.equal(refused.status, 403)
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(sso.url)
    await page.getByTestId('sso').waitFor()
    assert.equal(await page.getByTestId('signin-form').count(), 0)
    await page.getByTestId('sso').click()
    await page.getByTestId('new-doc').waitFor()
    await context.close()
  } finally {
    sso.cleanup()
  }
})
