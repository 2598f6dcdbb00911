// Suggestion mode in the real browser: a reviewer (a commenter, always Suggesting) proposes an
// insertion, a deletion and a new paragraph (Enter in the middle of one); the owner sees each
// marked in the reviewer's colour and listed under their name, accepts part and rejects part;
// both end with the same text. An editor may switch to Suggesting too, and formatting buttons
// are off there.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startTandem, launch, waitSaved, signUp, editorText, shots, apiAs } from './harness.mjs'

let server, browser
before(async () => { server = await startTandem({ args: ['--auth', 'accounts'] }); browser = await launch() })
after(async () => { await browser?.close(); server?.cleanup() })

/** Puts the caret just after `text` (inside one text node), or just before it. */
async function caretAfter (page, text, before = false) {
  await page.getByTestId('editor').evaluate((el, [text, before]) => {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT)
    for (let n = walker.nextNode(); n !== null; n = walker.nextNode()) {
      const i = n.textContent.indexOf(text)
      if (i < 0) continue
      const range = document.createRange()
      range.setStart(n, before ? i : i + text.length)
      range.collapse(true)
      getSelection().removeAllRanges()
      getSelection().addRange(range)
      return
    }
    throw new Error(`no text node holds ${text}`)
  }, [text, before])
  // The editor reads the page's selection a moment later: keys pressed before it has would act
  // where the caret was (Tiptap keeps the editor on its element).
  await page.waitForFunction(() => {
    const view = document.querySelector('.ProseMirror').editor.view
    const s = getSelection()
    return view.state.selection.head === view.posAtDOM(s.anchorNode, s.anchorOffset)
  })
}

/**
 * Ann (the owner) makes a document, `write` fills it, and she shares it with a reviewer (a
 * commenter, always Suggesting) named `name`, who opens it and waits for `shown`.
 */
async function ownerAndReviewer (tag, name, write, shown) {
  const ann = await signUp(browser, server.url, `ann-${tag}@example.org`, `Ann ${tag}`)
  const rev = await signUp(browser, server.url, `rev-${tag}@example.org`, name)
  const A = ann.page
  await A.getByTestId('new-doc').click()
  await A.getByTestId('editor').click()
  await write(A)
  await waitSaved(A)
  const docUrl = A.url()
  const share = { email: `rev-${tag}@example.org`, role: 'commenter' }
  const shared = await apiAs(server.url, ann.token, 'POST', `/api/docs/${docUrl.split('/d/')[1]}/shares`, share)
  assert.equal(shared?.role, 'commenter', `share: ${JSON.stringify(shared)}`)
  const R = rev.page
  await R.goto(docUrl)
  await R.getByTestId('editor').getByText(shown).waitFor()
  return { ann, rev, A, R }
}

/**
 * An editor's own new document holding `text`, switched to Suggesting; page errors are
 * collected in `errors`.
 */
async function suggestingEditor (tag, text) {
  const ann = await signUp(browser, server.url, `ann-${tag}@example.org`, 'Ann')
  const A = ann.page
  const errors = []
  A.on('pageerror', e => errors.push(e.message))
  await A.getByTestId('new-doc').click()
  await A.getByTestId('editor').click()
  await A.keyboard.type(text)
  await waitSaved(A)
  await A.getByTestId('mode').selectOption('suggesting')
  return { ann, A, errors }
}

/** The server's copy of the document on `page`, as plain text, one paragraph a line. */
async function serverText (page, token) {
  const doc = page.url().split('/d/')[1]
  const res = await fetch(new URL(`/api/docs/${doc}/export?format=text`, page.url()), { headers: { authorization: `Bearer ${token}` } })
  assert.ok(res.ok, `export: ${res.status}`)
  return (await res.text()).split('\n').filter(l => l !== '')
}

/** The document's text per paragraph as a reader of the result would see it. */
const paragraphs = async page => await page.getByTestId('editor').evaluate(el =>
  Array.from(el.querySelectorAll('p')).map(p => {
    const c = p.cloneNode(true)
    c.querySelectorAll('.collaboration-carets__label').forEach(n => n.remove())
    return c.textContent
  }))

