// heavy_bench.mjs — the page and the widget under heavy use, in Chromium (a benchmark, not a
// test: it writes bench/heavy-results.json and prints it; it fails only if the page fails).
//   1. A blog page with 20 widgets (web/examples/many-widgets.html): how many compute before any
//      scrolling (only the visible ones should), the browser's memory then and after scrolling
//      through all of them, the worker's models and wasm memory, and the main thread's long tasks
//      and slow frames while scrolling.
//   2. Play left running on a 512-token text (the page's largest context) for --minutes (10):
//      the browser's memory every 30 s.
//   3. --switches (1,000) model switches in the page's model menu: memory before and after.
// Memory: the resident set of every Chromium process (the page, its workers, the GPU and browser
// processes: what the machine pays), after a garbage collection (--js-flags=--expose-gc); for the
// model switches also the page's own JavaScript heap after a GC and its DOM nodes (what a leak in
// the page's code would grow) and what the worker holds.
// Usage: node bench/heavy_bench.mjs [--minutes 10] [--switches 1000] [--out FILE]
// (0 minutes or 0 switches skip that part; COPE_WEB_DIR: another build of the page)
import { chromium } from 'playwright-core';
import { serve } from '../web/test/server.mjs';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';

const arg = (name, def) => {
  const k = process.argv.indexOf(name);
  return k > 0 ? process.argv[k + 1] : def;
};
const MINUTES = Number(arg('--minutes', 10)),
  SWITCHES = Number(arg('--switches', 1000)),
  OUT = arg('--out', 'bench/heavy-results.json');
const SITE = process.env.COPE_WEB_DIR || 'build/web'; // the built page (make web)
const index = JSON.parse(readFileSync(`${SITE}/models/index.json`, 'utf8'));
const log = (...a) => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...a);
// the machine's load average at the start and the end: other work on the 2 cores slows the page
const out = {
  date: new Date().toISOString().slice(0, 10),
  load_start: loadavg()[0],
  widgets: {},
  play: {},
  switches: {},
};

/** MB resident in the browser's process tree (ps), after a GC in the page */
function rssMB(rootPid) {
  const rows = execFileSync('ps', ['-eo', 'pid=,ppid=,rss='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number));
  const tree = new Set([rootPid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, ppid] of rows)
      if (tree.has(ppid) && !tree.has(pid)) {
        tree.add(pid);
        grew = true;
      }
  }
  tree.delete(rootPid);
  tree.delete(proc.pid);
  return Math.round(rows.filter(([pid]) => tree.has(pid)).reduce((s, r) => s + r[2], 0) / 1024);
}
/** The page's JavaScript heap (MB, after a GC) and its DOM nodes */
async function pageHeap(page) {
  return page.evaluate(() => {
    window.gc?.();
    return {
      js_heap_mb: Math.round(performance.memory.usedJSHeapSize / 1e5) / 10,
      dom_nodes: document.getElementsByTagName('*').length,
    };
  });
}
async function memory(page, pid) {
  await page.evaluate(() => window.gc?.());
  await page.waitForTimeout(500);
  return rssMB(pid);
}

