// What switching between Editing and Suggesting costs in a 1 MB document of 110 tables: the time
// from choosing the mode to the next frame, and how much of it y-tiptap spends rebuilding the
// document (`_forceRerender`, from a CPU profile). A tool, not a test: `node e2e/mode-switch.mjs`.
import { startTandem, launch, signUp, waitSaved, timeIn } from './harness.mjs'
import { buildBigDocument, opened } from './big-document.mjs'
const server = await startTandem({ args: ['--auth', 'accounts'] })
const browser = await launch()
try {
  const { page } = await signUp(browser, server.url, 'ann@example.org', 'Ann')
  await page.getByTestId('new-doc').click()
  await page.getByTestId('editor').waitFor()
  await buildBigDocument(page, 4)
  await waitSaved(page, 60_000)
  await page.reload()
  await opened(page)
  await page.waitForTimeout(1500)
  const cdp = await page.context().newCDPSession(page)
  const out = []
  for (const mode of ['suggesting', 'editing', 'suggesting', 'editing']) {
    await cdp.send('Profiler.enable'); await cdp.send('Profiler.setSamplingInterval', { interval: 200 }); await cdp.send('Profiler.start')
    const t0 = Date.now()
    await page.getByTestId('mode').selectOption(mode)
    await page.evaluate(() => new Promise(resolve => requestAnimationFrame(() => setTimeout(resolve))))
    const ms = Date.now() - t0
    const rr = timeIn((await cdp.send('Profiler.stop')).profile, '_forceRerender')
    out.push(`${mode}: ${ms} ms to the next frame, _forceRerender ${rr.toFixed(0)} ms`)
  }
  console.log(out.join('\n'))
} finally { await browser.close(); server.cleanup() }