test('a reviewer suggests; the owner accepts part and rejects part; everyone converges', async () => {
  const { ann, A, R } = await ownerAndReviewer('s', 'Rex', async A => await A.keyboard.type('The quick fox jumps over the dog'), 'the dog')
  assert.equal(await R.getByTestId('mode').inputValue(), 'suggesting', 'a commenter is always suggesting')
  assert.ok(await R.getByTestId('tb-bold').isDisabled(), 'formatting is off while suggesting')
  // An insertion, a deletion (of "quick "), and Enter before "jumps".
  await caretAfter(R, 'the ')
  await R.keyboard.type('lazy ')
  await caretAfter(R, 'The quick ')
  for (let i = 0; i < 6; i++) await R.keyboard.press('Backspace')
  await caretAfter(R, 'fox ')
  await R.keyboard.press('Enter')
  await R.keyboard.type('then ')
  await waitSaved(R)
  // The reviewer saw their proposal as the text to be.
  const seen = await R.getByTestId('editor').evaluate(el => {
    const c = el.cloneNode(true)
    c.querySelectorAll('del, .collaboration-carets__label').forEach(n => n.remove())
    return Array.from(c.querySelectorAll('p')).map(p => p.textContent)
  })
  assert.deepEqual(seen, ['The fox ', 'then jumps over the lazy dog'])

  // The owner sees the marks and a list under the reviewer's name.
  await A.locator('[data-testid=editor] ins.suggest-ins', { hasText: 'lazy' }).waitFor()
  await A.locator('[data-testid=editor] del.suggest-del', { hasText: 'quick' }).waitFor()
  await A.getByTestId('suggestions').click()
  const panel = A.getByTestId('suggestions-panel')
  await panel.getByTestId('suggestion-author').filter({ hasText: 'Rex' }).waitFor()
  await shots(A, 'suggestions-panel')
  // While suggestions are pending, exports can mark them up.
  assert.equal(await A.getByTestId('export').locator('option[value="markdown+suggestions"]').count(), 1)
  const items = panel.getByTestId('suggestion')
  assert.ok(await items.count() >= 2, 'one item per suggestion')
  // Accept the deletion of "quick", reject the rest.
  await items.filter({ hasText: 'quick' }).getByTestId('accept').click()
  await A.locator('[data-testid=editor] del.suggest-del', { hasText: 'quick' }).waitFor({ state: 'detached' })
  await panel.getByTestId('reject-all').click()
  await A.locator('[data-testid=editor] ins.suggest-ins').first().waitFor({ state: 'detached' })
  await waitSaved(A)
  const expected = ['The fox jumps over the dog']
  assert.deepEqual(await paragraphs(A), expected)
  await R.waitForFunction(want => Array.from(document.querySelectorAll('[data-testid=editor] p')).map(p => p.textContent).join('|') === want, expected.join('|'))
  assert.equal(await editorText(R), await editorText(A))

  // The history says who suggested what, and what became of it.
  await A.getByTestId('history').click()
  const history = A.getByTestId('history-panel')
  const lines = history.locator('.version-suggestions li')
  await lines.filter({ hasText: /^Accepted Rex’s suggestion of deleting “quick/ }).waitFor()
  // ("lazy " went into the proposed paragraph that Enter made: one suggestion.)
  await lines.filter({ hasText: /^Rejected Rex’s suggestion of adding “then jumps over the lazy dog/ }).waitFor()
  await lines.filter({ hasText: /^Suggested adding “then jumps over the lazy dog/ }).waitFor()
  await shots(A, 'suggestions-history')
})

test('an editor switches to Suggesting, and accepting all gives what they saw', async () => {
  const { ann, A, errors } = await suggestingEditor('e', 'One two three')
  await caretAfter(A, 'One two')
  await A.keyboard.press('Backspace')
  await A.keyboard.press('Backspace')
  await A.keyboard.press('Backspace')
  await A.keyboard.insertText('2') // as an input method commits text: no key events
  await A.keyboard.press('Enter')
  await waitSaved(A)
  await A.getByTestId('suggestions').click()
  await A.getByTestId('accept-all').click()
  await waitSaved(A)
  assert.deepEqual(await paragraphs(A), ['One 2', ' three'])
  assert.deepEqual(await serverText(A, ann.token), ['One 2', ' three'], 'the server has it too')
  // (A new block's suggestion attribute once came from a mark's prototype-less attributes, which
  // Yjs refused: the block reached the server unmarked.)
  assert.deepEqual(errors, [])
})

