// Editor figures for BENCHMARKS.md (issue 18), measured, not asserted: `make bench-editor`.
// 1. Keystroke in A → character rendered in B, in a document holding a 20 × 10 table and five
//    images (300 keystrokes).
// 2. Opening a 1 MB document with tables and images (about ten tables of 20 × 10, then about a
//    hundred): a fresh browser context navigates to it; done when the editor holds the last
//    paragraph's text and every image has loaded. Then as a returning user: a browser context
//    that has opened another (small) document first, so the editor's code is cached. Then
//    reopened where it was opened before (this device's copy loaded first).
// Run with the debug or release build (TANDEM_BIN), headless Chromium, on this machine.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startTandem, launch, newDoc, openEditor, waitSaved, artifacts, keystrokeLatency, selfTimeByFunction } from './harness.mjs'
import { addImages, buildBigDocument, opened } from './big-document.mjs'

const server = await startTandem()
const browser = await launch()

const quantile = (s, f) => s[Math.min(s.length - 1, Math.floor(f * s.length))]

// 1. Latency beside a large table and five images.
{
  const doc = await newDoc(server.url, 'Heavy')
  const A = await openEditor(browser, server.url, doc, 'Alice')
  const B = await openEditor(browser, server.url, doc, 'Bob')
  await A.page.getByTestId('editor').click()
  await A.page.keyboard.type('Intro')
  await A.page.getByTestId('tb-table').dispatchEvent('mousedown')
  await A.page.getByTestId('table-3x3').click()
  // Grow it to 20 × 10 with the table bar, then fill each cell.
  for (let c = 3; c < 10; c++) await A.page.getByTestId('table-col-right').dispatchEvent('mousedown')
  for (let r = 3; r < 20; r++) await A.page.getByTestId('table-row-below').dispatchEvent('mousedown')
  await A.page.locator('.prose table tr:first-child > :first-child').click()
  for (let k = 0; k < 200; k++) { await A.page.keyboard.type(`c${k}`); await A.page.keyboard.press('Tab') }
  await A.page.keyboard.press('Control+End')
  await addImages(A.page, 5)
  await A.page.keyboard.press('Control+End')
  await A.page.keyboard.press('Enter')
  await waitSaved(A.page)


  await B.page.waitForFunction(() => document.querySelectorAll('.prose img:not(.ProseMirror-separator)').length === 5 && document.querySelectorAll('.prose td, .prose th').length >= 200)
  const { page, harness } = await keystrokeLatency(A, B, 300, 'last')
  const line = { scenario: '20x10 table + 5 images', keystrokes: page.length, p50_ms: +quantile(page, 0.5).toFixed(1), p99_ms: +quantile(page, 0.99).toFixed(1), max_ms: +page.at(-1).toFixed(1), harness_p50_ms: +quantile(harness, 0.5).toFixed(1), harness_p99_ms: +quantile(harness, 0.99).toFixed(1) }
  console.log(JSON.stringify(line))
  writeFileSync(join(artifacts, 'keystroke-latency-heavy.json'), JSON.stringify(line))
  await A.context.close(); await B.context.close()
}

// 2. Opening a 1 MB document with tables and images: a table after every `every` sections.
async function openScenario (every) {
  const doc = await newDoc(server.url, 'Big')
  const A = await openEditor(browser, server.url, doc, 'Alice')
  await buildBigDocument(A.page, every)
  await waitSaved(A.page, 60_000)
  const chars = await A.page.getByTestId('editor').evaluate(el => el.textContent.length)
  const tables = await A.page.locator('.prose table').count()
  await A.context.close()
  const runs = []
  let top = null
  for (let i = 0; i < 4; i++) {
    const context = await browser.newContext()
    const page = await context.newPage()
    // The last run is profiled (CPU, self time by function), so a miss comes with its profile.
    const profiled = i === 3
    const cdp = profiled ? await context.newCDPSession(page) : null
    if (profiled) { await cdp.send('Profiler.enable'); await cdp.send('Profiler.setSamplingInterval', { interval: 200 }); await cdp.send('Profiler.start') }
    const t0 = performance.now()
    await page.goto(`${server.url}/d/${doc}`)
    await opened(page)
    const took = performance.now() - t0
    if (profiled) {
      const self = selfTimeByFunction((await cdp.send('Profiler.stop')).profile)
      const total = self.reduce((a, [, ms]) => a + ms, 0)
      top = self.slice(0, 15).map(([n, ms]) => `${(100 * ms / total).toFixed(1)}% ${Math.round(ms)} ms ${n}`)
    } else runs.push(took)
    await context.close()
  }
  // A returning user: this browser has run the editor before (another, small document), so its
  // code is cached; the big document itself was never opened here (nothing of it stored locally).
  const small = await newDoc(server.url, 'Small')
  const returning = []
  for (let i = 0; i < 3; i++) {
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(`${server.url}/d/${small}`)
    await page.getByTestId('editor').waitFor()
    await page.waitForFunction(() => navigator.serviceWorker?.controller != null || !('serviceWorker' in navigator), null, { timeout: 10_000 }).catch(() => {})
    const t0 = performance.now()
    await page.goto(`${server.url}/d/${doc}`)
    await opened(page)
    returning.push(performance.now() - t0)
    await context.close()
  }
  // Reopening it where it was opened before: this device keeps a copy, loaded before the socket
  // opens, so only the difference comes over the network.
  const reopen = []
  for (let i = 0; i < 3; i++) {
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(`${server.url}/d/${doc}`)
    await opened(page)
    await waitSaved(page, 60_000)
    await page.waitForTimeout(1000) // the copy written
    await page.goto(`${server.url}/`)
    await page.getByTestId('new-doc').waitFor()
    const t0 = performance.now()
    await page.goto(`${server.url}/d/${doc}`)
    await opened(page)
    reopen.push(performance.now() - t0)
    await context.close()
  }
  const line = {
    scenario: `open 1 MB with tables (one every ${every} sections) and images`,
    characters: chars,
    tables,
    images: 5,
    open_ms: runs.map(r => Math.round(r)),
    open_returning_ms: returning.map(r => Math.round(r)),
    reopen_with_copy_ms: reopen.map(r => Math.round(r)),
    profile_top_self_time: top
  }
  console.log(JSON.stringify(line, null, 1))
  writeFileSync(join(artifacts, `open-heavy-${tables}-tables.json`), JSON.stringify(line))
}
await openScenario(44) // about ten tables
await openScenario(4) // about a hundred

await browser.close()
server.cleanup()
