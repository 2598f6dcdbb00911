// Two people in one document: concurrent typing in the same paragraph, offline edits, named
// carets, formatting, and keystroke-to-render latency (reported in BENCHMARKS.md, not asserted).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startTandem, launch, newDoc, openEditor, keystrokeLatency, waitSaved, editorText, editorHtml, artifacts, waitStoredLocally } from './harness.mjs'

let server, browser
before(async () => { server = await startTandem(); browser = await launch() })
after(async () => { await browser?.close(); server?.cleanup() })

const count = (s, re) => (s.match(re) ?? []).length
const cycle = (alphabet, n) => Array.from({ length: n }, (_, i) => alphabet[i % alphabet.length]).join('')

async function converged (a, b, ms = 15_000) {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    const [ta, tb] = [await editorText(a), await editorText(b)]
    if (ta === tb) return ta
    await new Promise(r => setTimeout(r, 100))
  }
  assert.fail(`no convergence:\nA: ${(await editorText(a)).slice(0, 300)}\nB: ${(await editorText(b)).slice(0, 300)}`)
}

test('two people typing in the same paragraph at once end with identical text and every character', async () => {
  const doc = await newDoc(server.url, 'Concurrent')
  const A = await openEditor(browser, server.url, doc, 'Alice')
  const B = await openEditor(browser, server.url, doc, 'Bob')
  await A.page.getByTestId('editor').click()
  await A.page.keyboard.type('start ')
  await waitSaved(A.page)
  await B.page.getByTestId('editor').click()
  await B.page.keyboard.press('End')
  const textA = cycle('abcdefghijklmnopqrstuvwxyz', 220)
  const textB = cycle('0123456789', 220)
  await Promise.all([A.page.keyboard.type(textA, { delay: 3 }), B.page.keyboard.type(textB, { delay: 3 })])
  await Promise.all([waitSaved(A.page), waitSaved(B.page)])
  const final = await converged(A.page, B.page)
  assert.equal(count(final, /[a-z]/g) - count('start', /[a-z]/g), 220, 'every letter Alice typed')
  assert.equal(count(final, /[0-9]/g), 220, 'every digit Bob typed')
  assert.equal(count(final, /\n/g), 0, 'still one paragraph')
  await A.page.screenshot({ path: join(artifacts, 'two-users-alice.png') })
  await A.context.close(); await B.context.close()
})

test('two people who start typing at once in a new document share its first paragraph', async () => {
  const doc = await newDoc(server.url, 'Fresh')
  const A = await openEditor(browser, server.url, doc, 'Alice')
  const B = await openEditor(browser, server.url, doc, 'Bob')
  await Promise.all([A.page.getByTestId('editor').click(), B.page.getByTestId('editor').click()])
  await Promise.all([A.page.keyboard.type('alpha', { delay: 5 }), B.page.keyboard.type('beta', { delay: 5 })])
  await Promise.all([waitSaved(A.page), waitSaved(B.page)])
  const text = await converged(A.page, B.page)
  // Each one's word whole, nothing repeated (with no text in the first paragraph, y-prosemirror
  // gave "betaalaphal" and the like).
  assert.ok(text === 'alphabeta' || text === 'betaalpha', text)
  const html = await editorHtml(A.page)
  assert.equal(count(html, /<p[ >]/g), 1, `one paragraph: ${html}`)
  await A.context.close(); await B.context.close()
})

test('edits made offline are kept and merge when the connection returns', async () => {
  const doc = await newDoc(server.url, 'Offline')
  const A = await openEditor(browser, server.url, doc, 'Alice')
  const B = await openEditor(browser, server.url, doc, 'Bob')
  await A.context.setOffline(true)
  await A.page.getByTestId('status').filter({ hasText: 'Offline' }).waitFor({ timeout: 10_000 })
  await A.page.getByTestId('editor').click()
  await A.page.keyboard.type('written while offline. ')
  await B.page.getByTestId('editor').click()
  await B.page.keyboard.type('written online. ')
  await waitSaved(B.page)
  assert.match(await A.page.getByTestId('status').innerText(), /Offline/)
  await A.context.setOffline(false)
  await waitSaved(A.page, 20_000)
  const final = await converged(A.page, B.page)
  assert.ok(final.includes('written while offline.') && final.includes('written online.'), final)
  await A.context.close(); await B.context.close()
})