const { proc, base } = await serve(SITE);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--js-flags=--expose-gc', '--enable-precise-memory-info'],
});
// the browser's processes: this process's descendants but the server (and this process itself)
const pid = process.pid;
const errors = [];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('pageerror', (e) => errors.push(e.message));
  out.widgets.browser_mb_blank = await memory(page, pid);
  await page.goto(`${base}examples/many-widgets.html`);
  const computed = () =>
    page.evaluate(
      () =>
        [...document.querySelectorAll('cope-viz')].filter((w) => w.panel?.run && !w.shadowRoot.querySelector('.still'))
          .length,
    );
  await page.waitForFunction(() => document.getElementById('w0').panel?.run, null, { timeout: 60000 });
  await page.waitForTimeout(3000);
  out.widgets.computed_before_scrolling = await computed();
  log('widgets computed before scrolling:', out.widgets.computed_before_scrolling);
  out.widgets.browser_mb_before_scrolling = await memory(page, pid);
  await page.evaluate(() => {
    window.longTasks = [];
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) window.longTasks.push(e.duration);
    }).observe({ type: 'longtask' });
    window.frames_ = [];
    let last = performance.now();
    const tick = (t) => {
      window.frames_.push(t - last);
      last = t;
      if (!window.stopFrames) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
  const t0 = Date.now();
  // scroll down as a reader would (300 px every 100 ms) until every widget has computed: the
  // page grows as widgets replace their still frames
  const all = () => page.evaluate(() => [...document.querySelectorAll('cope-viz')].every((w) => w.panel?.run));
  while (!(await all())) {
    if (Date.now() - t0 > 300000) {
      const left = await page.evaluate(() =>
        [...document.querySelectorAll('cope-viz')].filter((w) => !w.panel?.run).map((w) => w.id),
      );
      throw new Error(`widgets not computed after 300 s of scrolling: ${left.join(', ')}`);
    }
    await page.mouse.wheel(0, 300);
    await page.waitForTimeout(100);
  }
  log('scrolled through every widget');
  const scroll = await page.evaluate(() => {
    window.stopFrames = true;
    const f = window.frames_.slice(1);
    return { long: window.longTasks, frames: f.length, slow: f.filter((d) => d > 50).length, worst: Math.max(...f) };
  });
  Object.assign(out.widgets, {
    computed_after_scrolling: await computed(),
    scroll_seconds: Math.round((Date.now() - t0) / 100) / 10,
    long_tasks_while_scrolling: scroll.long.length,
    longest_task_ms: Math.round(Math.max(0, ...scroll.long)),
    frames: scroll.frames,
    frames_over_50ms: scroll.slow,
    worst_frame_ms: Math.round(scroll.worst),
    browser_mb_all_computed: await memory(page, pid),
    // what the worker holds: its models (one per widget and baseline) and wasm instances
    worker: await page.evaluate(() => document.getElementById('w0').model.client.call('stats', {})).catch(() => null),
  });
  await page.close();

  log('widgets done', JSON.stringify(out.widgets));
  // 2. Play on a 512-token text for MINUTES
  if (MINUTES > 0) await play();
  // 3. model switches in the page's menu
  if (SWITCHES > 0) await switches();
  out.page_errors = errors;
  out.load_end = loadavg()[0];
} finally {
  await browser.close();
  proc.kill();
}
writeFileSync(OUT, `${JSON.stringify(out, null, 2)}\n`);
console.log(JSON.stringify(out, null, 2));
process.exit(errors.length ? 1 : 0);

async function play() {
  const lm = index.find((e) => e.name === 'pydoc-cope-s1') || index[0];
  const pp = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  pp.on('pageerror', (e) => errors.push(e.message));
  await pp.goto(`${base}?model=${lm.name}`);
  await pp.waitForFunction(() => window.copeViz?.panel?.run, null, { timeout: 60000 });
  const para = 'the module returns a new object for each call , and the value is used when the file is read . ';
  await pp.fill('#text', `${para.repeat(40)}\n`.repeat(2));
  await pp
    .waitForFunction((n) => window.copeViz.panel.run?.T === n, lm.n_ctx || 512, { timeout: 60000 })
    .catch(() => {});
  out.play.model = lm.name;
  out.play.T = await pp.evaluate(() => window.copeViz.panel.run.T);
  out.play.samples_mb = [];
  const end = Date.now() + MINUTES * 60000;
  let next = 0;
  while (Date.now() < end) {
    await pp.evaluate(() => {
      const p = window.copeViz.panel;
      if (!p.timer) p.play(); // Play stops at the last token: start it again
    });
    if (Date.now() >= next) {
      out.play.samples_mb.push(await memory(pp, pid));
      next = Date.now() + 30000;
    }
    await pp.waitForTimeout(1000);
  }
  out.play.minutes = MINUTES;
  out.play.first_mb = out.play.samples_mb[0];
  out.play.last_mb = out.play.samples_mb.at(-1);
  out.play.max_mb = Math.max(...out.play.samples_mb);
  await pp.close();

  log('play done', JSON.stringify(out.play));
}

async function switches() {
  const sp = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  sp.on('pageerror', (e) => errors.push(e.message));
  await sp.goto(base);
  await sp.waitForFunction(() => window.copeViz?.panel?.run, null, { timeout: 60000 });
  const names = index.slice(0, 4).map((e) => e.name);
  const switchTo = async (name) => {
    await sp.selectOption('#model', name);
    await sp.waitForFunction((n) => window.copeViz.panel.run?.model.name === n && !window.copeViz.panel.drawing, name, {
      timeout: 60000,
    });
  };
  for (let k = 0; k < 8; k++) await switchTo(names[k % names.length]); // warm
  out.switches.browser_mb_before = await memory(sp, pid);
  out.switches.page_before = await pageHeap(sp);
  const s0 = Date.now();
  for (let k = 0; k < SWITCHES; k++) {
    await switchTo(names[k % names.length]);
    if (k === Math.floor(SWITCHES / 2) - 1) {
      out.switches.browser_mb_half = await memory(sp, pid);
      out.switches.page_half = await pageHeap(sp);
    }
  }
  out.switches.count = SWITCHES;
  out.switches.models = names;
  out.switches.ms_each = Math.round((Date.now() - s0) / SWITCHES);
  out.switches.browser_mb_after = await memory(sp, pid);
  out.switches.page_after = await pageHeap(sp);
  out.switches.worker = await sp.evaluate(() => window.copeViz.app.model.client.call('stats', {})).catch(() => null);
  await sp.close();
}
