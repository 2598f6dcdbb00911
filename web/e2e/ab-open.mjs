// Two (or more) web builds opening the same big document, alternated round by round, each
// on a fresh server over one data directory, so a difference between builds is not a difference
// between hours. A tool, not a test:
// `TANDEM_BIN=../target/release/tandem ROUNDS=4 node e2e/ab-open.mjs 44 DIST_A DIST_B`
// (a table after every 44 sections; DIST_* are `vite build` output directories).
import { startTandem, launch, markMilestones, timeline } from './harness.mjs'
import { savedBigDocument, opened } from './big-document.mjs'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
const every = Number(process.argv[2] ?? 44)
const builds = process.argv.slice(3)
const dataDir = mkdtempSync(join(tmpdir(), 'ab-'))
const browser = await launch()
let server = await startTandem({ dataDir })
const doc = await savedBigDocument(browser, server.url, every)
await server.kill()
const res = Object.fromEntries(builds.map(b => [b, []]))
for (let round = 0; round < Number(process.env.ROUNDS ?? 3); round++) {
  for (const b of builds) {
    process.env.TANDEM_WEB_DIR = b
    server = await startTandem({ dataDir })
    for (let i = 0; i < 2; i++) {
      const context = await browser.newContext()
      const page = await context.newPage()
      await markMilestones(page)
      const t0 = performance.now()
      await page.goto(`${server.url}/d/${doc}`)
      await opened(page)
      const ms = Math.round(performance.now() - t0)
      res[b].push(ms)
      console.log(b, ms, await timeline(page))
      await context.close()
    }
    await server.kill()
  }
}
for (const [b, r] of Object.entries(res)) console.log(b, r.sort((x, y) => x - y).join(' '))
await browser.close()
