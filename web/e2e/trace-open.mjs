// Where opening a 1 MB document with tables and images goes in Chromium, by the browser's own
// trace: the renderer's main thread, top-level tasks summed by kind (script, compile, style,
// layout, paint, garbage collection) in time slices, beside the page's milestones. A tool, not a
// test: `node e2e/trace-open.mjs [every]` (a table after every `every` sections; 44 by default).
import { startTandem, launch, markMilestones, timeline, selfTimeByFunction, timeIn } from './harness.mjs'
import { savedBigDocument, opened } from './big-document.mjs'

const every = Number(process.argv[2] ?? 44)
const server = await startTandem()
const browser = await launch()
try {
  const doc = await savedBigDocument(browser, server.url, every)
  for (let run = 0; run < 3; run++) {
    const context = await browser.newContext()
    const page = await context.newPage()
    await markMilestones(page)
    const traced = run === 2
    // PROFILE=1: the second run samples the CPU (self time by function, the top 25).
    const cdp = run === 1 && process.env.PROFILE ? await context.newCDPSession(page) : null
    if (cdp !== null) { await cdp.send('Profiler.enable'); await cdp.send('Profiler.setSamplingInterval', { interval: 200 }); await cdp.send('Profiler.start') }
    if (traced) await browser.startTracing(page, { categories: ['devtools.timeline', 'v8.execute', 'disabled-by-default-devtools.timeline', 'v8'] })
    const t0 = performance.now()
    await page.goto(`${server.url}/d/${doc}`)
    await opened(page)
    const ms = Math.round(performance.now() - t0)
    console.log(`open ${traced ? '(traced) ' : ''}${ms} ms:`, await timeline(page))
    if (cdp !== null) {
      const { profile } = await cdp.send('Profiler.stop')
      for (const [n, t] of selfTimeByFunction(profile).slice(0, 25)) console.log(`  ${t.toFixed(1).padStart(7)} ms ${n}`)
      // FNS=a,b: the time inside each named function (inclusive); names need an unminified
      // build (`npx vite build --minify false --outDir D`, served with TANDEM_WEB_DIR=D).
      for (const f of (process.env.FNS ?? '').split(',').filter(Boolean)) console.log(`  inside ${f}: ${timeIn(profile, f).toFixed(0)} ms`)
    }
    if (traced) summarize(JSON.parse((await browser.stopTracing()).toString()))
    await context.close()
  }
} finally {
  await browser.close()
  server.cleanup()
}

/** What kind of work a trace event is. */
function kind (name) {
  if (/GC|Scavenge|MarkCompact/i.test(name)) return 'gc'
  if (/compile|parse(?!HTML)|Parse(?!HTML)/i.test(name)) return 'compile'
  if (/^(FunctionCall|EvaluateScript|v8\.|V8\.|TimerFire|EventDispatch|RunMicrotasks|FireAnimationFrame|XHR|HandlePostMessage)/.test(name)) return 'script'
  if (/UpdateLayoutTree|RecalculateStyles|ScheduleStyleRecalculation/.test(name)) return 'style'
  if (/^Layout|IntersectionObserver/.test(name)) return 'layout'
  if (/Paint|Layerize|Composite|Commit|UpdateLayer|Raster/.test(name)) return 'paint'
  if (/ParseHTML/.test(name)) return 'html'
  if (/Decode|Image/.test(name)) return 'image'
  return 'other'
}

/** Prints the main thread's busy time by kind (self time of each traced event), per 100 ms
 * after navigation and in total. */
function summarize (trace) {
  const events = trace.traceEvents ?? trace
  const main = events.find(e => e.name === 'thread_name' && e.args?.name === 'CrRendererMain')
  const mine = events.filter(e => e.pid === main.pid && e.tid === main.tid && e.ph === 'X' && e.dur !== undefined)
    .sort((a, b) => a.ts - b.ts || b.dur - a.dur).map(e => ({ ...e, inner: 0 }))
  const nav = events.find(e => e.name === 'navigationStart' && e.pid === main.pid)?.ts ?? mine[0].ts
  const stack = []
  for (const e of mine) {
    while (stack.length > 0 && stack.at(-1).ts + stack.at(-1).dur <= e.ts) stack.pop()
    if (stack.length > 0) stack.at(-1).inner += e.dur
    e.depth = stack.length
    stack.push(e)
  }
  const slices = new Map()
  const total = new Map()
  for (const e of mine) {
    const k = kind(e.name)
    const self = Math.max(0, e.dur - e.inner)
    const slice = Math.floor((e.ts - nav) / 100_000)
    const s = slices.get(slice) ?? new Map()
    s.set(k, (s.get(k) ?? 0) + self)
    total.set(k, (total.get(k) ?? 0) + self)
    slices.set(slice, s)
  }
  const fmt = m => [...m].filter(([, v]) => v >= 2000).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${Math.round(v / 1000)}`).join(', ')
  for (const [k, s] of [...slices].sort((a, b) => a[0] - b[0])) {
    const busy = [...s.values()].reduce((a, b) => a + b, 0)
    if (busy > 2000) console.log(`  ${String(k * 100).padStart(5)} ms: busy ${Math.round(busy / 1000)} ms: ${fmt(s)}`)
  }
  console.log(`  total: ${fmt(total)}`)
  const ms = us => String(Math.round(us / 1000)).padStart(5)
  // TRACE_DETAIL=1: each top-level task of 3 ms or more (what it mostly ran) and each idle gap
  // of 30 ms or more.
  if (process.env.TRACE_DETAIL) {
    let last = null
    for (const e of mine) {
      if (e.depth !== 0) continue
      if (last !== null && e.ts - last > 30_000) console.log(`  ${ms(last - nav)} idle ${Math.round((e.ts - last) / 1000)} ms`)
      last = Math.max(last ?? 0, e.ts + e.dur)
      if (e.dur < 3000) continue
      const inside = mine.filter(c => c !== e && c.ts >= e.ts && c.ts + c.dur <= e.ts + e.dur && c.dur > e.dur / 3 && c.name !== 'v8.callFunction')
      const what = inside.map(c => `${c.name}${c.args?.data?.functionName ? ` ${c.args.data.functionName}` : ''}${c.args?.data?.url ? ` ${c.args.data.url.split('/').pop()}` : ''}`).slice(0, 3).join(' > ')
      console.log(`  ${ms(e.ts - nav)} +${Math.round(e.dur / 1000)} ${what}`)
    }
  }
}
