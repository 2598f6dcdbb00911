// Nothing pasted or linked can run script: javascript: links are refused, and pasted HTML with
// event handlers loses them (ProseMirror's schema keeps only what the editor knows).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startTandem, launch, newDoc, openEditor, waitSaved } from './harness.mjs'

let server, browser
before(async () => { server = await startTandem(); browser = await launch() })
after(async () => { await browser?.close(); server?.cleanup() })

test('javascript: links and <img onerror> pastes do not execute', async () => {
  const doc = await newDoc(server.url, 'Hostile')
  const A = await openEditor(browser, server.url, doc, 'Mallory')
  const B = await openEditor(browser, server.url, doc, 'Victim')
  const p = A.page
  const dialogs = []
  p.on('dialog', async d => {
    dialogs.push(d.type())
    if (d.type() === 'prompt') await d.accept('javascript:window.__pwned=1')
    else await d.dismiss()
  })
  await p.getByTestId('editor').click()
  await p.keyboard.type('click me')
  await p.keyboard.press('Shift+Home')
  await p.getByTestId('tb-link').click()
  await p.waitForFunction(() => true)
  assert.deepEqual(dialogs, ['prompt', 'alert'], 'the bad address is refused with a message')

  await p.keyboard.press('End')
  await p.getByTestId('editor').evaluate(el => {
    const dt = new DataTransfer()
    dt.setData('text/html', '<p>pasted <img src="x" onerror="window.__pwned=2"><a href="javascript:window.__pwned=3">evil</a>' +
      '<script>window.__pwned=4</script><iframe src="javascript:parent.__pwned=5"></iframe></p>')
    el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }))
  })
  await waitSaved(p)
  await B.page.getByTestId('editor').getByText('evil').waitFor()
  for (const page of [p, B.page]) {
    await page.getByTestId('editor').getByText('evil').click()
    await new Promise(r => setTimeout(r, 300))
    assert.equal(await page.evaluate(() => window.__pwned), undefined, 'no script ran')
    const ed = page.getByTestId('editor')
    // ProseMirror's own `img.ProseMirror-separator` (no src, a layout hack) is the only img allowed.
    assert.equal(await ed.locator('img:not(.ProseMirror-separator), img[src], script, iframe, [onerror]').count(), 0)
    assert.equal(await ed.locator('a[href^="javascript" i]').count(), 0)
  }
  await A.context.close(); await B.context.close()
})

test('pages carry a strict Content-Security-Policy', async () => {
  const res = await fetch(`${server.url}/d/anything`)
  const csp = res.headers.get('content-security-policy')
  assert.match(csp, /script-src 'self'/)
  assert.match(csp, /object-src 'none'/)
  assert.match(csp, /frame-ancestors 'none'/)
  assert.match(csp, /require-trusted-types-for 'script'/)
  assert.equal(res.headers.get('cache-control'), 'no-cache')
  const html = await res.text()
  const asset = html.match(/\/assets\/[^"]+\.js/)[0]
  const a = await fetch(server.url + asset)
  assert.equal(a.headers.get('cache-control'), 'public, max-age=31536000, immutable')
  const api = await fetch(`${server.url}/api/docs`)
  assert.equal(api.headers.get('cache-control'), 'no-store')
})
