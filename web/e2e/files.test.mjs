// Images and files, with accounts (the image is fetched by an <img>, which sends no bearer token:
// the page's files cookie stands in): chosen with the toolbar's button while the upload is slowed
// down (a placeholder with a progress bar shows where it goes), seen and loaded in another
// person's window, alt text, a file pasted, an attachment card, a refused file's message, and the
// Markdown export. Screenshots at desktop and phone widths, light and dark, go to e2e/artifacts.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { startTandem, launch, signUp, waitSaved, artifacts, apiAs } from './harness.mjs'

let server, browser
before(async () => { server = await startTandem({ args: ['--auth', 'accounts'] }); browser = await launch() })
after(async () => { await browser?.close(); server?.cleanup() })

const api = (token, method, path, body) => apiAs(server.url, token, method, path, body)

/** A PNG drawn in the page: a `w`×`h` picture, with noise when `noisy` (so it is large). */
const drawPng = (page, w, h, noisy) => page.evaluate(async ([w, h, noisy]) => {
  const c = document.createElement('canvas')
  c.width = w; c.height = h
  const g = c.getContext('2d')
  const grad = g.createLinearGradient(0, 0, w, h)
  grad.addColorStop(0, '#2456a6'); grad.addColorStop(1, '#f2c94c')
  g.fillStyle = grad; g.fillRect(0, 0, w, h)
  if (noisy) {
    const img = g.getImageData(0, 0, w, h)
    for (let i = 0; i < img.data.length; i += 4) img.data[i + 3] = 200 + Math.floor(Math.random() * 55)
    g.putImageData(img, 0, 0)
  }
  g.fillStyle = '#fff'; g.font = `bold ${Math.round(h / 6)}px sans-serif`; g.fillText('Q3 growth', w / 10, h / 2)
  const blob = await new Promise(r => c.toBlob(r, 'image/png'))
  return Array.from(new Uint8Array(await blob.arrayBuffer()))
}, [w, h, noisy]).then(a => Buffer.from(a))

const openDoc = async (p, doc) => {
  await p.page.goto(`${server.url}/d/${doc}`)
  await p.page.getByTestId('editor').waitFor()
  await waitSaved(p.page)
}

