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
  await first.kill()
  await A.page.getByTestId('status').filter({ hasText: 'Offline' }).waitFor({ timeout: 10_000 })
  // Same port and data directory: the page reconnects by itself, and a reload reads the server.
  const second = await startTandem({ dataDir: first.dataDir, port: first.port })
  try {
    await waitSaved(A.page, 20_000)
    await A.context.close()
    // A fresh browser profile has no IndexedDB copy: what it shows came from the server's log.
    const B = await openEditor(browser, second.url, doc, 'Bob')
    assert.equal(await editorText(B.page), typed)
    await B.context.close()
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
    await B.context.close()

    await paste(A.page, 'y'.repeat(4 << 20))
    await A.page.getByRole('alert').filter({ hasText: 'larger than the server accepts' }).waitFor({ timeout: 30_000 })
    assert.match(await A.page.getByTestId('status').innerText(), /Not saved/)
    const text = await editorText(A.page)
    assert.ok(text.startsWith('typed first.'), 'nothing typed before is lost')
    await A.context.close()
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
    await page.getByText('No documents yet.').waitFor()
    await page.getByTestId('new-doc').click()
    await page.waitForURL(/\/d\/[a-z0-9]{16}$/)
    const title = page.getByLabel('Title')
    await page.waitForFunction(() => document.querySelector('input.title')?.value === 'Untitled document')
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
    await page.getByTestId('doc-list').locator('li').nth(0).getByText('Delete').click()
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=doc-list] li').length === 1)
    await page.context().close()
  } finally {
    server.cleanup()
  }
})
