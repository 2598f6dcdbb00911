// Every page at a phone's width (375 px): nothing runs off the screen, the editor's actions fold
// into a menu, the toolbar scrolls sideways, and Comments and History open as sheets over the
// document instead of crushing it. Screenshots at 1100 px and 375 px go to e2e/artifacts.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { startTandem, launch, waitSaved, signUp, artifacts } from './harness.mjs'

let server, browser
before(async () => { server = await startTandem({ args: ['--auth', 'accounts'] }); browser = await launch() })
after(async () => { await browser?.close(); server?.cleanup() })

async function fits (page, what) {
  const { scroll, width } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: innerWidth }))
  assert.ok(scroll <= width, `${what}: the page is ${scroll}px wide on a ${width}px screen`)
}

async function shoot (page, name) {
  await page.setViewportSize({ width: 1100, height: 800 })
  await page.screenshot({ path: join(artifacts, `${name}.png`) })
  await page.setViewportSize({ width: 375, height: 760 })
  await page.screenshot({ path: join(artifacts, `${name}-phone.png`) })
}

test('every page works at 375 px', async () => {
  const { context, page } = await signUp(browser, server.url, 'ada@example.org', 'Ada Lovelace-Byron')
  await page.setViewportSize({ width: 375, height: 760 })
  for (const t of ['Quarterly planning for the platform team', 'Notes']) {
    await page.getByTestId('new-doc').click()
    await page.getByTestId('editor').waitFor()
    await page.getByLabel('Title').fill(t)
    await page.getByLabel('Title').press('Enter')
    await page.keyboard.type('A paragraph long enough to wrap on a phone screen, with a few more words.')
    await waitSaved(page)
    await page.goBack()
    await page.getByTestId('doc-list').waitFor()
  }
  await page.getByTestId('doc-list').getByText('Notes').waitFor()
  // Each says when it was last edited, and by whom.
  assert.match(await page.getByTestId('doc-list').locator('li', { hasText: 'Notes' }).locator('time').textContent(), /^Edited today .+ by Ada Lovelace-Byron$/)
  await fits(page, 'the document list')
  await shoot(page, 'document-list')

  await page.getByTestId('doc-list').getByText('Quarterly planning for the platform team').click()
  await page.getByTestId('editor').waitFor()
  await fits(page, 'the editor')
  // The actions are behind the menu; the toolbar keeps one row: its first groups, the rest
  // behind "More".
  assert.equal(await page.getByTestId('history').isVisible(), false)
  const bar = await page.locator('.toolbar').evaluate(el => ({ scroll: el.scrollWidth, width: el.clientWidth, height: el.clientHeight }))
  assert.ok(bar.scroll <= bar.width && bar.height < 60, `toolbar ${JSON.stringify(bar)}`)
  assert.equal(await page.getByTestId('tb-bullet').isVisible(), false, 'lists are behind More')
  await page.getByTestId('tb-more').click()
  await page.getByTestId('tb-bullet').waitFor()
  await shoot(page, 'toolbar-more')
  await page.getByTestId('tb-more').click()
  await shoot(page, 'editor')

  for (const [button, panel] of [['comments', '.comments'], ['history', 'history-panel']]) {
    await page.getByTestId('menu').click()
    await page.getByTestId(button).click()
    const sheet = panel.startsWith('.') ? page.locator(panel) : page.getByTestId(panel)
    await sheet.waitFor()
    await fits(page, `the editor with ${button} open`)
    const r = await sheet.evaluate(el => { const b = el.getBoundingClientRect(); return { top: b.top, bottom: b.bottom, left: b.left, right: b.right } })
    assert.ok(Math.abs(r.bottom - 760) < 2 && r.left === 0 && r.right === 375 && r.top > 150, `${button} is a sheet: ${JSON.stringify(r)}`)
    const editorWidth = await page.getByTestId('editor').evaluate(el => el.getBoundingClientRect().width)
    assert.ok(editorWidth > 300, `the document keeps its width: ${editorWidth}px`)
    await shoot(page, `editor-${button}`)
    await page.setViewportSize({ width: 375, height: 760 })
    await page.getByTestId('menu').click()
    await page.getByTestId(button).click()
    await sheet.waitFor({ state: 'detached' })
  }

  await page.getByTestId('menu').click()
  await page.getByTestId('share').click()
  await page.getByTestId('share-dialog').waitFor()
  await fits(page, 'the share dialog')
  await shoot(page, 'share-dialog')
  await page.keyboard.press('Escape')
  await context.close()

  const fresh = await browser.newContext({ viewport: { width: 375, height: 760 } })
  const signin = await fresh.newPage()
  await signin.goto(server.url)
  await signin.getByTestId('signin-form').waitFor()
  await fits(signin, 'the sign-in page')
  await shoot(signin, 'sign-in')
  await fresh.close()
})