test('Backspace at a block start proposes joining; Enter then Backspace leaves nothing', async () => {
  const ann = await signUp(browser, server.url, 'ann-j@example.org', 'Ann')
  const A = ann.page
  await A.getByTestId('new-doc').click()
  await A.getByTestId('editor').click()
  await A.keyboard.type('First line')
  await A.keyboard.press('Enter')
  await A.keyboard.type('Second line')
  await waitSaved(A)
  await A.getByTestId('mode').selectOption('suggesting')
  // A split proposed and withdrawn at once: no suggestion is left.
  await caretAfter(A, 'First')
  await A.keyboard.press('Enter')
  assert.deepEqual(await paragraphs(A), ['First line', ' line', 'Second line'])
  await A.keyboard.press('Backspace')
  await waitSaved(A)
  assert.deepEqual(await paragraphs(A), ['First line', 'Second line'])
  assert.equal(await A.locator('[data-testid=editor] :is(ins, del, [data-suggest-block])').count(), 0, 'nothing is left proposed')
  // A join proposed: the second line proposed again at the first's end, its block struck.
  await caretAfter(A, 'Second line', true)
  await A.keyboard.press('Backspace')
  await A.keyboard.type(', and ')
  await waitSaved(A)
  await A.locator('[data-testid=editor] [data-suggest-block=delete]').waitFor()
  await shots(A, 'suggestions-join')
  await A.getByTestId('suggestions').click()
  await A.getByTestId('accept-all').click()
  await waitSaved(A)
  assert.deepEqual(await paragraphs(A), ['First line, and Second line'])
  assert.deepEqual(await serverText(A, ann.token), ['First line, and Second line'], 'the server has it too')
})

test('a commenter proposes a new table row and a row’s removal; the owner accepts both', async () => {
  const { ann, rev, A, R } = await ownerAndReviewer('t', 'Tia', async A => {
    await A.getByTestId('tb-table').dispatchEvent('mousedown')
    await A.getByTestId('table-2x2').click() // a header row and one row
    for (const [i, cell] of ['Name', 'Role', 'Ann', 'Owner'].entries()) {
      if (i > 0) await A.keyboard.press('Tab')
      await A.keyboard.type(cell)
    }
  }, 'Owner')
  await caretAfter(R, 'Owner')
  const bar = R.getByTestId('table-bar')
  await bar.waitFor()
  assert.ok(await R.getByTestId('table-merge').isDisabled(), 'only rows can be proposed')
  assert.match(await R.getByTestId('table-col-left').getAttribute('title'), /not available while suggesting/)
  await R.getByTestId('table-row-below').dispatchEvent('mousedown')
  await R.locator('[data-testid=editor] tr[data-suggest-block=insert]').waitFor()
  await R.keyboard.type('Tia')
  await R.keyboard.press('Tab')
  await R.keyboard.type('Reviewer')
  // And the header row's removal, proposed (it stays until accepted).
  await caretAfter(R, 'Role')
  await R.getByTestId('table-row-delete').dispatchEvent('mousedown')
  await R.locator('[data-testid=editor] tr[data-suggest-block=delete]').waitFor()
  await waitSaved(R)
  await shots(R, 'suggestions-table-rows')

  await A.locator('[data-testid=editor] tr[data-suggest-block=insert]', { hasText: 'Reviewer' }).waitFor()
  await A.locator('[data-testid=editor] tr[data-suggest-block=delete]', { hasText: 'Role' }).waitFor()
  await A.getByTestId('suggestions').click()
  await A.getByTestId('suggestions-panel').getByTestId('suggestion-author').filter({ hasText: 'Tia' }).waitFor()
  // The new row with what was typed in it is one suggestion; the removal another.
  assert.equal(await A.getByTestId('suggestions-panel').getByTestId('suggestion').count(), 2)
  await A.getByTestId('accept-all').click()
  await waitSaved(A)
  const rows = async page => await page.getByTestId('editor').evaluate(el => {
    const c = el.cloneNode(true)
    c.querySelectorAll('.collaboration-carets__label').forEach(n => n.remove())
    return Array.from(c.querySelectorAll('tr')).map(tr => Array.from(tr.querySelectorAll('td, th')).map(c => c.textContent).join('|'))
  })
  assert.deepEqual(await rows(A), ['Ann|Owner', 'Tia|Reviewer'])
  await R.waitForFunction(() => document.querySelectorAll('[data-testid=editor] tr').length === 2)
  assert.deepEqual(await rows(R), await rows(A))
  assert.equal(await A.locator('[data-testid=editor] [data-suggest-block]').count(), 0)
  await waitSaved(R) // still connected: nothing the reviewer did was refused
  assert.deepEqual(await serverText(A, ann.token), await serverText(R, rev.token))
})

