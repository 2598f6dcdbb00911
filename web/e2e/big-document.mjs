// The big document the editor's benchmarks open (bench-editor.mjs, trace-open.mjs): about 1 MB
// of paragraphs with a 20 × 10 table after every `every` sections, and five uploaded images.
import { newDoc, openEditor, waitSaved } from './harness.mjs'

/** A 640 × 360 PNG drawn by the page. */
const png = (page, i) => page.evaluate(async i => {
  const c = document.createElement('canvas')
  c.width = 640; c.height = 360
  const g = c.getContext('2d')
  g.fillStyle = `hsl(${i * 60}, 60%, 50%)`; g.fillRect(0, 0, 640, 360)
  g.fillStyle = '#fff'; g.font = 'bold 48px sans-serif'; g.fillText(`Figure ${i + 1}`, 40, 180)
  const blob = await new Promise(r => c.toBlob(r, 'image/png'))
  return Array.from(new Uint8Array(await blob.arrayBuffer()))
}, i).then(a => Buffer.from(a))

/** Uploads `n` images through the editor's file button, at the caret. */
export async function addImages (page, n) {
  for (let i = 0; i < n; i++) {
    await page.getByTestId('file-input').setInputFiles({ name: `figure-${i + 1}.png`, mimeType: 'image/png', buffer: await png(page, i) })
    await page.waitForFunction(k => document.querySelectorAll('.prose img:not(.ProseMirror-separator)').length >= k, i + 1, { timeout: 30_000 })
  }
}

/** Pastes the big document into the open editor `page` and adds the images at its start. */
export async function buildBigDocument (page, every) {
  await page.getByTestId('editor').click()
  const html = []
  let size = 0
  for (let t = 0; size < 1_000_000; t++) {
    const para = `<p>Section ${t}: ${'lorem ipsum dolor sit amet '.repeat(40)}</p>`
    const rows = Array.from({ length: 20 }, (_, r) => `<tr>${Array.from({ length: 10 }, (_, c) => `<td>r${r}c${c} ${'x'.repeat(8)}</td>`).join('')}</tr>`).join('')
    const chunk = t % every === 0 ? `${para}<table><tbody>${rows}</tbody></table>` : para
    html.push(chunk)
    size += chunk.length
  }
  html.push('<p>THE END</p>')
  await page.getByTestId('editor').evaluate((el, h) => {
    const dt = new DataTransfer()
    dt.setData('text/html', h)
    dt.setData('text/plain', 'x')
    el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }))
  }, html.join(''))
  await page.keyboard.press('Control+Home')
  await addImages(page, 5)
}

/** A new document on `url` holding the big document, written and saved by a window that is then
 * closed; its id. */
export async function savedBigDocument (browser, url, every) {
  const doc = await newDoc(url, 'Big')
  const A = await openEditor(browser, url, doc, 'Alice')
  await buildBigDocument(A.page, every)
  await waitSaved(A.page, 60_000)
  await A.context.close()
  return doc
}

/** Waits until `page` shows the whole big document: its last paragraph and every image loaded. */
export const opened = page => page.waitForFunction(() => {
  const el = document.querySelector('[data-testid=editor]')
  const imgs = [...(el?.querySelectorAll('img:not(.ProseMirror-separator)') ?? [])]
  return el?.textContent?.includes('THE END') && imgs.length === 5 && imgs.every(i => i.complete && i.naturalWidth > 0)
}, null, { timeout: 60_000, polling: 20 })
