// Comments in the real browser: a commenter selects text in a document they can only suggest in
// and comments on it; the owner sees the thread and its highlight live, edits around and inside the
// range (the highlight follows the text), replies; the commenter sees the reply and resolves.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { startTandem, launch, waitSaved, signUp, editorText, artifacts } from './harness.mjs'

let server, browser
before(async () => { server = await startTandem({ args: ['--auth', 'accounts'] }); browser = await launch() })
after(async () => { await browser?.close(); server?.cleanup() })

/** Selects `text` (inside one text node) in the editor as a user would with the mouse. */
async function selectText (page, text) {
  await page.getByTestId('editor').evaluate((el, text) => {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT)
    for (let n = walker.nextNode(); n !== null; n = walker.nextNode()) {
      const i = n.textContent.indexOf(text)
      if (i < 0) continue
      const range = document.createRange()
      range.setStart(n, i)
      range.setEnd(n, i + text.length)
      const sel = getSelection()
      sel.removeAllRanges()
      sel.addRange(range)
      return
    }
    throw new Error(`no text node holds ${text}`)
  }, text)
  // ProseMirror reads the DOM selection on selectionchange.
  await page.waitForTimeout(100)
}

/** Ann (signed up as ann{tag}@…) owns a new document open in her page; Cat is its commenter. */
async function annAndCommenterCat (tag) {
  const ann = await signUp(browser, server.url, `ann${tag}@example.org`, 'Ann')
  const cat = await signUp(browser, server.url, `cat${tag}@example.org`, 'Cat')
  const A = ann.page
  await A.getByTestId('new-doc').click()
  await A.getByTestId('editor').waitFor()
  const docUrl = A.url()
  const doc = docUrl.split('/d/')[1]
  const res = await fetch(`${server.url}/api/docs/${doc}/shares`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ann.token}`, 'content-type': 'application/json', origin: server.url },
    body: JSON.stringify({ email: `cat${tag}@example.org`, role: 'commenter' })
  })
  assert.ok(res.ok, `share: ${res.status}`)
  return { ann, cat, A, docUrl }
}

/** The highlighted text, without the caret labels that may sit inside it. */
const highlighted = async page => await page.getByTestId('editor').evaluate(el => {
  const c = el.cloneNode(true)
  c.querySelectorAll('.collaboration-carets__label').forEach(n => n.remove())
  return Array.from(c.querySelectorAll('.comment-highlight')).map(n => n.textContent).join('')
})

test('a commenter comments on a range; it syncs live, follows edits, gets replies and is resolved', async () => {
  const { ann, cat, A, docUrl } = await annAndCommenterCat('')
  await A.getByTestId('editor').click()
  await A.keyboard.type('The quick brown fox jumps over the lazy dog')
  await waitSaved(A)
  await A.getByTestId('comments').click()
  await A.getByTestId('comments-panel').waitFor()

  const C = cat.page
  await C.goto(docUrl)
  await C.getByTestId('editor').getByText('lazy dog').waitFor()
  await C.getByTestId('view-only').waitFor()
  await selectText(C, 'brown fox')
  await C.getByTestId('comment').click()
  const form = C.getByTestId('new-comment')
  assert.equal(await form.locator('blockquote').textContent(), 'brown fox')
  await form.getByLabel('Comment').fill('Which fox? <img src=x onerror=alert(1)>')
  await form.getByRole('button', { name: 'Comment' }).click()
  await C.getByTestId('thread').getByText('Which fox?', { exact: false }).waitFor()

  // Ann sees the thread and the highlight without reloading.
  const thread = A.getByTestId('thread')
  await thread.getByText('Which fox? <img src=x onerror=alert(1)>').waitFor()
  assert.match(await thread.textContent(), /Cat/)
  await A.waitForFunction(() => document.querySelectorAll('[data-testid=editor] .comment-highlight').length > 0)
  assert.equal(await highlighted(A), 'brown fox')
  assert.equal(await A.locator('[data-testid=editor] img').count(), 0, 'a comment body is text, never markup')

  // Ann edits before, inside and after the range: the highlight follows the text.
  await A.getByTestId('editor').click()
  await A.keyboard.press('Home')
  await A.keyboard.type('Look: ')
  await selectText(A, 'brown')
  await A.keyboard.press('ArrowRight')
  await A.keyboard.type(' furry')
  await A.keyboard.press('End')
  await A.keyboard.type('!')
  await waitSaved(A)
  assert.equal(await highlighted(A), 'brown furry fox')
  while (!(await editorText(C)).endsWith('dog!')) await C.waitForTimeout(50)
  assert.equal(await highlighted(C), 'brown furry fox', 'the commenter sees the same range')
  // Deleting text before the range moves it; deleting inside shrinks it.
  await selectText(A, 'quick ')
  await A.keyboard.press('Backspace')
  await selectText(A, ' furry')
  await A.keyboard.press('Backspace')
  await waitSaved(A)
  assert.equal(await highlighted(A), 'brown fox')
  await A.setViewportSize({ width: 1180, height: 700 })
  await A.screenshot({ path: join(artifacts, 'comments.png') })

  // Ann replies; Cat sees it and resolves the thread; it leaves Ann's open list and highlight.
  await thread.getByTestId('reply').getByLabel('Reply').fill('The brown one.')
  await thread.getByTestId('reply').getByRole('button', { name: 'Reply' }).click()
  await C.getByTestId('thread').getByText('The brown one.').waitFor()
  await C.getByTestId('thread').getByTestId('resolve').click()
  await A.getByTestId('thread').waitFor({ state: 'detached' })
  assert.equal(await A.locator('[data-testid=editor] .comment-highlight').count(), 0)

  // The commenter cannot edit: typing makes a suggestion, which the owner rejects.
  await C.getByTestId('editor').click()
  await C.keyboard.type('vandalism')
  await A.locator('[data-testid=editor] ins.suggest-ins', { hasText: 'vandalism' }).waitFor()
  await A.getByTestId('suggestions').click()
  await A.getByTestId('suggestion').getByTestId('reject').click()
  await C.waitForFunction(() => !document.querySelector('[data-testid=editor]').textContent.includes('vandalism'))
  await A.getByTestId('suggestions-close').click()

  // After a reload the resolved thread is still there, under "Resolved", and can be reopened.
  await A.reload()
  await A.getByTestId('comments').click()
  await A.getByTestId('comments-panel').getByLabel('Resolved').check()
  await A.getByTestId('thread').getByText('The brown one.').waitFor()
  await A.getByTestId('thread').getByTestId('reopen').click()
  await A.getByTestId('comments-panel').getByLabel('Resolved').uncheck()
  await A.getByTestId('thread').waitFor()
  assert.deepEqual(await A.evaluate(() => window.__violations), [])
  await ann.context.close()
  await cat.context.close()
})

test('comments show without the panel: a count, a margin marker and a live notice; Ctrl+Alt+M comments; authors edit and delete their own', async () => {
  const { ann, cat, A, docUrl } = await annAndCommenterCat('2')
  await A.getByTestId('editor').click()
  await A.keyboard.type('Ship the release on Friday after the review.')
  await waitSaved(A)
  assert.equal(await A.getByTestId('comment-count').count(), 0)

  const C = cat.page
  await C.goto(docUrl)
  await C.getByTestId('editor').getByText('Friday').waitFor()
  await selectText(C, 'on Friday')
  await C.keyboard.press('Control+Alt+m')
  const form = C.getByTestId('new-comment')
  await form.getByLabel('Comment').fill('Friday is a holiday.')
  await form.getByRole('button', { name: 'Comment' }).click()
  await C.getByTestId('thread').getByText('Friday is a holiday.').waitFor()

  // Ann, panel closed: a notice, a count and a marker beside the line.
  await A.getByTestId('comment-notice').filter({ hasText: 'Cat commented: Friday is a holiday.' }).waitFor()
  assert.equal(await A.getByTestId('comment-count').textContent(), '1')
  assert.equal(await A.getByTestId('comments-panel').count(), 0)
  const marker = A.locator('[data-testid=editor] .comment-marker')
  await marker.waitFor()
  const place = await A.evaluate(() => {
    const m = document.querySelector('.comment-marker').getBoundingClientRect()
    const p = document.querySelector('[data-testid=editor]').getBoundingClientRect()
    const line = document.querySelector('[data-testid=editor] p').getBoundingClientRect()
    return { inMargin: p.right - m.right < 20, onLine: m.top >= line.top - 4 && m.bottom <= line.bottom + 4 }
  })
  assert.ok(place.inMargin && place.onLine, `the marker sits in the margin beside its line: ${JSON.stringify(place)}`)
  assert.equal(await editorText(A), 'Ship the release on Friday after the review.', 'the marker is not text')
  await marker.click()
  await A.getByTestId('comments-panel').waitFor()
  await A.locator('[data-testid=thread].active').getByText('Friday is a holiday.').waitFor()
  assert.equal(await A.getByTestId('thread').getByTestId('edit').count(), 0, 'Ann cannot edit Cat\'s comment')

  // Cat edits, then deletes, her comment; Ann sees both.
  await C.getByTestId('thread').getByTestId('edit').click()
  await C.getByTestId('edit-comment').getByLabel('Save').fill('Friday is a public holiday.')
  await C.getByTestId('edit-comment').getByRole('button', { name: 'Save' }).click()
  await A.getByTestId('thread').getByText('Friday is a public holiday.').waitFor()
  C.once('dialog', d => { void d.accept() })
  await C.getByTestId('thread').getByTestId('delete').click()
  await A.getByTestId('thread').waitFor({ state: 'detached' })
  await A.getByTestId('comment-count').waitFor({ state: 'detached' })
  assert.equal(await marker.count(), 0)
  await ann.context.close()
  await cat.context.close()
})
