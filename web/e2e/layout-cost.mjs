// What laying out the big document again costs under a few style variants: the open page's
// editor is given another width and the forced layout timed (three widths per variant, three
// rounds). A tool, not a test: `TANDEM_BIN=../target/release/tandem node e2e/layout-cost.mjs`.
import { startTandem, launch } from './harness.mjs'
import { savedBigDocument, opened } from './big-document.mjs'
const server = await startTandem()
const browser = await launch()
const doc = await savedBigDocument(browser, server.url, 44)
const context = await browser.newContext()
const page = await context.newPage()
await page.goto(`${server.url}/d/${doc}`)
await opened(page)
await page.waitForTimeout(2000)
const variants = {
  none: '',
  cvParas: '.prose > p { content-visibility: auto; contain-intrinsic-size: auto 6em; }',
  optimizeSpeed: '.prose { text-rendering: optimizeSpeed; }',
  noKerning: '.prose { font-kerning: none; font-variant-ligatures: none; }',
  containParas: '.prose > p { contain: layout style; }',
  normalWS: '.prose { white-space: normal !important; }'
}
for (let r = 0; r < 3; r++) for (const [name, css] of Object.entries(variants)) {
  const ms = await page.evaluate(async css => {
    const s = document.createElement('style'); s.textContent = css; document.head.append(s)
    const el = document.querySelector('.prose')
    void document.body.offsetHeight
    const times = []
    for (let i = 0; i < 3; i++) {
      el.style.width = `${600 + i * 7 + (i % 2) * 100}px`
      const t = performance.now(); void document.body.offsetHeight; times.push(performance.now() - t)
    }
    el.style.width = ''
    s.remove(); void document.body.offsetHeight
    return times.map(Math.round)
  }, css)
  console.log(name.padEnd(14), ms.join(' '))
}
await browser.close(); server.cleanup()