test('a reload while offline still shows the offline edits, which then sync', async () => {
  const doc = await newDoc(server.url, 'Offline reload')
  const A = await openEditor(browser, server.url, doc, 'Alice')
  const B = await openEditor(browser, server.url, doc, 'Bob')
  // The service worker must control the page before the network goes away.
  await A.page.evaluate(async () => { await navigator.serviceWorker.ready })
  await A.page.reload()
  await waitSaved(A.page)
  await A.context.setOffline(true)
  await A.page.getByTestId('status').filter({ hasText: 'Offline' }).waitFor({ timeout: 10_000 })
  await A.page.getByTestId('editor').click()
  await A.page.keyboard.insertText('kept on this device') // one transaction, one stored update
  await waitStoredLocally(A.page, doc, 'kept on this device')
  await A.page.reload()
  await A.page.getByTestId('editor').getByText('kept on this device').waitFor({ timeout: 10_000 })
  await A.context.setOffline(false)
  await waitSaved(A.page, 20_000)
  await B.page.getByTestId('editor').getByText('kept on this device').waitFor({ timeout: 10_000 })
  await A.context.close(); await B.context.close()
})

test('undo undoes only your own edits', async () => {
  const doc = await newDoc(server.url, 'Undo')
  const A = await openEditor(browser, server.url, doc, 'Alice')
  const B = await openEditor(browser, server.url, doc, 'Bob')
  await A.page.getByTestId('editor').click()
  await A.page.keyboard.type('alice ')
  await waitSaved(A.page)
  await B.page.getByTestId('editor').getByText('alice').waitFor()
  await B.page.getByTestId('editor').click()
  await B.page.keyboard.press('End')
  await B.page.keyboard.type('bob')
  await waitSaved(B.page)
  await A.page.getByTestId('editor').getByText('bob', { exact: false }).waitFor()
  await A.page.getByTestId('tb-undo').click()
  await waitSaved(A.page)
  const final = await converged(A.page, B.page)
  assert.equal(final.trim(), 'bob')
  await A.context.close(); await B.context.close()
})

test('undo steps back a word at a time at a human typing pace, and redo restores exactly that', async () => {
  const doc = await newDoc(server.url, 'Undo steps')
  const A = await openEditor(browser, server.url, doc, 'Alice')
  const editor = A.page.getByTestId('editor')
  await editor.click()
  const paragraphs = () => editor.locator('p').count()
  // Two paragraphs typed continuously at 120 ms a key, never pausing long enough to end a step.
  await A.page.keyboard.type('Plans for the week', { delay: 120 })
  await A.page.keyboard.press('Enter', { delay: 120 })
  await A.page.keyboard.type('ship the beta', { delay: 120 })
  const typed = await editorText(A.page)
  const blocks = await paragraphs()
  assert.equal(blocks, 2)
  await A.page.keyboard.press('Control+z')
  const once = await editorText(A.page)
  assert.ok(typed.startsWith(once), `one undo removes from the end: ${JSON.stringify(once)}`)
  const removed = typed.slice(once.length)
  assert.ok(removed.trim().length > 0 && !/\s/.test(removed.trim()), `one undo removed at most the last word: ${JSON.stringify(removed)}`)
  await A.page.keyboard.press('Control+z')
  await A.page.keyboard.press('Control+z')
  assert.ok((await editorText(A.page)).includes('Plans for the week'), 'the first paragraph is still there')
  for (let i = 0; i < 3; i++) await A.page.keyboard.press('Control+Shift+z')
  assert.equal(await editorText(A.page), typed, 'redo restores exactly what undo removed')
  assert.equal(await paragraphs(), blocks, 'and no stray empty paragraphs')
  await A.context.close()
})

test('text typed after a link does not join it; Ctrl+K opens the link field', async () => {
  const doc = await newDoc(server.url, 'Links')
  const A = await openEditor(browser, server.url, doc, 'Alice')
  const editor = A.page.getByTestId('editor')
  await editor.click()
  await A.page.keyboard.type('See the design brief')
  // Select "design brief" and link it through Ctrl+K.
  for (let i = 0; i < 'design brief'.length; i++) await A.page.keyboard.press('Shift+ArrowLeft')
  await A.page.waitForFunction(() => getSelection().toString() === 'design brief')
  A.page.once('dialog', d => { void d.accept('https://example.org/brief') })
  await A.page.keyboard.press('Control+k')
  await editor.locator('a', { hasText: 'design brief' }).waitFor()
  await A.page.keyboard.press('End')
  await A.page.keyboard.type(' for details.')
  await waitSaved(A.page)
  assert.deepEqual(await editor.locator('a').allInnerTexts(), ['design brief'])
  assert.equal(await editorText(A.page), 'See the design brief for details.')
  // Clicking the link shows where it goes, and lets it be edited or removed.
  await editor.locator('a', { hasText: 'design brief' }).click()
  const bubble = A.page.getByTestId('link-bubble')
  await bubble.getByTestId('link-open').filter({ hasText: 'https://example.org/brief' }).waitFor()
  assert.equal(await bubble.getByTestId('link-open').getAttribute('target'), '_blank')
  A.page.once('dialog', d => { void d.accept('https://example.org/brief-v2') })
  await bubble.getByTestId('link-edit').click()
  await editor.locator('a[href="https://example.org/brief-v2"]', { hasText: 'design brief' }).waitFor()
  await bubble.getByTestId('link-remove').click()
  await editor.locator('a').waitFor({ state: 'detached' })
  assert.equal(await editorText(A.page), 'See the design brief for details.')
  await A.context.close()
})

