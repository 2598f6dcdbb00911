// "Saved" means saved: SIGKILL the server after "Saved" and nothing is lost. Large documents:
// a 1 MB paste works and opens quickly; a paste above the server's cap gets a clear message and
// loses nothing already typed. Also the document list (and its screenshot).
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startTandem, launch, newDoc, openEditor, waitSaved, editorText, artifacts } from './harness.mjs'

let browser
after(async () => { await browser?.close() })

/** The document's text as the server holds it (`GET /api/docs/{doc}/export?format=text`). */
async function serverText (url, doc) {
  const res = await fetch(`${url}/api/docs/${doc}/export?format=text`)
  assert.equal(res.status, 200)
  return await res.text()
}

async function paste (page, text) {
  await page.getByTestId('editor').evaluate((el, t) => {
    const dt = new DataTransfer()
    dt.setData('text/plain', t)
    el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }))
  }, text)
}

test('after "Saved", a SIGKILL and restart lose nothing', async () => {
  browser ??= await launch()
  const first = await startTandem()
  const doc = await newDoc(first.url, 'Crash')
  const A = await openEditor(browser, first.url, doc, 'Alice')
  await A.page.getByTestId('editor').click()
  const typed = 'Every word of this sentence was acknowledged before the crash.'
  await A.page.keyboard.type(typed)
  await waitSaved(A.page)
  // A closes before the kill, so nothing can resend the text to the restarted server.
  await A.context.close()
  await first.kill()
  const second = await startTandem({ dataDir: first.dataDir, port: first.port })
  try {
    // A fresh browser profile has no IndexedDB copy and no peer is open: what it shows came
    // from the server's log. The server's own state says the same.
    const B = await openEditor(browser, second.url, doc, 'Bob')
    assert.equal(await editorText(B.page), typed)
    await B.context.close()
    assert.ok((await serverText(second.url, doc)).includes(typed), 'the text export holds the text')
  } finally {
    second.cleanup()
  }
})

test('a 1 MB paste saves and reopens quickly; a paste above the cap is refused clearly, losing nothing', async () => {
  browser ??= await launch()
  const server = await startTandem({ args: ['--max-message-bytes', String(3 << 20)] })
  try {
    const doc = await newDoc(server.url, 'Large')
    const A = await openEditor(browser, server.url, doc, 'Alice')
    await A.page.getByTestId('editor').click()
    await A.page.keyboard.type('typed first. ')
    await waitSaved(A.page)
    const line = 'The quick brown fox jumps over the lazy dog, again and again. '.repeat(16) + '\n'
    const oneMB = line.repeat(Math.ceil((1 << 20) / line.length))
    await paste(A.page, oneMB)
    await waitSaved(A.page, 60_000)

    const t0 = performance.now()
    const B = await openEditor(browser, server.url, doc, 'Bob')
    await B.page.waitForFunction(() => document.querySelector('[data-testid=editor]').textContent.length > 1_000_000)
    const openMs = performance.now() - t0
    console.log('open 1 MB document', JSON.stringify({ bytes: oneMB.length, open_ms: Math.round(openMs) }))
    writeFileSync(join(artifacts, 'open-1mb.json'), JSON.stringify({ bytes: oneMB.length, open_ms: Math.round(openMs) }))
    // The goal is 1 s (BENCHMARKS.md: 817-1,010 ms); 5 s is what a loaded CI machine always meets.
    assert.ok(openMs < 5000, `opening the 1 MB document took ${Math.round(openMs)} ms`)
    await B.context.close()

    await paste(A.page, 'y'.repeat(4 << 20))
    await A.page.getByRole('alert').filter({ hasText: 'larger than the server accepts' }).waitFor({ timeout: 30_000 })
    assert.match(await A.page.getByTestId('status').innerText(), /Not saved/)
    assert.ok((await editorText(A.page)).startsWith('typed first.'), 'the editor keeps what was typed')
    await A.context.close()
    // What the server kept, read by a fresh profile after A is gone: the typing and the 1 MB
    // paste, and nothing of the refused one.
    const C = await openEditor(browser, server.url, doc, 'Carol')
    await C.page.waitForFunction(() => document.querySelector('[data-testid=editor]').textContent.length > 1_000_000)
    const kept = await editorText(C.page)
    assert.ok(kept.startsWith('typed first.'), 'nothing typed before is lost')
    assert.ok(kept.includes(line.trim()), 'the 1 MB paste was saved')
    assert.ok(!kept.includes('yyyy'), 'the refused paste was not saved')
    await C.context.close()
  } finally {
    server.cleanup()
  }
})

test('the document list: create, rename, open, delete (newest first)', async () => {
  browser ??= await launch()
  const server = await startTandem()
  try {
    const page = await (await browser.newContext()).newPage()
    await page.goto(server.url)
    await page.getByTestId('empty-state').getByText('No documents yet').waitFor()
    await page.getByTestId('new-doc').click()
    await page.waitForURL(/\/d\/[a-z0-9]{16}$/)
    const title = page.getByLabel('Title')
    await page.getByTestId('editor').waitFor()
    assert.equal(await title.inputValue(), '', 'a new document has no title yet, only a placeholder')
    await title.fill('<img src=x onerror=alert(1)> Plans')
    await title.blur()
    await page.getByTestId('editor').click()
    await page.keyboard.type('hello')
    await waitSaved(page)
    await page.getByText('← Documents').click()
    await page.getByTestId('new-doc').waitFor()
    await page.goto(server.url) // a second document, so "newest first" means something
    await page.getByTestId('new-doc').click()
    await page.waitForURL(/\/d\//)
    await page.getByText('← Documents').click()
    const items = page.getByTestId('doc-list').locator('li > a')
    await items.nth(1).waitFor()
    assert.deepEqual(await items.allInnerTexts(), ['Untitled document', '<img src=x onerror=alert(1)> Plans'], 'titles render as text, newest first')
    assert.equal(await page.locator('[data-testid=doc-list] img').count(), 0)
    await page.screenshot({ path: join(artifacts, 'document-list.png') })
    page.on('dialog', d => d.accept())
    await page.getByTestId('doc-list').locator('li').nth(0).getByTestId('row-menu').click()
    await page.getByRole('menuitem', { name: 'Delete' }).click()
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=doc-list] li').length === 1)
    await page.context().close()
  } finally {
    server.cleanup()
  }
})
