// The small things a new team notices first: the title (a placeholder, Enter moves to the text, a
// rename reaches everyone at once), the list says when each document was last edited, the
// password rule shows before the first try, task checkboxes sit on their line, and an empty
// paragraph is one line high.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startTandem, launch, openEditor, waitSaved, editorText } from './harness.mjs'

let server, browser
before(async () => { server = await startTandem(); browser = await launch() })
after(async () => { await browser?.close(); server?.cleanup() })

test('a new document has an empty title with a placeholder; Enter moves to the text; a rename reaches everyone at once', async () => {
  const context = await browser.newContext()
  const page = await context.newPage()
  await page.goto(server.url)
  await page.getByTestId('new-doc').click()
  await page.getByTestId('editor').waitFor()
  const title = page.getByLabel('Title')
  assert.equal(await title.inputValue(), '', 'not prefilled')
  assert.equal(await title.getAttribute('placeholder'), 'Untitled document')
  const doc = decodeURIComponent(page.url().split('/d/')[1])
  const B = await openEditor(browser, server.url, doc, 'Bob')
  await title.click()
  await page.keyboard.type('Launch checklist')
  await page.keyboard.press('Enter')
  await page.keyboard.type('first line')
  await waitSaved(page)
  assert.equal(await editorText(page), 'first line', 'Enter moved to the text')
  // Bob sees the new title without reloading.
  await B.page.waitForFunction(() => document.querySelector('[aria-label=Title]')?.value === 'Launch checklist', null, { timeout: 5000 })
  // The list says when it was last edited.
  await page.goto(server.url)
  const row = page.getByTestId('doc-list').locator('li', { hasText: 'Launch checklist' })
  assert.match(await row.locator('time').textContent(), /^Edited today /)
  await B.context.close()
  await context.close()
})

test('task checkboxes sit on the line of their text, and an empty paragraph is one line high', async () => {
  const context = await browser.newContext()
  const page = await context.newPage()
  await page.goto(server.url)
  await page.getByTestId('new-doc').click()
  const editor = page.getByTestId('editor')
  await editor.click()
  await page.keyboard.type('above')
  await page.keyboard.press('Enter')
  await page.keyboard.press('Enter')
  await page.keyboard.type('below')
  await page.keyboard.press('Enter')
  await page.getByTestId('tb-task').dispatchEvent('mousedown')
  await page.keyboard.type('write the brief')
  const box = await editor.locator('ul[data-type=taskList] li').first().evaluate(li => {
    const check = li.querySelector('input[type=checkbox]').getBoundingClientRect()
    const text = li.querySelector('p').getBoundingClientRect()
    return { check: check.top + check.height / 2, top: text.top, bottom: text.bottom }
  })
  assert.ok(box.check > box.top && box.check < box.bottom, `checkbox centre ${box.check} outside the text line ${box.top}–${box.bottom}`)
  // The blank between "above" and "below" (one empty paragraph) is under two lines, as in a
  // word processor, not a hole of a line and two paragraph margins.
  const rects = await editor.locator('p').evaluateAll(ps => ps.map(p => ({ text: p.textContent, r: p.getBoundingClientRect().toJSON() })))
  const above = rects.find(p => p.text === 'above').r
  const below = rects.find(p => p.text === 'below').r
  const gap = below.top - above.bottom
  assert.ok(gap < 2 * above.height, `the blank is ${gap}px for a ${above.height}px line`)
  await context.close()
})

test('the password rule shows before the first try', async () => {
  const accounts = await startTandem({ args: ['--auth', 'accounts'] })
  try {
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(accounts.url)
    await page.getByRole('button', { name: 'Create an account' }).click()
    const rule = page.getByTestId('password-rule')
    assert.match(await rule.textContent(), /At least 10 characters/)
    assert.equal(await page.locator('input[name=password]').getAttribute('aria-describedby'), 'password-rule')
    await context.close()
  } finally {
    accounts.cleanup()
  }
})
