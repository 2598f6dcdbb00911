// Version history in the real browser: two people edit, one opens the history, views an older
// version (with what changed since highlighted), restores it, and the other sees it live.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { startTandem, launch, waitSaved, editorText, signUp, artifacts } from './harness.mjs'

let server, browser
before(async () => { server = await startTandem({ args: ['--auth', 'accounts'] }); browser = await launch() })
after(async () => { await browser?.close(); server?.cleanup() })

test('open history, view an old version, restore it, and see it in a second browser', async () => {
  const ann = await signUp(browser, server.url, 'ann@example.org', 'Ann')
  const bob = await signUp(browser, server.url, 'bob@example.org', 'Bob')
  const A = ann.page
  await A.getByTestId('new-doc').click()
  await A.getByTestId('editor').waitFor()
  const docUrl = A.url()
  await A.getByTestId('share').click()
  const dialog = A.getByTestId('share-dialog')
  await dialog.getByLabel('Email', { exact: true }).fill('bob@example.org')
  await dialog.getByRole('button', { name: 'Add' }).click()
  await dialog.getByTestId('shares').getByText('Bob', { exact: true }).waitFor()
  await dialog.getByRole('button', { name: 'Close' }).click()
  await A.getByTestId('editor').click()
  await A.keyboard.press('Control+b')
  await A.keyboard.type('first')
  await A.keyboard.press('Control+b')
  await A.keyboard.type(' draft by ann')
  await waitSaved(A)

  const B = bob.page
  await B.goto(docUrl)
  await B.getByTestId('editor').getByText('first draft by ann').waitFor()
  await B.getByTestId('editor').click()
  await B.keyboard.press('Control+End')
  await B.keyboard.type(' rewritten by bob')
  await waitSaved(B)
  await A.getByTestId('editor').getByText('first draft by ann rewritten by bob').waitFor()

  // Ann opens the history beside the document: Bob's version on top, hers below it, labelled by
  // time and author, never by revision numbers.
  await A.getByTestId('history').click()
  const panel = A.getByTestId('history-panel')
  const versions = panel.getByTestId('versions').locator('li')
  await versions.nth(1).waitFor()
  assert.match(await versions.nth(0).textContent(), /^Today \d{1,2}:\d\d.*Bob/)
  assert.match(await versions.nth(1).textContent(), /Ann/)
  assert.doesNotMatch(await panel.textContent(), /\brev(ision)? \d/i)
  const side = await A.evaluate(() => {
    const p = document.querySelector('[data-testid=history-panel]').getBoundingClientRect()
    const e = document.querySelector('[data-testid=editor]').getBoundingClientRect()
    return { beside: p.left >= e.right - 1, overlapRows: p.top < e.bottom && e.top < p.bottom }
  })
  assert.ok(side.beside && side.overlapRows, 'the history is a side panel beside the document')
  // Bob's version: the document as it was, formatted, with what that version changed marked.
  await versions.nth(0).getByRole('button').click()
  const view = panel.getByTestId('version-view')
  await view.locator('ins').filter({ hasText: 'rewritten by bob' }).waitFor()
  assert.equal(await view.getByTestId('version-text').locator('strong').textContent(), 'first', 'bold renders as bold')
  assert.equal((await view.getByTestId('version-text').textContent()).replace(/\s+/g, ' ').trim(),
    'first draft by ann rewritten by bob')
  assert.equal(await view.getByTestId('version-text').locator('ins').filter({ hasText: 'first draft' }).count(), 0, 'Ann\'s words are not Bob\'s change')
  // Ann's version: everything in it was new.
  await versions.nth(1).getByRole('button').click()
  await view.locator('strong ins').filter({ hasText: 'first' }).waitFor()
  assert.equal((await view.getByTestId('version-text').locator('ins').allTextContents()).join(''), 'first draft by ann')

  await A.setViewportSize({ width: 1100, height: 900 })
  await A.screenshot({ path: join(artifacts, 'history.png') })
  // Name the old version; the name shows in the list.
  A.once('dialog', d => d.accept('Ann\'s first draft'))
  await view.getByTestId('name-version').click()
  await panel.getByTestId('versions').getByText('Ann\'s first draft').waitFor()

  // Restoring asks first.
  let asked = null
  A.once('dialog', d => { asked = d.message(); void d.accept() })
  await view.getByTestId('restore').click()
  // Both browsers show the restored text; Bob's addition is gone, and nothing was rewritten.
  await B.waitForFunction(() => document.querySelector('[data-testid=editor]').textContent === 'first draft by ann', null, { timeout: 10_000 })
  assert.equal((await editorText(A)).trimEnd(), 'first draft by ann')
  await waitSaved(A)
  await waitSaved(B)
  assert.match(asked, /^Restore the document as it was at Today .*, Ann\?/)
  // The restore is itself a version, and it can be undone from the notice it leaves: Bob's
  // edit comes back for everyone.
  await panel.getByTestId('versions').locator('li').nth(2).waitFor()
  await panel.getByTestId('restored').getByText(/^Restored from /).waitFor()
  // The list says it too, by time and author.
  await panel.getByTestId('versions').getByText(/^Restored from Today .*, Ann$/).waitFor()
  await panel.getByTestId('undo-restore').click()
  await B.waitForFunction(() => document.querySelector('[data-testid=editor]').textContent === 'first draft by ann rewritten by bob', null, { timeout: 10_000 })
  assert.equal((await editorText(A)).trimEnd(), 'first draft by ann rewritten by bob')
  await panel.getByTestId('restored').waitFor({ state: 'detached' })
  await ann.context.close()
  await bob.context.close()
})