test("a collaborator's named caret shows, and goes when they leave", async () => {
  const doc = await newDoc(server.url, 'Carets')
  const A = await openEditor(browser, server.url, doc, 'Alice')
  const B = await openEditor(browser, server.url, doc, 'Bob')
  await B.page.getByTestId('editor').click()
  await B.page.keyboard.type('Bob was here')
  const label = A.page.locator('.collaboration-carets__label', { hasText: 'Bob' })
  await label.waitFor({ timeout: 10_000 })
  await A.page.getByTestId('presence').getByText('Bob').waitFor()
  await A.page.screenshot({ path: join(artifacts, 'two-users-carets.png') })
  await B.context.close()
  const started = Date.now()
  await label.waitFor({ state: 'detached', timeout: 30_000 }) // the presence TTL bounds it
  await A.page.getByTestId('presence').getByText('Bob').waitFor({ state: 'detached', timeout: 30_000 })
  assert.ok(Date.now() - started < 30_000)
  await A.context.close()
})

test('formatting made by one renders identically for the other', async () => {
  const doc = await newDoc(server.url, 'Formatting')
  const A = await openEditor(browser, server.url, doc, 'Alice')
  const B = await openEditor(browser, server.url, doc, 'Bob')
  const p = A.page
  A.page.on('dialog', d => d.accept('https://example.com/page'))
  await p.getByTestId('editor').click()
  await p.getByTestId('tb-h1').click()
  await p.keyboard.type('Title')
  await p.keyboard.press('Enter')
  await p.getByTestId('tb-bold').click()
  await p.keyboard.type('bold words')
  await p.getByTestId('tb-bold').click()
  await p.keyboard.press('Enter')
  await p.getByTestId('tb-bullet').click()
  await p.keyboard.type('first item')
  await p.keyboard.press('Enter')
  await p.keyboard.type('link here')
  await p.keyboard.down('Shift')
  for (let i = 0; i < 4; i++) await p.keyboard.press('ArrowLeft')
  await p.keyboard.up('Shift')
  await p.getByTestId('tb-link').click()
  await waitSaved(p)
  const html = editorHtml
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline && (await html(B.page)) !== (await html(p))) await new Promise(r => setTimeout(r, 100))
  const hb = await html(B.page)
  assert.equal(hb, await html(p))
  assert.match(hb, /<h1>Title<\/h1>/)
  assert.match(hb, /<strong>bold words<\/strong>/)
  assert.match(hb, /<ul><li><p>first item<\/p><\/li><li><p>link <a [^>]*href="https:\/\/example.com\/page"[^>]*>here<\/a><\/p><\/li><\/ul>/)
  await A.context.close(); await B.context.close()
})

test('keystroke in A to character rendered in B (500 keystrokes)', async () => {
  const doc = await newDoc(server.url, 'Latency')
  const A = await openEditor(browser, server.url, doc, 'Alice')
  const B = await openEditor(browser, server.url, doc, 'Bob')
  await A.page.getByTestId('editor').click()
  const { page, harness } = await keystrokeLatency(A, B, 500)
  const q = (xs, f) => Number(xs[Math.min(xs.length - 1, Math.floor(f * xs.length))].toFixed(1))
  const line = { keystrokes: page.length, p50_ms: q(page, 0.5), p99_ms: q(page, 0.99), max_ms: q(page, 1), harness_p50_ms: q(harness, 0.5), harness_p99_ms: q(harness, 0.99) }
  console.log('keystroke latency', JSON.stringify(line))
  writeFileSync(join(artifacts, 'keystroke-latency.json'), JSON.stringify(line))
  assert.equal(page.length, 500)
  // Each sample is a keystroke seen in B after it was pressed in A, on one clock.
  assert.ok(page[0] >= 0, `first sample ${page[0]} ms`)
  // The page's span lies inside the harness's (to the page clock's millisecond).
  assert.ok(line.p50_ms <= line.harness_p50_ms + 1, JSON.stringify(line))
  await A.context.close(); await B.context.close()
})
