// Webhooks from the owner's side, in Chromium: add one pointing at a receiver this test runs on
// 127.0.0.1 (the server runs with --webhook-allow-private), see its secret once, send a test and
// find it signed at the receiver, see an edit arrive, read the delivery log, turn it off and on,
// and delete it after saying so. An editor sees no Webhooks button. Screenshots of the dialog.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { createHmac, timingSafeEqual } from 'node:crypto'
import { startTandem, launch, signUp, apiAs, waitSaved, shots } from './harness.mjs'

let server, browser, receiver
const received = []
before(async () => {
  server = await startTandem({ args: ['--auth', 'accounts', '--webhook-allow-private'] })
  browser = await launch()
  receiver = createServer((req, res) => {
    const chunks = []
    req.on('data', c => chunks.push(c))
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString() })
      res.writeHead(204).end()
    })
  })
  await new Promise(resolve => receiver.listen(0, '127.0.0.1', resolve))
})
after(async () => { await browser?.close(); server?.cleanup(); receiver?.close() })

// What a receiver does: HMAC-SHA256 of "<t>.<body>" under the secret, compared in constant time.
function verify (secret, { headers, body }) {
  const parts = Object.fromEntries(headers['tandem-signature'].split(',').map(p => p.split('=')))
  const expected = createHmac('sha256', secret).update(`${parts.t}.${body}`).digest()
  const given = Buffer.from(parts.v1, 'hex')
  return given.length === expected.length && timingSafeEqual(given, expected)
}

async function until (f, ms = 10_000) {
  const end = Date.now() + ms
  while (!f()) {
    if (Date.now() > end) throw new Error(`not in ${ms} ms: ${JSON.stringify(received.map(r => r.body))}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

test('an owner adds, tests, reads, turns off and deletes a webhook', async () => {
  const A = await signUp(browser, server.url, 'ann@example.org', 'Ann Example')
  const B = await signUp(browser, server.url, 'bob@example.org', 'Bob Builder')
  const doc = (await apiAs(server.url, A.token, 'POST', '/api/docs', { title: 'Release notes' })).id
  await apiAs(server.url, A.token, 'POST', `/api/docs/${doc}/shares`, { email: 'bob@example.org', role: 'editor' })

  await A.page.goto(`${server.url}/d/${doc}`)
  await A.page.getByTestId('webhooks-open').click()
  const dialog = A.page.getByTestId('webhooks-dialog')
  await dialog.getByTestId('no-webhooks').waitFor()
  const url = `http://127.0.0.1:${receiver.address().port}/tandem`
  await dialog.getByTestId('webhook-url').fill(url)
  await dialog.getByTestId('webhook-event-comment').check()
  await dialog.getByRole('button', { name: 'Add webhook' }).click()
  const secret = await dialog.getByTestId('webhook-secret').inputValue()
  assert.match(secret, /^whsec_/)
  const hook = dialog.getByTestId('webhook')
  await hook.filter({ hasText: url }).waitFor()
  assert.equal(await hook.getByTestId('webhook-state').innerText(), 'On')

  // The test button: delivered, signed with the secret shown.
  await hook.getByTestId('webhook-test').click()
  await dialog.getByTestId('webhook-test-result').filter({ hasText: 'Test delivered' }).waitFor()
  await until(() => received.some(r => JSON.parse(r.body).event === 'ping'))
  const ping = received.find(r => JSON.parse(r.body).event === 'ping')
  assert.ok(verify(secret, ping), 'the ping is signed with the secret shown once')
  assert.ok(!verify(`${secret}x`, ping))

  // An edit arrives as a range of saved revisions.
  await dialog.getByRole('button', { name: 'Close' }).click()
  await A.page.getByTestId('editor').click()
  await A.page.keyboard.type('Shipped on Friday.')
  await waitSaved(A.page)
  await until(() => received.some(r => JSON.parse(r.body).event === 'changed'))
  const changed = JSON.parse(received.find(r => JSON.parse(r.body).event === 'changed').body)
  assert.equal(changed.doc, doc)
  assert.ok(changed.to_rev >= changed.from_rev)

  // The log names both; turning it off and on shows; an editor has no way in.
  await A.page.getByTestId('webhooks-open').click()
  await hook.getByRole('button', { name: 'Deliveries' }).click()
  const log = dialog.getByTestId('webhook-log')
  await log.getByText('ping').waitFor()
  await log.getByText(/changed \d+–\d+/).first().waitFor()
  await shots(A.page, 'webhooks')
  await hook.getByTestId('webhook-toggle').click()
  await hook.getByTestId('webhook-state').filter({ hasText: 'Off' }).waitFor()
  await hook.getByTestId('webhook-toggle').click()
  await hook.getByTestId('webhook-state').filter({ hasText: 'On' }).waitFor()

  await B.page.goto(`${server.url}/d/${doc}`)
  await B.page.getByTestId('editor').waitFor()
  assert.equal(await B.page.getByTestId('webhooks-open').count(), 0, 'editors do not manage webhooks')

  // Deleting asks first.
  await hook.getByRole('button', { name: 'Delete' }).click()
  await hook.getByTestId('webhook-delete-confirm').click()
  await dialog.getByTestId('no-webhooks').waitFor()
})
