// The XSS corpus (crates/tandem-server/tests/fixtures/xss.txt, 60 cases) imported as Markdown and
// as HTML: opening the documents in the editor runs nothing, and neither does loading the HTML
// export as a page of its own.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { startTandem, launch, waitSaved, root } from './harness.mjs'

const corpus = readFileSync(join(root, 'crates/tandem-server/tests/fixtures/xss.txt'), 'utf8')

let server, browser
before(async () => { server = await startTandem(); browser = await launch() })
after(async () => { await browser?.close(); server?.cleanup() })

test('imported hostile Markdown and HTML never run in the editor or from the export', async () => {
  const cases = corpus.split('\n').filter(l => l !== '')
  assert.ok(cases.length >= 50)
  const context = await browser.newContext()
  const page = await context.newPage()
  const dialogs = []
  page.on('dialog', async d => { dialogs.push(d.message()); await d.dismiss() })
  for (const format of ['markdown', 'html']) {
    const res = await fetch(`${server.url}/api/docs/import?format=${format}`, { method: 'POST', headers: { origin: server.url }, body: corpus })
    assert.equal(res.status, 201)
    const { id } = await res.json()
    await page.goto(`${server.url}/d/${id}`)
    await page.getByTestId('editor').waitFor()
    await waitSaved(page)
    // Interact a little: hover and click through the document, as a reader would.
    await page.getByTestId('editor').hover()
    await page.getByTestId('editor').click({ position: { x: 5, y: 5 } })
    await new Promise(r => setTimeout(r, 500))
    assert.equal(await page.evaluate(() => window.__pwned), undefined, `a case ran in the editor (${format})`)
    const ed = page.getByTestId('editor')
    assert.equal(await ed.locator('script, iframe, object, embed, svg, img:not(.ProseMirror-separator), [onerror], [onload], [onclick]').count(), 0)
    assert.equal(await ed.locator('a[href^="javascript" i], a[href^="data" i], a[href^="vbscript" i]').count(), 0)
    // The HTML export, loaded as a page of its own (no CSP to help): still inert.
    const html = await (await fetch(`${server.url}/api/docs/${id}/export?format=html`)).text()
    const raw = await context.newPage()
    await raw.setContent(html)
    if (await raw.locator('a').count() > 0) await raw.locator('a').first().hover({ timeout: 2000 })
    await new Promise(r => setTimeout(r, 300))
    assert.equal(await raw.evaluate(() => window.__pwned), undefined, `the ${format} import's HTML export ran script`)
    await raw.close()
  }
  assert.deepEqual(dialogs, [])
  await context.close()
})

test('import a Markdown file from the document list and export it from the editor', async () => {
  const context = await browser.newContext({ acceptDownloads: true })
  const page = await context.newPage()
  await page.goto(server.url)
  await page.getByTestId('new-doc').waitFor()
  await page.getByTestId('import').setInputFiles({ name: 'notes.md', mimeType: 'text/markdown', buffer: Buffer.from('# Notes\n\nSome **bold** words.\n') })
  await page.getByTestId('editor').getByText('bold').waitFor()
  assert.equal(await page.getByTestId('editor').locator('strong').textContent(), 'bold')
  assert.equal(await page.getByLabel('Title').inputValue(), 'Notes', 'named by its first heading')
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export').selectOption('markdown')])
  const path = await download.path()
  assert.equal(readFileSync(path, 'utf8'), '# Notes\n\nSome **bold** words.\n')
  await context.close()
})

test('import refuses what it cannot read, and an HTML page keeps its title as the title', async () => {
  const context = await browser.newContext()
  const page = await context.newPage()
  await page.goto(server.url)
  await page.getByTestId('new-doc').waitFor()
  // A Word file (a zip archive), by its name and, renamed to .md, by its content.
  const docx = Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x06, 0x00, 0x08, 0x00, 0x00, 0x00, 0x21, 0x00, 0xdf, 0xa4, 0xd2, 0x6c])
  await page.getByTestId('import').setInputFiles({ name: 'report.docx', mimeType: 'application/octet-stream', buffer: docx })
  await page.getByRole('alert').filter({ hasText: 'cannot be imported' }).waitFor()
  await page.getByTestId('import').setInputFiles({ name: 'report.md', mimeType: 'text/markdown', buffer: docx })
  await page.getByRole('alert').filter({ hasText: 'this file is not text' }).waitFor()
  const before = await (await fetch(`${server.url}/api/docs`)).json()
  assert.ok(before.every(d => d.title !== 'report'), 'nothing was created')
  const html = '<html><head><title>Quarterly plan</title></head><body><p>Body text</p></body></html>'
  await page.getByTestId('import').setInputFiles({ name: 'page.html', mimeType: 'text/html', buffer: Buffer.from(html) })
  await page.getByTestId('editor').getByText('Body text').waitFor()
  assert.equal(await page.getByLabel('Title').inputValue(), 'Quarterly plan')
  assert.ok(!(await page.getByTestId('editor').textContent()).includes('Quarterly plan'), 'the title is not body text')
  await context.close()
})
