// The editor's small conveniences: word and character counts, the shortcuts sheet (Ctrl+/), and
// a print stylesheet that prints the document alone. Screenshots go to e2e/artifacts.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { startTandem, launch, newDoc, openEditor, waitSaved, artifacts } from './harness.mjs'

let server, browser
before(async () => { server = await startTandem(); browser = await launch() })
after(async () => { await browser?.close(); server?.cleanup() })

test('counts follow the text; Ctrl+/ lists the shortcuts; printing shows the document alone', async () => {
  const doc = await newDoc(server.url, 'Counts')
  const A = await openEditor(browser, server.url, doc, 'Alice')
  const p = A.page
  const counts = p.getByTestId('counts')
  assert.equal(await counts.innerText(), '0 words · 0 characters')
  await p.getByTestId('editor').click()
  await p.keyboard.type('Three short words')
  await counts.filter({ hasText: '3 words · 17 characters' }).waitFor()
  await p.keyboard.press('Enter')
  await p.keyboard.type('one')
  await counts.filter({ hasText: '4 words · 20 characters' }).waitFor()
  await waitSaved(p)

  // The sheet: opened from the keyboard, focus kept inside, closed with Escape back to the text.
  await p.keyboard.press('Control+/')
  const sheet = p.getByTestId('shortcuts')
  await sheet.waitFor()
  assert.match(await sheet.innerText(), /Bold/)
  for (let i = 0; i < 3; i++) await p.keyboard.press('Tab')
  assert.ok(await sheet.evaluate(el => el.contains(document.activeElement)), 'focus stays in the sheet')
  await p.setViewportSize({ width: 1100, height: 800 })
  await p.screenshot({ path: join(artifacts, 'shortcuts.png') })
  await p.emulateMedia({ colorScheme: 'dark' })
  await p.screenshot({ path: join(artifacts, 'shortcuts-dark.png') })
  await p.emulateMedia({ colorScheme: 'light' })
  await p.keyboard.press('Escape')
  await sheet.waitFor({ state: 'detached' })
  assert.ok(await p.getByTestId('editor').evaluate(el => el.contains(document.activeElement)), 'focus is back in the text')

  // Printing: the title and the text; the toolbar, the header's controls and counts are hidden.
  await p.emulateMedia({ media: 'print' })
  assert.ok(await p.getByLabel('Title').isVisible(), 'the title is printed')
  for (const hidden of ['.toolbar', '[data-testid=status]', '[data-testid=history]', '[data-testid=counts]']) {
    assert.equal(await p.locator(hidden).first().isVisible(), false, `${hidden} is not printed`)
  }
  assert.ok(await p.getByTestId('editor').isVisible(), 'the text is printed')
  await p.screenshot({ path: join(artifacts, 'print.png') })
  await p.emulateMedia({ media: 'screen' })
  await A.context.close()
})

test('a selection bubble formats; "/" inserts blocks; the outline jumps; find and replace', async () => {
  const doc = await newDoc(server.url, 'Tools')
  const A = await openEditor(browser, server.url, doc, 'Alice')
  const B = await openEditor(browser, server.url, doc, 'Bob')
  const p = A.page
  await p.getByTestId('editor').click()

  // "/" then a filter, Enter: a heading. "/table": a table.
  await p.keyboard.type('/head')
  const menu = p.getByTestId('slash-menu')
  await menu.waitFor()
  assert.deepEqual(await menu.locator('strong').allInnerTexts(), ['Heading 1', 'Heading 2', 'Heading 3'])
  await p.keyboard.press('ArrowDown')
  await p.keyboard.press('Enter')
  await menu.waitFor({ state: 'detached' })
  await p.keyboard.type('Plan')
  await p.locator('.prose h2', { hasText: 'Plan' }).waitFor()
  await p.keyboard.press('Enter')
  await p.keyboard.type('The plan is a plan about plans.')
  await p.keyboard.press('Enter')
  // Escape closes the menu and leaves the slash as typed.
  await p.keyboard.type('/')
  await menu.waitFor()
  await p.keyboard.press('Escape')
  await menu.waitFor({ state: 'detached' })
  await p.keyboard.press('Backspace')
  await p.keyboard.type('/h1')
  await menu.locator('strong').filter({ hasText: 'Heading 1' }).waitFor()
  await p.keyboard.press('Enter')
  await p.keyboard.type('Risks')
  await waitSaved(p)

  // The outline lists both headings and jumps to one.
  await p.getByTestId('outline').click()
  const outline = p.getByTestId('outline-panel')
  await outline.locator('li', { hasText: 'Risks' }).waitFor()
  assert.deepEqual(await outline.locator('li').allInnerTexts(), ['Plan', 'Risks'])
  await outline.getByRole('button', { name: 'Plan' }).click()
  await p.waitForFunction(() => getSelection()?.anchorNode?.parentElement?.closest('h2')?.textContent === 'Plan')
  await outline.getByRole('button', { name: 'Close' }).click()
  await outline.waitFor({ state: 'detached' })

  // The selection bubble: bold from where the pointer is, seen by Bob.
  await p.locator('.prose p', { hasText: 'The plan is' }).dblclick({ position: { x: 12, y: 8 } })
  const bubble = p.getByTestId('selection-bubble')
  await bubble.waitFor()
  await p.screenshot({ path: join(artifacts, 'selection-bubble.png') })
  await p.getByTestId('bubble-bold').dispatchEvent('mousedown')
  await B.page.locator('.prose p strong').first().waitFor()

  // Find (Ctrl+F), counted; replace all (Ctrl+H), one edit everyone sees.
  await p.keyboard.press('Control+h')
  const bar = p.getByTestId('find-bar')
  await bar.waitFor()
  await p.getByTestId('find-input').fill('plan')
  await p.getByTestId('find-count').filter({ hasText: '1 of 4' }).waitFor()
  assert.equal(await p.locator('.find-match').count(), 4)
  await p.getByTestId('find-input').press('Enter')
  await p.getByTestId('find-count').filter({ hasText: '2 of 4' }).waitFor()
  await p.screenshot({ path: join(artifacts, 'find-replace.png') })
  await p.getByTestId('replace-input').fill('roadmap')
  await p.getByTestId('replace-all').click()
  await p.getByTestId('find-count').filter({ hasText: 'No matches' }).waitFor()
  await B.page.locator('.prose h2', { hasText: 'roadmap' }).waitFor()
  assert.match(await B.page.locator('.prose p').first().innerText(), /^The roadmap is a roadmap about roadmaps\.$/)
  await p.keyboard.press('Escape')
  await bar.waitFor({ state: 'detached' })
  for (const x of [A, B]) await x.context.close()
})