test('a commenter proposes a mention, and one’s removal', async () => {
  const { ann, A, R } = await ownerAndReviewer('m', 'Mo', async A => {
    await A.keyboard.type('Ask @Ann')
    await A.getByTestId('mention-menu').getByText('Ann m').waitFor()
    await A.keyboard.press('Enter')
    await A.keyboard.type('today.')
  }, 'today.')
  // A proposed mention: typed as a proposal, picked from the list.
  await caretAfter(R, 'today.')
  await R.keyboard.type(' cc @Ann')
  await R.getByTestId('mention-menu').getByText('Ann m').waitFor()
  await R.keyboard.press('Enter')
  const proposed = R.locator('[data-testid=editor] .mention[data-suggest-block=insert]')
  await proposed.waitFor()
  assert.equal(await proposed.innerText(), '@Ann m')
  // And the owner's mention proposed for removal (Backspace right after it).
  await caretAfter(R, ' today.', true)
  await R.keyboard.press('Backspace')
  await R.locator('[data-testid=editor] .mention[data-suggest-block=delete]').waitFor()
  await waitSaved(R) // nothing was refused
  await shots(R, 'suggestions-mention')

  await A.locator('[data-testid=editor] .mention[data-suggest-block=insert]').waitFor()
  await A.getByTestId('suggestions').click()
  await A.getByTestId('accept-all').click()
  await waitSaved(A)
  const mentions = A.locator('[data-testid=editor] .mention')
  assert.equal(await mentions.count(), 1, 'the old mention went, the proposed one stayed')
  assert.equal(await A.locator('[data-testid=editor] [data-suggest-block]').count(), 0)
  assert.deepEqual(await serverText(A, ann.token), ['Ask  today. cc @Ann m '])
  await R.waitForFunction(() => document.querySelectorAll('[data-testid=editor] .mention').length === 1)
})

test('text composed with an input method (as on a phone) is proposed', async () => {
  const { ann, A, errors } = await suggestingEditor('i', 'One two')
  await caretAfter(A, 'One two')
  // Composition events through the browser's input method API, then the committed word.
  const cdp = await A.context().newCDPSession(A)
  await cdp.send('Input.imeSetComposition', { text: ' th', selectionStart: 3, selectionEnd: 3 })
  await cdp.send('Input.imeSetComposition', { text: ' thr', selectionStart: 4, selectionEnd: 4 })
  await cdp.send('Input.insertText', { text: ' three' })
  const ins = A.locator('[data-testid=editor] ins.suggest-ins')
  await ins.filter({ hasText: 'three' }).waitFor()
  assert.equal(await ins.innerText(), ' three')
  await waitSaved(A)
  assert.deepEqual(await paragraphs(A), ['One two three'])
  await A.getByTestId('suggestions').click()
  await A.getByTestId('reject-all').click()
  await waitSaved(A)
  assert.deepEqual(await serverText(A, ann.token), ['One two'], 'rejected: the server has the text before it')
  assert.deepEqual(errors, [])
})
