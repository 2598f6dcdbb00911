// Where opening a 1 MB document goes in Chromium: a CPU profile of a fresh context opening it,
// summed by function (self time). Not a test: `node e2e/profile-open.mjs` (debug or release build).
import { startTandem, launch, newDoc, openEditor, waitSaved, markMilestones, timeline, selfTimeByFunction } from './harness.mjs'

const server = await startTandem()
const browser = await launch()
try {
  const doc = await newDoc(server.url, 'Profile')
  const A = await openEditor(browser, server.url, doc, 'Alice')
  await A.page.getByTestId('editor').click()
  const line = 'The quick brown fox jumps over the lazy dog, again and again. '.repeat(16) + '\n'
  const text = line.repeat(Math.ceil((1 << 20) / line.length))
  await A.page.getByTestId('editor').evaluate((el, t) => {
    const dt = new DataTransfer()
    dt.setData('text/plain', t)
    el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }))
  }, text)
  await waitSaved(A.page, 60_000)
  await A.context.close()
  // Two runs without the profiler (its sampling slows the page), then two with it.
  for (let run = 0; run < 4; run++) {
    const profiling = run >= 2
    const context = await browser.newContext()
    const page = await context.newPage()
    await markMilestones(page)
    const cdp = await context.newCDPSession(page)
    if (profiling) {
      await cdp.send('Profiler.enable')
      await cdp.send('Profiler.setSamplingInterval', { interval: 200 })
      await cdp.send('Profiler.start')
    }
    const t0 = performance.now()
    await page.goto(`${server.url}/d/${doc}`)
    await page.waitForFunction(() => (document.querySelector('[data-testid=editor]')?.textContent.length ?? 0) > 1_000_000, null, { timeout: 60_000 })
    const ms = performance.now() - t0
    console.log(await timeline(page), '| done', Math.round(await page.evaluate(() => performance.now())))
    console.log(`open${profiling ? ' (profiled)' : ''}: ${Math.round(ms)} ms`)
    if (!profiling) { await context.close(); continue }
    const top = selfTimeByFunction((await cdp.send('Profiler.stop')).profile).slice(0, 30)
    for (const [k, v] of top) console.log(`${v.toFixed(1).padStart(8)} ms  ${k}`)
    await context.close()
  }
} finally {
  await browser.close()
  server.cleanup()
}
