// Sharing as people expect it: a document one cannot open says so (and lets them ask for
// access, which reaches the owner); the share dialog is a real dialog (focus kept inside, Escape
// closes) with roles changed in place, labelled link expiry and a Copy button; a commenter is
// labelled "Can comment".
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { startTandem, launch, waitSaved, signUp, artifacts } from './harness.mjs'

let server, browser, ann, bob, doc
before(async () => {
  server = await startTandem({ args: ['--auth', 'accounts'] })
  browser = await launch()
  ann = await signUp(browser, server.url, 'ann@example.org', 'Ann')
  bob = await signUp(browser, server.url, 'bob@example.org', 'Bob')
  await ann.page.getByTestId('new-doc').click()
  await ann.page.getByTestId('editor').waitFor()
  doc = decodeURIComponent(ann.page.url().split('/d/')[1])
  await ann.page.getByTestId('editor').click()
  await ann.page.keyboard.type('for the team')
  await waitSaved(ann.page)
})
after(async () => { await browser?.close(); server?.cleanup() })

test('a document you cannot open says so, and asking for access reaches the owner', async () => {
  const B = bob.page
  await B.goto(`${server.url}/d/${doc}`)
  await B.getByTestId('no-access').getByText('This document does not exist or you have no access').waitFor()
  assert.equal(await B.getByTestId('editor').count(), 0, 'no editor to type into')
  await B.setViewportSize({ width: 1100, height: 700 })
  await B.screenshot({ path: join(artifacts, 'no-access.png') })
  await B.getByTestId('request-access').click()
  await B.getByTestId('access-requested').waitFor()
  // A document that does not exist looks the same.
  await B.goto(`${server.url}/d/no-such-document`)
  await B.getByTestId('no-access').waitFor()

  const A = ann.page
  await A.getByTestId('share').click()
  const dialog = A.getByTestId('share-dialog')
  const request = dialog.getByTestId('requests').locator('li', { hasText: 'bob@example.org' })
  await request.waitFor()
  await request.getByRole('button', { name: 'Let edit' }).click()
  await dialog.getByTestId('requests').waitFor({ state: 'detached' })
  assert.equal(await dialog.getByLabel('Role of Bob').inputValue(), 'editor')
  await A.keyboard.press('Escape')
  await B.goto(`${server.url}/d/${doc}`)
  await B.getByTestId('editor').getByText('for the team').waitFor()
})