test('an image uploaded in one window appears in the other; a refused file says why', async () => {
  const A = await signUp(browser, server.url, 'ann@example.org', 'Ann')
  const B = await signUp(browser, server.url, 'bo@example.org', 'Bo')
  const doc = (await api(A.token, 'POST', '/api/docs', { title: 'Quarterly review' })).id
  await api(A.token, 'POST', `/api/docs/${doc}/shares`, { email: 'bo@example.org', role: 'editor' })
  await openDoc(A, doc)
  await openDoc(B, doc)
  await A.page.getByTestId('editor').click()
  await A.page.keyboard.type('Revenue by quarter:')

  // A large picture over a slow uplink: the placeholder shows where it goes, with progress.
  const big = await drawPng(A.page, 900, 500, true)
  assert.ok(big.length > 800_000, `a large upload (${big.length} bytes)`)
  const cdp = await A.context.newCDPSession(A.page)
  await cdp.send('Network.enable')
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: 400_000 })
  await A.page.getByTestId('file-input').setInputFiles({ name: 'growth chart.png', mimeType: 'image/png', buffer: big })
  const bar = A.page.getByTestId('upload-placeholder').locator('progress')
  await bar.waitFor({ timeout: 5000 })
  await A.page.waitForFunction(() => Number(document.querySelector('.upload-placeholder progress')?.value) > 0.05, null, { timeout: 10_000 })
  await A.page.screenshot({ path: join(artifacts, 'upload-progress.png') })
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 })
  await A.page.locator('.prose img[src]').waitFor({ timeout: 30_000 })
  await A.page.getByTestId('upload-placeholder').waitFor({ state: 'detached' })
  await waitSaved(A.page)

  // Bo's window shows it, loaded (through the files cookie: an <img> sends no token).
  const img = B.page.locator('.prose img[src]')
  await img.waitFor({ timeout: 10_000 })
  await B.page.waitForFunction(() => {
    const i = document.querySelector('.prose img[src]')
    return i !== null && i.complete && i.naturalWidth === 900
  }, null, { timeout: 10_000 })
  const src = await img.getAttribute('src')
  assert.match(src, new RegExp(`^/api/docs/${doc}/files/[0-9a-f]{64}$`))
  assert.equal(await img.getAttribute('alt'), 'growth chart', 'the file name is the first alt text')

  // Alt text, set by Bo, read by Ann.
  await img.click()
  B.page.once('dialog', d => d.accept('Revenue grew 12% in Q3'))
  await B.page.getByTestId('image-alt').dispatchEvent('mousedown')
  await A.page.locator('.prose img[alt="Revenue grew 12% in Q3"]').waitFor({ timeout: 10_000 })

  // Resized by its corner in Ann's window; Bo sees the new size.
  const first = A.page.locator('.prose [data-resize-container]').first()
  await first.hover()
  const handle = first.locator('[data-resize-handle="bottom-right"]')
  const box = await handle.boundingBox()
  await A.page.mouse.move(box.x + box.width / 2, box.y + box.height / 2)
  await A.page.mouse.down()
  await A.page.mouse.move(box.x - 400, box.y - 200, { steps: 8 })
  await A.page.mouse.up()
  const widthIn = p => p.evaluate(() => document.querySelector('.prose img[src]').getBoundingClientRect().width)
  const resized = await widthIn(A.page)
  assert.ok(resized < 700 && resized >= 48, `resized in A: ${resized}`)
  await B.page.waitForFunction(w => Math.abs(document.querySelector('.prose img[src]').getBoundingClientRect().width - w) < 2, resized, { timeout: 10_000 })

  // A picture pasted from the clipboard.
  const small = await drawPng(B.page, 240, 120, false)
  await B.page.getByTestId('editor').evaluate((el, bytes) => {
    const dt = new DataTransfer()
    dt.items.add(new File([new Uint8Array(bytes)], 'pasted.png', { type: 'image/png' }))
    el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }))
  }, Array.from(small))
  await A.page.waitForFunction(() => document.querySelectorAll('.prose img[src]').length === 2, null, { timeout: 15_000 })
  await A.page.locator('.prose img[alt=pasted]').waitFor()

  // A picture dropped onto the text goes where it was dropped.
  const dropped = await drawPng(B.page, 160, 90, false)
  await B.page.getByTestId('editor').evaluate((el, bytes) => {
    const target = el.querySelector('p')
    const r = target.getBoundingClientRect()
    const dt = new DataTransfer()
    dt.items.add(new File([new Uint8Array(bytes)], 'dropped.png', { type: 'image/png' }))
    const at = { clientX: r.left + 4, clientY: r.top + r.height / 2, bubbles: true, cancelable: true, dataTransfer: dt }
    target.dispatchEvent(new DragEvent('dragover', at))
    target.dispatchEvent(new DragEvent('drop', at))
  }, Array.from(dropped))
  await A.page.locator('.prose img[alt=dropped]').waitFor({ timeout: 15_000 })

  // A PDF becomes an attachment card that downloads under its name.
  const pdf = Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n', 'latin1')
  await A.page.getByTestId('file-input').setInputFiles({ name: 'Q3 plan.pdf', mimeType: 'application/pdf', buffer: pdf })
  const card = B.page.locator('.prose a.attachment')
  await card.waitFor({ timeout: 15_000 })
  assert.equal(await card.locator('.attachment-name').textContent(), 'Q3 plan.pdf')
  assert.match(await card.getAttribute('href'), /\/files\/[0-9a-f]{64}\?name=Q3%20plan\.pdf$/)

  // Several files chosen at once go in in their order, one after another.
  await A.page.keyboard.press('Control+End')
  await A.page.getByTestId('file-input').setInputFiles([
    { name: 'one.png', mimeType: 'image/png', buffer: await drawPng(A.page, 200, 100, true) },
    { name: 'two.png', mimeType: 'image/png', buffer: await drawPng(A.page, 100, 100, false) }
  ])
  await B.page.locator('.prose img[alt=two]').waitFor({ timeout: 15_000 })
  await B.page.locator('.prose img[alt=one]').waitFor({ timeout: 15_000 })
  const alts = await B.page.locator('.prose img[src]').evaluateAll(imgs => imgs.map(i => i.alt))
  assert.equal(alts.indexOf('two'), alts.indexOf('one') + 1, `in order: ${alts}`)

  // A program is refused, with the server's reason, and nothing is inserted.
  const before = await A.page.locator('.prose img[src], .prose a.attachment').count()
  const elf = Buffer.alloc(64)
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0x3e, 0, 1]).copy(elf)
  elf[52] = 64; elf[54] = 56; elf[56] = 1
  await A.page.getByTestId('file-input').setInputFiles({ name: 'installer.exe', mimeType: 'application/octet-stream', buffer: elf })
  const refused = A.page.getByTestId('upload-refused')
  await refused.waitFor({ timeout: 10_000 })
  assert.match(await refused.textContent(), /“installer\.exe” was not attached: programs cannot be attached/)
  assert.equal(await A.page.locator('.prose img[src], .prose a.attachment').count(), before)
  await waitSaved(A.page)
  await A.page.screenshot({ path: join(artifacts, 'upload-refused.png') })
  await refused.getByRole('button', { name: 'Dismiss' }).click()

  // The export names the images by their addresses.
  const md = await (await fetch(`${server.url}/api/docs/${doc}/export?format=markdown`, { headers: { authorization: `Bearer ${A.token}` } })).text()
  assert.match(md, /!\[Revenue grew 12% in Q3\]\(\/api\/docs\/[a-z0-9]+\/files\/[0-9a-f]{64}\)/, md)
  assert.match(md, /\[Q3 plan\.pdf\]\(\/api\/docs\/.*\?name=Q3%20plan\.pdf\)/, md)

  // What it looks like: desktop and phone, light and dark.
  for (const scheme of ['light', 'dark']) {
    await A.page.emulateMedia({ colorScheme: scheme })
    await A.page.setViewportSize({ width: 1100, height: 900 })
    await A.page.screenshot({ path: join(artifacts, `files-desktop-${scheme}.png`) })
    await A.page.setViewportSize({ width: 375, height: 800 })
    await A.page.screenshot({ path: join(artifacts, `files-phone-${scheme}.png`) })
  }
  for (const p of [A, B]) await p.context.close()
})
