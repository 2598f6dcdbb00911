// Tables: inserted from the size picker, edited by two people at once (the same cell included),
// rows, columns, the header row, merge and split, and deleting the table, seen in both windows.
// Screenshots at desktop and phone widths go to e2e/artifacts.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { startTandem, launch, newDoc, openEditor, waitSaved, artifacts } from './harness.mjs'

let server, browser
before(async () => { server = await startTandem(); browser = await launch() })
after(async () => { await browser?.close(); server?.cleanup() })

/** The table as rows of cell texts, and each cell's colspan where it is not 1. */
const grid = page => page.getByTestId('editor').evaluate(el => {
  const c = el.cloneNode(true) // without the other people's caret labels
  c.querySelectorAll('.collaboration-carets__label').forEach(n => n.remove())
  const t = c.querySelector('table')
  if (t === null) return null
  return [...t.querySelectorAll('tr')].map(tr => [...tr.children].map(td =>
    (td.textContent ?? '') + (td.colSpan > 1 ? `[${td.colSpan}]` : '') + (td.tagName === 'TH' ? '*' : '')))
})

async function sameGrid (a, b, ms = 15_000) {
  const deadline = Date.now() + ms
  let ga, gb
  while (Date.now() < deadline) {
    [ga, gb] = [await grid(a), await grid(b)]
    if (JSON.stringify(ga) === JSON.stringify(gb)) return ga
    await new Promise(r => setTimeout(r, 100))
  }
  assert.fail(`tables differ:\nA: ${JSON.stringify(ga)}\nB: ${JSON.stringify(gb)}`)
}

const cell = (page, row, col) => page.locator(`.prose table tr:nth-child(${row}) > :nth-child(${col})`)
const click = (page, id) => page.getByTestId(id).dispatchEvent('mousedown')

/** Puts the editor's own selection (not only the browser's) in an empty cell: a character typed
 *  there and taken back again, so a table command that follows acts on that cell. */
async function intoEmptyCell (page, row, col) {
  await cell(page, row, col).click()
  await page.keyboard.type('x')
  await page.waitForFunction(([r, c]) => document.querySelector(`.prose table tr:nth-child(${r}) > :nth-child(${c})`)?.textContent === 'x', [row, col])
  await page.keyboard.press('Backspace')
}

test('two people build and edit one table, the same cell at once included, and converge', async () => {
  const doc = await newDoc(server.url, 'Table')
  const A = await openEditor(browser, server.url, doc, 'Alice')
  const B = await openEditor(browser, server.url, doc, 'Bob')
  await A.page.getByTestId('editor').click()
  await click(A.page, 'tb-table')
  await A.page.getByTestId('table-3x3').hover()
  await A.page.getByTestId('table-picker-size').filter({ hasText: '3 × 3' }).waitFor()
  await A.page.getByTestId('table-3x3').click()
  // Tab moves along the header row and into the body.
  await A.page.keyboard.type('Name')
  await A.page.keyboard.press('Tab')
  await A.page.keyboard.type('Role')
  await A.page.keyboard.press('Tab')
  await A.page.keyboard.type('Team')
  await A.page.keyboard.press('Tab')
  await A.page.keyboard.type('Ann')
  await waitSaved(A.page)
  assert.deepEqual(await sameGrid(A.page, B.page), [['Name*', 'Role*', 'Team*'], ['Ann', '', ''], ['', '', '']])

  // The same cell at once: both type into row 2, column 2.
  await cell(A.page, 2, 2).click()
  await cell(B.page, 2, 2).click()
  await Promise.all([A.page.keyboard.type('writer', { delay: 5 }), B.page.keyboard.type('editor', { delay: 5 })])
  await Promise.all([waitSaved(A.page), waitSaved(B.page)])
  const both = await sameGrid(A.page, B.page)
  // Each one's word whole, nothing repeated (see src/emptyText.ts).
  assert.ok(['writereditor', 'editorwriter'].includes(both[1][1]), JSON.stringify(both))

  // Rows and columns from Bob, seen by Alice.
  await intoEmptyCell(B.page, 3, 1)
  await click(B.page, 'table-row-below')
  await click(B.page, 'table-col-right')
  await waitSaved(B.page)
  let g = await sameGrid(A.page, B.page)
  assert.equal(g.length, 4, 'a row was added')
  assert.ok(g.every(r => r.length === 4), `a column was added: ${JSON.stringify(g)}`)
  // Delete the new row (the fourth) and the new column (the one with an empty header) again.
  const added = g[0].indexOf('*') + 1
  assert.ok(added > 1, JSON.stringify(g))
  await intoEmptyCell(B.page, 4, 1)
  await click(B.page, 'table-row-delete')
  await waitSaved(B.page)
  assert.equal((await sameGrid(A.page, B.page)).length, 3, 'the row is gone')
  await intoEmptyCell(B.page, 3, added)
  await click(B.page, 'table-col-delete')
  await waitSaved(B.page)
  g = await sameGrid(A.page, B.page)
  assert.equal(JSON.stringify(g.map(r => r.map(c => c.replace(/editor|writer/g, '')))),
    JSON.stringify([['Name*', 'Role*', 'Team*'], ['Ann', '', ''], ['', '', '']]), 'back to the table as it was')

  // Merge two body cells (a cell selection by Shift+click), then split them again.
  await cell(A.page, 3, 1).click()
  await cell(A.page, 3, 2).click({ modifiers: ['Shift'] })
  await click(A.page, 'table-merge')
  await waitSaved(A.page)
  g = await sameGrid(A.page, B.page)
  assert.equal(g[2][0], '[2]', `merged: ${JSON.stringify(g)}`)
  await click(A.page, 'table-split')
  await waitSaved(A.page)
  g = await sameGrid(A.page, B.page)
  assert.equal(g[2].length, 3, `split: ${JSON.stringify(g)}`)

  // The header row off and on.
  await click(A.page, 'table-header')
  await waitSaved(A.page)
  assert.equal((await sameGrid(A.page, B.page))[0][0], 'Name')
  await click(A.page, 'table-header')
  await waitSaved(A.page)

  await A.page.setViewportSize({ width: 1100, height: 800 })
  await A.page.screenshot({ path: join(artifacts, 'table-desktop.png') })
  await A.page.setViewportSize({ width: 375, height: 760 })
  await A.page.screenshot({ path: join(artifacts, 'table-phone.png') })
  const overflow = await A.page.evaluate(() => document.documentElement.scrollWidth - innerWidth)
  assert.ok(overflow <= 1, `the page does not scroll sideways at 375 px (${overflow} px)`)
  await A.page.setViewportSize({ width: 1100, height: 800 })

  await cell(A.page, 1, 1).click()
  await click(A.page, 'table-delete')
  await waitSaved(A.page)
  assert.equal(await sameGrid(A.page, B.page), null, 'the table is gone for both')
  await A.context.close(); await B.context.close()
})