test('the share dialog keeps focus, closes on Escape, changes roles in place and copies links', async () => {
  const A = ann.page
  await A.context().grantPermissions(['clipboard-read', 'clipboard-write'])
  await A.getByTestId('share').click()
  const dialog = A.getByTestId('share-dialog')
  await dialog.waitFor()
  assert.equal(await A.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Email', 'focus starts in the dialog')
  for (let i = 0; i < 25; i++) {
    await A.keyboard.press('Tab')
    assert.ok(await A.evaluate(() => document.activeElement?.closest('[role=dialog]') !== null), `focus left the dialog after ${i + 1} Tabs`)
  }
  await A.keyboard.press('Escape')
  await dialog.waitFor({ state: 'detached' })

  await A.getByTestId('share').click()
  await dialog.getByLabel('Role of Bob').selectOption('commenter')
  await A.waitForFunction(() => document.querySelector('[aria-label="Role of Bob"]')?.value === 'commenter')
  const roleText = await dialog.getByLabel('Role of Bob').locator('option:checked').textContent()
  assert.equal(roleText, 'Can comment')
  assert.equal(await dialog.getByLabel('Link expires').locator('option:checked').textContent(), 'Expires in 7 days')
  await dialog.getByRole('button', { name: 'Create link' }).click()
  const link = await dialog.getByTestId('new-link').inputValue()
  assert.match(link, /\/s\/[A-Za-z0-9_-]+$/)
  await dialog.getByTestId('copy-link').click()
  await dialog.getByTestId('copy-link').filter({ hasText: 'Copied' }).waitFor()
  assert.equal(await A.evaluate(() => navigator.clipboard.readText()), link)
  const expires = await dialog.getByTestId('links').locator('li').first().textContent()
  assert.match(expires, /expires/)
  await A.setViewportSize({ width: 1100, height: 800 })
  await A.screenshot({ path: join(artifacts, 'share-dialog.png') })
  await A.setViewportSize({ width: 375, height: 760 })
  await A.screenshot({ path: join(artifacts, 'share-dialog-phone.png') })
  await A.setViewportSize({ width: 1100, height: 800 })
  await A.keyboard.press('Escape')

  // Bob, now a commenter, is told so in words.
  const B = bob.page
  await B.reload()
  await B.getByTestId('view-only').filter({ hasText: 'Can comment' }).waitFor()
})

test('an email with no account is invited until they sign up; a share link says who shared what before signing in', async () => {
  const A = ann.page
  await A.getByTestId('share').click()
  const dialog = A.getByTestId('share-dialog')
  await dialog.getByLabel('Email', { exact: true }).fill('dora@example.org')
  await dialog.getByLabel('Role', { exact: true }).selectOption('editor')
  await dialog.getByRole('button', { name: 'Add' }).click()
  await dialog.getByTestId('invited').getByText('dora@example.org has no account yet').waitFor()
  await dialog.getByTestId('invitations').locator('li', { hasText: 'dora@example.org' }).getByText('pending').waitFor()
  await dialog.getByLabel('Link role').selectOption('commenter')
  await dialog.getByRole('button', { name: 'Create link' }).click()
  const link = await dialog.getByTestId('new-link').inputValue()
  await A.keyboard.press('Escape')

  // Dora, signed out, opens the link: she is told who shared what before she signs up.
  const context = await browser.newContext()
  const D = await context.newPage()
  await D.goto(link)
  const intro = D.getByTestId('link-preview')
  await intro.waitFor()
  assert.match(await intro.textContent(), /^Ann shared .+ with you \(can comment\)\. Sign in or create an account to open it\.$/)
  await D.getByRole('button', { name: 'Create an account' }).click()
  await D.locator('input[name=email]').fill('dora@example.org')
  await D.locator('input[name=name]').fill('Dora')
  await D.locator('input[name=password]').fill('correct horse battery')
  await D.getByRole('button', { name: 'Create account' }).click()
  await D.getByTestId('editor').getByText('for the team').waitFor()
  // The invitation became her share (an editor: more than the link's role).
  await D.getByTestId('view-only').waitFor({ state: 'detached' })

  await A.getByTestId('share').click()
  await dialog.getByLabel('Role of Dora').waitFor()
  assert.equal(await dialog.getByLabel('Role of Dora').inputValue(), 'editor')
  assert.equal(await dialog.getByTestId('invitations').count(), 0)
  await A.keyboard.press('Escape')
  await context.close()
})

test('owners let editors share, up to editor', async () => {
  const A = ann.page
  const B = bob.page // an editor since the first test… then a commenter: make him an editor again
  await A.getByTestId('share').click()
  const dialog = A.getByTestId('share-dialog')
  await dialog.getByLabel('Role of Bob').selectOption('editor')
  await A.waitForFunction(() => document.querySelector('[aria-label="Role of Bob"]')?.value === 'editor')
  await B.reload()
  await B.getByTestId('editor').waitFor()
  assert.equal(await B.getByTestId('share').count(), 0, 'editors cannot share by default')
  await dialog.getByTestId('editors-can-share').check()
  await A.keyboard.press('Escape')
  await B.reload()
  await B.getByTestId('share').waitFor()
  await B.getByTestId('share').click()
  const bd = B.getByTestId('share-dialog')
  await bd.getByLabel('Role', { exact: true }).waitFor() // the dialog's code loads when first opened
  const options = await bd.getByLabel('Role', { exact: true }).locator('option').allTextContents()
  assert.deepEqual(options, ['Can view', 'Can comment', 'Can edit'], 'up to their own role')
  assert.equal(await bd.getByRole('button', { name: 'Remove' }).count(), 0, 'removing people stays with owners')
  await B.keyboard.press('Escape')
})
