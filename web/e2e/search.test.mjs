// Search from the home: "/" focuses the box, results follow typing with the matched word marked,
// a document the user may not open never shows, and a result opens the document scrolled to the
// match with the find bar on it. Screenshots at desktop and phone widths, light and dark.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { startTandem, launch, signUp, artifacts, apiAs } from './harness.mjs'

let server, browser
before(async () => { server = await startTandem({ args: ['--auth', 'accounts'] }); browser = await launch() })
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

async function shots (page, name) {
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme })
    await page.setViewportSize({ width: 1100, height: 700 })
    await page.screenshot({ path: join(artifacts, `${name}-desktop-${scheme}.png`) })
    await page.setViewportSize({ width: 375, height: 760 })
    await page.screenshot({ path: join(artifacts, `${name}-phone-${scheme}.png`) })
  }
  await page.emulateMedia({ colorScheme: 'light' })
  await page.setViewportSize({ width: 1100, height: 700 })
}

test('search from the home finds what the user may open and opens the document at the match', async () => {
  const A = await signUp(browser, server.url, 'ann@example.org', 'Ann Example')
  const B = await signUp(browser, server.url, 'bo@example.org', 'Bo Example')
  const filler = Array.from({ length: 80 }, (_, i) => `Paragraph ${i} about nothing in particular.`).join('\n\n')
  const garden = await importMarkdown(A.token, 'Garden plan', `${filler}\n\nThe heirloom tomatoes go on the <south> wall.\n`)
  await importMarkdown(A.token, 'Seed catalogue', 'Heirloom beans, heirloom squash.\n')
  await importMarkdown(B.token, 'Bo’s heirloom secrets', 'Private heirloom notes.\n')

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
