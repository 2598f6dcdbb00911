// Accessibility: axe-core (WCAG 2.1 A and AA rules) finds no serious or critical violation on the
// sign-in page, the home page, an editor holding a table, an image and a comment (light and dark),
// the share dialog, the webhooks dialog, the account page, version history, the comments panel, the home with a document and search
// results; a keyboard-only session creates a
// document, formats text, inserts a table, and opens and leaves Share and History without a
// mouse; the live region tells a screen reader who joins and leaves and whether work is saved.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { AxeBuilder } from '@axe-core/playwright'
import { startTandem, launch, signUp, waitSaved } from './harness.mjs'

let server, browser
before(async () => { server = await startTandem({ args: ['--auth', 'accounts'] }); browser = await launch() })
after(async () => { await browser?.close(); server?.cleanup() })

/** Serious and critical violations on the page as it is now, described for the failure message. */
async function axe (page, what) {
  const { violations } = await new AxeBuilder({ page })
    .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'])
    .exclude('.collaboration-carets__label') // other people's caret names: decorations of the text
    .analyze()
  const bad = violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
  const text = bad.map(v => `${what}: ${v.id} (${v.impact}) ${v.help}\n  ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join('\n  ')}`)
  assert.deepEqual(text, [], text.join('\n'))
  return violations.length
}

const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64')

test('axe finds no serious or critical violation on any page', async () => {
  const context = await browser.newContext()
  const page = await context.newPage()
  await page.goto(server.url)
  await page.getByTestId('signin-form').waitFor()
  await axe(page, 'sign-in')
  await context.close()

  const A = await signUp(browser, server.url, 'ann@example.org', 'Ann')
  await axe(A.page, 'home')
  await A.page.getByTestId('new-doc').click()
  await A.page.getByTestId('editor').waitFor()
  await waitSaved(A.page)
  await A.page.getByTestId('editor').click()
  await A.page.keyboard.type('Budget notes for the quarter')
  await A.page.getByTestId('tb-table').dispatchEvent('mousedown')
  await A.page.getByTestId('table-2x3').click()
  await A.page.keyboard.type('Item')
  await A.page.getByTestId('file-input').setInputFiles({ name: 'dot.png', mimeType: 'image/png', buffer: PNG })
  await A.page.locator('.prose img[src]').waitFor()
  // A comment on the first words.
  // (A double click is ProseMirror's own selection, at once; the bubble shows once it has it.)
  await A.page.locator('.prose p').first().dblclick({ position: { x: 12, y: 8 } })
  await A.page.getByTestId('selection-bubble').waitFor()
  await A.page.getByTestId('comment').dispatchEvent('mousedown')
  await A.page.getByTestId('new-comment').locator('textarea').fill('Check the totals')
  await A.page.getByTestId('new-comment').getByRole('button', { name: 'Comment' }).click()
  await A.page.locator('.comment-highlight').first().waitFor()
  await waitSaved(A.page)
  for (const scheme of ['light', 'dark']) {
    await A.page.emulateMedia({ colorScheme: scheme })
    await axe(A.page, `editor with comments (${scheme})`)
  }
  await A.page.emulateMedia({ colorScheme: 'light' })
  await A.page.getByTestId('comments-close').click()
  await A.page.getByTestId('share').click()
  await A.page.getByTestId('share-dialog').waitFor()
  await axe(A.page, 'share dialog')
  await A.page.keyboard.press('Escape')
  await A.page.getByTestId('webhooks-open').click()
  await A.page.getByTestId('webhooks-dialog').waitFor()
  await axe(A.page, 'webhooks dialog')
  await A.page.keyboard.press('Escape')
  await A.page.getByTestId('history').click()
  await A.page.getByTestId('history-panel').locator('[data-testid^=version-]').first().click()
  await A.page.locator('[data-testid=versions] li.selected').waitFor()
  await axe(A.page, 'history')
  // The home with documents, views and stars; then search results, as the index has them.
  await A.page.goto(server.url)
  await A.page.getByTestId('doc-list').waitFor()
  await axe(A.page, 'home with a document')
  await A.page.getByTestId('search').fill('budg')
  await A.page.getByTestId('search-results').waitFor({ timeout: 15_000 })
  for (const scheme of ['light', 'dark']) {
    await A.page.emulateMedia({ colorScheme: scheme })
    await axe(A.page, `search results (${scheme})`)
  }
  // The bell's list (empty: nothing has happened to Ann yet).
  await A.page.emulateMedia({ colorScheme: 'light' })
  await A.page.keyboard.press('Escape')
  await A.page.getByTestId('bell').click()
  await A.page.getByTestId('notifications').waitFor()
  for (const scheme of ['light', 'dark']) {
    await A.page.emulateMedia({ colorScheme: scheme })
    await axe(A.page, `notifications (${scheme})`)
  }
  // The account page, with a token listed.
  await A.page.emulateMedia({ colorScheme: 'light' })
  await A.page.keyboard.press('Escape')
  await A.page.goto(`${server.url}/account`)
  await A.page.getByTestId('token-name').fill('CI')
  await A.page.getByRole('button', { name: 'Create token' }).click()
  await A.page.getByTestId('token').waitFor()
  for (const scheme of ['light', 'dark']) {
    await A.page.emulateMedia({ colorScheme: scheme })
    await axe(A.page, `account (${scheme})`)
  }
  await A.context.close()
})

