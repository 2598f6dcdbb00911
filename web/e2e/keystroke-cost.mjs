// What a keystroke costs the typist's page in a 1 MB document (19 tables, five images): the time
// ProseMirror's dispatch of one inserted character takes, with everything that runs inside it
// (the Yjs binding, every plugin, every 'update' listener). Not a test: `node e2e/keystroke-cost.mjs`
// (TANDEM_BIN, TANDEM_WEB_DIR choose the server and the web build).
import { startTandem, launch, newDoc, openEditor, waitSaved } from './harness.mjs'
import { buildBigDocument } from './big-document.mjs'
const server = await startTandem()
const browser = await launch()
try {
  const doc = await newDoc(server.url, 'Big')
  const A = await openEditor(browser, server.url, doc, 'Alice')
  await buildBigDocument(A.page, 44)
  await waitSaved(A.page, 60_000)
  await A.page.keyboard.press('Control+End')
  for (let round = 0; round < 3; round++) {
    const ms = await A.page.evaluate(async () => {
      const editor = document.querySelector('.ProseMirror').editor
      const out = []
      for (let i = 0; i < 40; i++) {
        const t0 = performance.now()
        editor.view.dispatch(editor.state.tr.insertText('x'))
        out.push(performance.now() - t0)
        await new Promise(r => setTimeout(r, 30))
      }
      out.sort((a, b) => a - b)
      return [out[20], out[38]]
    })
    console.log(`keystroke dispatch in a 1 MB document: median ${ms[0].toFixed(1)} ms, p95 ${ms[1].toFixed(1)} ms`)
  }
} finally { await browser.close(); server.cleanup() }
