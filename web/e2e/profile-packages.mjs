// Where a first visit to the big document spends its CPU, by package: each sample of a CPU
// profile goes to the innermost frame that a source map places in a package (or in src/), and
// native work to the package that called it. A tool, not a test:
// `npx vite build --minify false --sourcemap true --outDir D` then
// `TANDEM_WEB_DIR=D TANDEM_BIN=../target/release/tandem node e2e/profile-packages.mjs [every]`;
// KEYS=a,b (package names as printed) also prints the commonest stacks inside those.
import { readFileSync, readdirSync } from 'node:fs'
import { SourceMap } from 'node:module'
import { startTandem, launch } from './harness.mjs'
import { savedBigDocument, opened } from './big-document.mjs'

const dir = process.env.TANDEM_WEB_DIR
const every = Number(process.argv[2] ?? 44)
const maps = new Map()
for (const f of readdirSync(`${dir}/assets`).filter(f => f.endsWith('.js'))) {
  maps.set(f, new SourceMap(JSON.parse(readFileSync(`${dir}/assets/${f}.map`, 'utf8'))))
}
const short = src => src.includes('node_modules/')
  ? src.replace(/.*node_modules\//, '').split('/').slice(0, src.includes('node_modules/@') ? 2 : 1).join('/')
  : src.replace(/.*\/src\//, 'src/')
const packageOf = frame => {
  const entry = maps.get(frame.url.split('/').pop())?.findEntry(frame.lineNumber, frame.columnNumber)
  return entry?.originalSource ? short(entry.originalSource) : null
}
const keys = (process.env.KEYS ?? '').split(',').filter(Boolean)

const server = await startTandem()
const browser = await launch()
try {
  const doc = await savedBigDocument(browser, server.url, every)
  for (let run = 0; run < 2; run++) {
    const context = await browser.newContext()
    const page = await context.newPage()
    const cdp = await context.newCDPSession(page)
    await cdp.send('Profiler.enable')
    await cdp.send('Profiler.setSamplingInterval', { interval: 100 })
    await cdp.send('Profiler.start')
    await page.goto(`${server.url}/d/${doc}`)
    await opened(page)
    const { profile } = await cdp.send('Profiler.stop')
    const byId = new Map(profile.nodes.map(n => [n.id, n]))
    const parent = new Map()
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
    const byPackage = new Map()
    const stacks = new Map()
    let total = 0
    profile.samples.forEach((id, k) => {
      const ms = (profile.timeDeltas[k] ?? 0) / 1000
      total += ms
      const leaf = byId.get(id).callFrame.functionName || '(native)'
      let key = leaf
      for (let at = id; at !== undefined; at = parent.get(at)) {
        const p = packageOf(byId.get(at).callFrame)
        if (p !== null) { key = leaf.startsWith('(') && at !== id ? `${leaf} in ${p}` : p; break }
      }
      byPackage.set(key, (byPackage.get(key) ?? 0) + ms)
      if (keys.includes(key)) {
        const names = []
        for (let at = id; at !== undefined && names.length < 10; at = parent.get(at)) names.push(byId.get(at).callFrame.functionName || '(anonymous)')
        const stack = `${key}: ${names.join(' < ')}`
        stacks.set(stack, (stacks.get(stack) ?? 0) + ms)
      }
    })
    console.log(`open ${run + 1}: ${total.toFixed(0)} ms profiled`)
    for (const [k, v] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`  ${v.toFixed(1).padStart(7)} ms ${k}`)
    for (const [k, v] of [...stacks].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`  # ${v.toFixed(1)} ms ${k}`)
    await context.close()
  }
} finally {
  await browser.close()
  server.cleanup()
}
