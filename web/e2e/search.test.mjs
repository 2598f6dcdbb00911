// Search from the home: "/" focuses the box, results follow typing with the matched word marked,
// a document the user may not open never shows, and a result opens the document scrolled to the
// match with the find bar on it. Screenshots at desktop and phone widths, light and dark.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startTandem, launch, signUp, apiAs, shots } from './harness.mjs'

let server, browser
// Over a hundred documents are made by one account below: more than the default rate allows.
before(async () => { server = await startTandem({ args: ['--auth', 'accounts', '--docs-per-minute', '1000'] }); browser = await launch() })
after(async () => { await browser?.close(); server?.cleanup() })

/** Imports Markdown as a new document owned by `token`'s user; its id. */
async function importMarkdown (token, title, markdown) {
  const res = await fetch(`${server.url}/api/docs/import?format=markdown&title=${encodeURIComponent(title)}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, origin: server.url, 'content-type': 'application/octet-stream' },
    body: markdown
  })
  assert.equal(res.status, 201, await res.clone().text())
  return (await res.json()).id
}

test('search from the home finds what the user may open and opens the document at the match', async () => {
  const A = await signUp(browser, server.url, 'ann@example.org', 'Ann Example')
  const B = await signUp(browser, server.url, 'bo@example.org', 'Bo Example')
  const filler = Array.from({ length: 80 }, (_, i) => `Paragraph ${i} about nothing in particular.`).join('\n\n')
  const garden = await importMarkdown(A.token, 'Garden plan', `${filler}\n\nThe heirloom tomatoes go on the \\<south\\> wall.\n`)
  await importMarkdown(A.token, 'Seed catalogue', 'Heirloom beans, heirloom squash.\n')
  await importMarkdown(B.token, 'Bo’s heirloom secrets', 'Private heirloom notes.\n')

  // Indexed within seconds of being saved.
  for (const [token, n] of [[A.token, 2], [B.token, 1]]) {
    const deadline = Date.now() + 15_000
    while ((await apiAs(server.url, token, 'GET', '/api/search?q=heirloom')).results.length < n) {
      assert.ok(Date.now() < deadline, 'indexed in time')
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }

  // "/" focuses the box; typing a prefix lists both of Ann's documents and none of Bo's.
  await A.page.reload()
  await A.page.getByTestId('doc-list').waitFor()
  await A.page.keyboard.press('/')
  assert.equal(await A.page.evaluate(() => document.activeElement?.getAttribute('data-testid')), 'search')
  await A.page.keyboard.type('heirl')
  const results = A.page.getByTestId('search-results')
  await results.locator('li', { hasText: 'Garden plan' }).waitFor({ timeout: 15_000 })
  await results.locator('li', { hasText: 'Seed catalogue' }).waitFor()
  assert.equal(await results.locator('li', { hasText: 'Bo’s' }).count(), 0, 'not Bo’s document')
  const garden_hit = results.locator('li', { hasText: 'Garden plan' })
  assert.equal(await garden_hit.locator('mark').first().innerText(), 'heirloom')
  assert.match(await garden_hit.innerText(), /<south>/, 'the text shown as text')
  assert.equal(await A.page.getByTestId('doc-list').count(), 0, 'results take the list’s place')
  await shots(A.page, 'home-search')

  // Nothing matches: said so. Escape clears and brings the list back.
  await A.page.getByTestId('search').fill('zzzqqq')
  await A.page.getByTestId('no-results').waitFor()
  await A.page.keyboard.press('Escape')
  await A.page.getByTestId('doc-list').waitFor()

  // Ctrl+K focuses it too; a result opens the document at its match.
  await A.page.locator('body').click()
  await A.page.keyboard.press('Control+k')
  await A.page.keyboard.type('tomat')
  await results.locator('li', { hasText: 'Garden plan' }).waitFor()
  await A.page.keyboard.press('Enter')
  await A.page.waitForURL(u => u.pathname === `/d/${garden}`)
  await A.page.getByTestId('find-bar').waitFor()
  assert.equal(await A.page.getByTestId('find-input').inputValue(), 'tomatoes')
  await A.page.getByTestId('find-count').filter({ hasText: '1 of 1' }).waitFor()
  const match = A.page.locator('.find-match').first()
  await match.waitFor()
  const box = await match.boundingBox()
  const viewport = A.page.viewportSize()
  assert.ok(box !== null && box.y >= 0 && box.y < viewport.height, `the match is on screen: ${JSON.stringify(box)}`)
  assert.equal(new URL(A.page.url()).hash, '', 'the hash is consumed')
  await shots(A.page, 'search-opened')
  assert.deepEqual(await A.page.evaluate(() => window.__violations), [])
})

test('the home organizes: recent, owned, shared, starred; pages of a long list', async () => {
  const A = await signUp(browser, server.url, 'cy@example.org', 'Cy Example')
  const B = await signUp(browser, server.url, 'di@example.org', 'Di Example')
  const alpha = (await apiAs(server.url, A.token, 'POST', '/api/docs', { title: 'Alpha notes' })).id
  const beta = (await apiAs(server.url, B.token, 'POST', '/api/docs', { title: 'Beta from Di' })).id
  await apiAs(server.url, B.token, 'POST', `/api/docs/${beta}/shares`, { email: 'cy@example.org', role: 'viewer' })
  // Opening a document puts it in Recent.
  await A.page.goto(`${server.url}/d/${alpha}`)
  await A.page.getByTestId('editor').waitFor()
  await A.page.goto(server.url)
  const list = A.page.getByTestId('doc-list')
  const titles = async () => await list.locator('li > a').allInnerTexts()
  await list.waitFor()
  assert.deepEqual((await titles()).sort(), ['Alpha notes', 'Beta from Di'])

  await A.page.getByTestId('view-owned').click()
  await list.locator('li', { hasText: 'Alpha notes' }).waitFor()
  assert.deepEqual(await titles(), ['Alpha notes'])
  await A.page.getByTestId('view-shared').click()
  await list.locator('li', { hasText: 'Beta from Di' }).waitFor()
  assert.deepEqual(await titles(), ['Beta from Di'])
  await A.page.getByTestId('view-recent').click()
  await list.locator('li', { hasText: 'Alpha notes' }).waitFor()
  assert.deepEqual(await titles(), ['Alpha notes'])

  // Star from the row; the Starred view holds it; unstarring there takes it away.
  await A.page.getByTestId('view-starred').click()
  await A.page.getByTestId('empty-view').waitFor()
  await A.page.getByTestId('view-all').click()
  const betaRow = list.locator('li', { hasText: 'Beta from Di' })
  await betaRow.getByTestId('star').click()
  assert.equal(await betaRow.getByTestId('star').getAttribute('aria-pressed'), 'true')
  await A.page.getByTestId('view-starred').click()
  await list.locator('li', { hasText: 'Beta from Di' }).waitFor()
  assert.deepEqual(await titles(), ['Beta from Di'])
  await A.page.reload()
  await list.locator('li', { hasText: 'Beta from Di' }).waitFor()
  assert.equal(await A.page.getByTestId('view-starred').getAttribute('aria-selected'), 'true', 'the view is remembered')
  await shots(A.page, 'home-starred')
  await list.locator('li', { hasText: 'Beta from Di' }).getByTestId('star').click()
  await A.page.getByTestId('empty-view').waitFor()

  // A long list comes a page at a time (100), the rest on request.
  for (let i = 0; i < 110; i++) {
    const made = await apiAs(server.url, A.token, 'POST', '/api/docs', { title: `Bulk ${String(i).padStart(3, '0')}` })
    assert.ok(made?.id !== undefined, JSON.stringify(made))
  }
  await A.page.getByTestId('view-all').click()
  await A.page.getByTestId('sort').selectOption('name')
  await A.page.getByTestId('load-more').waitFor()
  assert.equal(await list.locator('li').count(), 100)
  await A.page.getByTestId('load-more').click()
  await A.page.getByTestId('load-more').waitFor({ state: 'detached' })
  assert.equal(await list.locator('li').count(), 112)
  const all = await titles()
  assert.equal(all[0], 'Alpha notes')
  assert.equal(new Set(all).size, 112, 'no row twice')
})
