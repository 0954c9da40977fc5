// page_bench.mjs — the page while stepping, in Chromium (a benchmark, not a test: `make bench-page`).
// For a short input (26 tokens, counting3-cope-s1) and a long one (512 tokens, the largest shipped
// context), in the query view: the time from an arrow key to the drawn query (median of STEPS steps
// after WARM warm-up steps), and the longest main-thread task while stepping (PerformanceObserver
// "longtask"). Also the page's first load without the model: the bytes of every response (HTML,
// CSS, scripts, the worker, the .wasm it fetches, the model index) but the model file, gzipped as
// a static host would send them. Prints a table and writes bench/page-results.json.
import { chromium } from 'playwright-core';
import { serve } from '../web/test/server.mjs';
import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const SITE = process.env.COPE_WEB_DIR || 'build/web';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const STEPS = Number(process.env.STEPS || 30),
  WARM = 5;

const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const { proc, base } = await serve(SITE);
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
const index = JSON.parse(readFileSync(`${SITE}/models/index.json`, 'utf8'));
const results = {};
try {
  // first load: every response until the model file is requested, gzipped
  {
    const page = await browser.newPage();
    const sizes = new Map();
    page.on('response', async (r) => {
      if (/\.safetensors$/.test(r.url())) return; // the model itself is not the page's weight
      try {
        const body = await r.body();
        sizes.set(r.url().slice(base.length) || 'index.html', gzipSync(body).length);
      } catch {}
    });
    await page.goto(base);
    await page.waitForFunction(() => window.copeViz?.panel?.run, null, { timeout: 60000 });
    results.first_load_gzip_bytes = [...sizes.values()].reduce((a, b) => a + b, 0);
    results.first_load_files = Object.fromEntries(sizes);
    await page.close();
  }
  const big = [...index].sort((a, b) => b.n_ctx - a.n_ctx)[0];
  for (const [label, model, n] of [
    ['short', index[0].name, 26],
    ['long', big.name, Math.min(512, big.n_ctx)],
  ]) {
    const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
    await page.goto(`${base}?model=${encodeURIComponent(model)}&view=query`);
    await page.waitForFunction(() => window.copeViz?.panel?.run && !window.copeViz.panel.drawing, null, {
      timeout: 60000,
    });
    const words = await page.evaluate(() =>
      window.copeViz.app.model.vocab.filter((p) => !p.startsWith('<') && p !== '\n'),
    );
    const text = Array.from({ length: n }, (_, k) => words[(k * 7) % words.length]).join(' ');
    await page.fill('#text', text);
    await page.waitForFunction((n) => window.copeViz.panel.run?.T === n && !window.copeViz.panel.drawing, n, {
      timeout: 60000,
    });
    await page.evaluate(() => {
      window.__long = [];
      new PerformanceObserver((l) => window.__long.push(...l.getEntries().map((e) => e.duration))).observe({
        type: 'longtask',
      });
    });
    await page.focus('#panel');
    const times = [];
    for (let k = 0; k < WARM + STEPS; k++) {
      // step back from the end; at the first query, forward again
      const q = await page.evaluate(() => window.copeViz.panel.state.query);
      const d = q > 0 ? -1 : 1;
      const t0 = await page.evaluate(() => performance.now());
      await page.keyboard.press(d < 0 ? 'ArrowLeft' : 'ArrowRight');
      const t1 = await page.evaluate(async (want) => {
        const stop = performance.now() + 10000;
        while ((window.copeViz.panel.state.query !== want || window.copeViz.panel.drawing) && performance.now() < stop)
          await new Promise((r) => requestAnimationFrame(r));
        return performance.now();
      }, q + d);
      if (k >= WARM) times.push(t1 - t0);
    }
    const long = await page.evaluate(() => window.__long);
    results[label] = {
      model,
      T: n,
      step_ms_median: +median(times).toFixed(1),
      step_ms_max: +Math.max(...times).toFixed(1),
      longest_task_ms: long.length ? Math.max(...long) : 0,
      long_tasks: long.length,
    };
    await page.close();
  }
  results.step_ratio = +(results.long.step_ms_median / results.short.step_ms_median).toFixed(2);
} finally {
  await browser.close();
  proc.kill();
}
console.log(
  `first load without the model: ${(results.first_load_gzip_bytes / 1024).toFixed(1)} KB gzipped (${Object.entries(
    results.first_load_files,
  )
    .map(([f, b]) => `${f} ${(b / 1024).toFixed(1)}`)
    .join(', ')})`,
);
for (const k of ['short', 'long'])
  console.log(
    `${k.padEnd(5)} T=${results[k].T} (${results[k].model}): step median ${results[k].step_ms_median} ms (max ${results[k].step_ms_max}); longest main-thread task ${results[k].longest_task_ms} ms (${results[k].long_tasks} over 50 ms)`,
  );
console.log(`step at T=${results.long.T} / step at T=${results.short.T}: ${results.step_ratio}`);
writeFileSync('bench/page-results.json', JSON.stringify(results, null, 2) + '\n');
