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
