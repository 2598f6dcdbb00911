// "Saved" means saved: SIGKILL the server after "Saved" and nothing is lost. Large edits: a 1 MB
// paste opens quickly; pastes and offline backlogs above the message cap save in pieces; a change
// past the document's size limit is explained, downloadable, and editing goes on. Also the
// document list (and its screenshot).
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
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

/** About `bytes` of text in paragraphs of a kilobyte, starting and ending with `tag` markers. */
function bigText (tag, bytes) {
  const line = 'The quick brown fox jumps over the lazy dog, again and again. '.repeat(16) + '\n'
  return `BEGIN-${tag}\n` + line.repeat(Math.ceil(bytes / line.length)) + `END-${tag}`
}

test('a 1 MB paste reopens quickly; a 4 MiB paste, four times the message cap, saves in pieces, and the typing after it', async () => {
  browser ??= await launch()
  const server = await startTandem({ args: ['--max-message-bytes', String(1 << 20)] })
  try {
    const doc = await newDoc(server.url, 'Large')
    const A = await openEditor(browser, server.url, doc, 'Alice')
    await A.page.getByTestId('editor').click()
    await A.page.keyboard.type('typed first. ')
    await waitSaved(A.page)
    const oneMB = bigText('1MB', 1 << 20)
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
    // Its blocks past the first screens are laid out a slice at a time (layOut.ts): a jump to
    // the end at once types where the caret is, and soon every block is laid out as usual.
    await B.page.getByTestId('editor').focus() // (not a click: the key is what releases them)
    await B.page.keyboard.press('Control+End')
    await B.page.keyboard.type(' Bob at the end.')
    await B.page.waitForFunction(() => {
      const last = document.querySelector('[data-testid=editor] > :last-child')?.cloneNode(true)
      last?.querySelectorAll('[class*=caret]').forEach(c => c.remove()) // Alice's caret, with her name
      return last?.textContent === 'END-1MB Bob at the end.'
    }).catch(async e => {
      const landed = await B.page.getByTestId('editor').evaluate(el => {
        const i = [...el.children].findIndex(c => c.textContent.includes('Bob'))
        return `block ${i} of ${el.children.length}: "${el.children[i]?.textContent.slice(0, 60)}"`
      })
      assert.fail(`Bob's typing at the end landed in ${landed}: ${e.message}`)
    })
    await B.page.waitForFunction(() => [...document.styleSheets].every(s => ![...s.cssRules].some(r => r.cssText.includes('nth-child(n+'))), null, { timeout: 10_000 })
    const contained = await B.page.getByTestId('editor').evaluate(el => [...el.children].filter(c => getComputedStyle(c).contentVisibility !== 'visible').length)
    assert.equal(contained, 0, 'every block is laid out once the slices are released')
    await waitSaved(B.page)
    await B.context.close()

    const pasted = performance.now()
    await paste(A.page, bigText('4MB', 4 << 20))
    await A.page.keyboard.press('Control+End')
    await A.page.keyboard.type(' typed after.')
    await waitSaved(A.page, 60_000)
    console.log('4 MiB paste saved in pieces', JSON.stringify({ cap: 1 << 20, saved_ms: Math.round(performance.now() - pasted) }))
    assert.equal(await A.page.getByRole('alert').count(), 0, 'no error shown')
    await A.context.close()
    // What the server kept, read after A is gone: everything, in order.
    const kept = await serverText(server.url, doc)
    assert.ok(kept.startsWith('typed first.'), 'nothing typed before is lost')
    assert.ok(kept.includes(' Bob at the end.'), 'what Bob typed at the end was saved')
    for (const tag of ['1MB', '4MB']) assert.ok(kept.includes(`BEGIN-${tag}`) && kept.includes(`END-${tag}`), `the ${tag} paste was saved whole`)
    assert.ok(kept.length > 5 << 20, `the server holds ${kept.length} characters`)
    assert.ok(kept.trimEnd().endsWith('typed after.'), 'the typing after the paste was saved')
  } finally {
    server.cleanup()
  }
})

test('an 8 MiB offline backlog, above the default message cap, saves after reconnecting', async () => {
  browser ??= await launch()
  const server = await startTandem()
  try {
    const doc = await newDoc(server.url, 'Backlog')
    const A = await openEditor(browser, server.url, doc, 'Alice')
    await A.page.getByTestId('editor').click()
    await A.page.keyboard.type('online first. ')
    await waitSaved(A.page)
    await A.context.setOffline(true)
    await A.page.getByTestId('status').filter({ hasText: /^Offline/ }).waitFor()
    await paste(A.page, bigText('8MB-a', 4 << 20))
    await paste(A.page, bigText('8MB-b', 4 << 20))
    const online = performance.now()
    await A.context.setOffline(false)
    await waitSaved(A.page, 120_000)
    console.log('8 MiB offline backlog saved', JSON.stringify({ saved_ms: Math.round(performance.now() - online) }))
    const kept = await serverText(server.url, doc)
    assert.ok(kept.startsWith('online first.'), 'what was typed online is kept')
    for (const tag of ['8MB-a', '8MB-b']) assert.ok(kept.includes(`BEGIN-${tag}`) && kept.includes(`END-${tag}`), `${tag} was saved whole`)
    assert.ok(kept.length > 8 << 20, `the server holds ${kept.length} characters`)
    await A.context.close()
  } finally {
    server.cleanup()
  }
})

test('a change past the document size limit: told plainly, the copy downloadable, and editing goes on', async () => {
  browser ??= await launch()
  const server = await startTandem({ args: ['--max-doc-bytes', String(3 << 20)] })
  try {
    const doc = await newDoc(server.url, 'Full')
    const A = await openEditor(browser, server.url, doc, 'Alice')
    await A.page.getByTestId('editor').click()
    await A.page.keyboard.type('typed first. ')
    await waitSaved(A.page)
    await paste(A.page, bigText('refused', 4 << 20))
    const alert = A.page.getByTestId('provider-error')
    await alert.filter({ hasText: 'size limit' }).waitFor({ timeout: 60_000 })
    assert.match(await A.page.getByTestId('status').innerText(), /Not saved/)
    for (const scheme of ['light', 'dark']) {
      await A.page.emulateMedia({ colorScheme: scheme })
      for (const [width, name] of [[1280, 'desktop'], [375, 'phone']]) {
        await A.page.setViewportSize({ width, height: 720 })
        await A.page.screenshot({ path: join(artifacts, `size-limit-${name}-${scheme}.png`) })
      }
    }
    await A.page.setViewportSize({ width: 1280, height: 720 })
    // The copy on this device, refused paste included, as a file.
    const [download] = await Promise.all([A.page.waitForEvent('download'), alert.getByTestId('download-copy').click()])
    const copy = readFileSync(await download.path(), 'utf8')
    assert.ok(copy.includes('typed first.') && copy.includes('END-refused'), 'the download holds what was not saved')
    // Then a fresh copy from the server: the refused paste is gone, and new typing saves.
    await alert.getByTestId('discard-copy').click()
    await A.page.getByTestId('editor').getByText('typed first.').waitFor()
    await waitSaved(A.page, 30_000)
    assert.ok(!(await editorText(A.page)).includes('BEGIN-refused'))
    await A.page.getByTestId('editor').click()
    await A.page.keyboard.press('Control+End')
    await A.page.keyboard.type('after the refusal.')
    await waitSaved(A.page)
    const kept = await serverText(server.url, doc)
    assert.equal(kept.trim(), 'typed first. after the refusal.')
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