/** Presses `key` until the focused element has `testid` (at most `max` presses). */
async function tabTo (page, testid, key = 'Tab', max = 40) {
  for (let i = 0; i < max; i++) {
    if (await page.evaluate(id => document.activeElement?.getAttribute('data-testid') === id, testid)) return
    await page.keyboard.press(key)
  }
  assert.fail(`${key} never reached ${testid}; focus is on ${await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 120))}`)
}

test('keyboard only: a new document, formatted text, a table, Share and History', async () => {
  const A = await signUp(browser, server.url, 'kim@example.org', 'Kim')
  const page = A.page
  // From here on, no mouse.
  await tabTo(page, 'new-doc')
  await page.keyboard.press('Enter')
  await page.getByTestId('editor').waitFor()
  await waitSaved(page)
  await page.evaluate(() => document.activeElement?.blur())
  await tabTo(page, 'title')
  await page.keyboard.type('Keyboard plan')
  await page.keyboard.press('Enter') // from the title into the text
  await page.keyboard.type('Hello world')
  await page.keyboard.press('Shift+Control+ArrowLeft')
  // The browser moves the selection; ProseMirror reads it on its next selectionchange (a person
  // is never faster than that, a script is).
  await page.waitForFunction(() => getSelection()?.toString() === 'world')
  await page.waitForTimeout(100)
  await page.keyboard.press('Control+b')
  await page.locator('.prose strong', { hasText: 'world' }).waitFor({ timeout: 5000 })
  await page.keyboard.press('End')
  await page.keyboard.press('Enter')

  // Back from the text to the toolbar, the table picker, a 2 × 3 table by arrows.
  await tabTo(page, 'tb-table', 'Shift+Tab', 10)
  await page.keyboard.press('Enter')
  await page.getByTestId('table-picker-size').waitFor()
  await page.keyboard.press('ArrowUp')
  assert.equal(await page.getByTestId('table-picker-size').textContent(), '2 × 3')
  await page.keyboard.press('Enter')
  await page.locator('.prose table').waitFor()
  await page.keyboard.type('Name')
  await page.keyboard.press('Tab')
  await page.keyboard.type('Owner')
  await page.waitForFunction(() => document.querySelector('.prose table th:nth-child(2)')?.textContent === 'Owner')
  assert.equal(await page.locator('.prose table tr').count(), 2)
  await waitSaved(page)

  // Share opens with the focus inside it; Escape leaves it, back on the Share button.
  await tabTo(page, 'share', 'Shift+Tab')
  await page.keyboard.press('Enter')
  await page.getByTestId('share-dialog').waitFor()
  assert.ok(await page.evaluate(() => document.querySelector('[data-testid=share-dialog]').contains(document.activeElement)), 'focus in the dialog')
  await page.keyboard.press('Escape')
  await page.getByTestId('share-dialog').waitFor({ state: 'detached' })
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-testid')), 'share')

  // History the same way.
  await tabTo(page, 'history', 'Shift+Tab')
  await page.keyboard.press('Enter')
  await page.getByTestId('history-panel').waitFor()
  assert.ok(await page.evaluate(() => document.querySelector('[data-testid=history-panel]').contains(document.activeElement)), 'focus in history')
  await page.keyboard.press('Escape')
  await page.getByTestId('history-panel').waitFor({ state: 'detached' })
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-testid')), 'history')
  await A.context.close()
})

test('a screen reader hears who joins and leaves, and the save state', async () => {
  const A = await signUp(browser, server.url, 'lee@example.org', 'Lee')
  const B = await signUp(browser, server.url, 'max@example.org', 'Max')
  const doc = await A.page.evaluate(async () => {
    const r = await fetch('/api/auth/refresh', { method: 'POST' })
    const { access_token: t } = await r.json()
    const d = await fetch('/api/docs', { method: 'POST', headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' }, body: '{"title":"Live"}' })
    const { id } = await d.json()
    await fetch(`/api/docs/${id}/shares`, { method: 'POST', headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' }, body: '{"email":"max@example.org","role":"editor"}' })
    return id
  })
  await A.page.goto(`${server.url}/d/${doc}`)
  await waitSaved(A.page)
  const live = A.page.getByTestId('announcer')
  assert.equal(await live.getAttribute('aria-live'), 'polite')
  await B.page.goto(`${server.url}/d/${doc}`)
  await waitSaved(B.page)
  await live.filter({ hasText: 'Max joined' }).waitFor({ timeout: 10_000 })
  await B.context.close()
  await live.filter({ hasText: 'Max left' }).waitFor({ timeout: 40_000 })
  await A.context.setOffline(true)
  await A.page.evaluate(() => dispatchEvent(new Event('offline')))
  await live.filter({ hasText: 'Offline' }).waitFor({ timeout: 10_000 })
  await A.context.setOffline(false)
  await A.page.evaluate(() => dispatchEvent(new Event('online')))
  await live.filter({ hasText: 'All changes saved' }).waitFor({ timeout: 15_000 })
  await A.context.close()
})
