// big_bench.mjs — what the wasm module and the page do with a model of the paper's language-model
// size (bench/big_model.py: GPT-2 small's shape with CoPE sep-keys, 131M parameters, 1024-token
// context, random weights). A benchmark, not a test: it writes bench/big-results.json and prints it.
//   Node (the module the page's worker runs, SIMD build, one thread): load time, the wasm memory
//   after load and after traces, a full trace at several lengths (the longest: the module's
//   maxTrace, the 2 GB trace budget), the time per incremental step (Play-free decoding).
//   Chromium (the page): drop the file on the page and time until the summary shows; a text longer
//   than the trace budget: the notice the page shows, the time until the views are drawn, and the
//   main thread's long tasks meanwhile.
// Usage: node bench/big_bench.mjs MODEL.safetensors
import { chromium } from 'playwright-core';
import { serve } from '../web/test/server.mjs';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

const file = process.argv[2];
if (!file) throw new Error('usage: node bench/big_bench.mjs MODEL.safetensors (make bench-big writes one)');
const { CopeModel } = await import(join(process.cwd(), 'build/wasm/cope.mjs'));
const MB = (n) => Math.round(n / 1e6);
const ms = (t0) => Math.round(performance.now() - t0);
const out = { model: file, bytes: statSync(file).size, cpu: cpus()[0]?.model, node: {}, page: {} };

// ---- Node
{
  let t0 = performance.now();
  const m = await CopeModel.load(readFileSync(file));
  const c = m.config;
  Object.assign(out.node, {
    load_ms: ms(t0),
    params: c.n_params,
    shape: `${c.n_layer} layers x ${c.n_head} heads, d ${c.d_model}, d_ff ${c.d_ff}, vocab ${c.vocab_size}, n_ctx ${c.n_ctx}, pe ${c.pe}`,
    wasm_mb_after_load: MB(m.memoryBytes),
    max_trace: m.maxTrace,
    traces: [],
  });
  const ids = (T) => Array.from({ length: T }, (_, i) => 20 + ((i * 7919) % (c.vocab_size - 20)));
  for (const T of [64, 256, m.maxTrace]) {
    t0 = performance.now();
    const tr = m.trace(ids(T));
    out.node.traces.push({ T, ms: ms(t0), wasm_mb: MB(m.memoryBytes), check: tr.logits.length === T * c.vocab_size });
  }
  try {
    m.trace(ids(c.n_ctx));
    out.node.full_context = 'traced';
  } catch (e) {
    out.node.full_context = `refused: ${e.message}`;
  }
  const n = 32;
  t0 = performance.now();
  for (const id of ids(n)) m.step(id);
  out.node.step_ms = Math.round((performance.now() - t0) / n);
  out.node.wasm_mb_end = MB(m.memoryBytes);
  m.free();
}

// ---- Chromium: the page
const { proc, base } = await serve('build/web');
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(base);
  await page.waitForFunction(() => window.copeViz?.app?.model);
  let t0 = Date.now();
  await page.setInputFiles('#file', file);
  await page.waitForFunction((n) => window.copeViz.panel.run?.model?.config.n_params === n, out.node.params, {
    timeout: 600000,
  });
  out.page.load_and_first_view_ms = Date.now() - t0;
  out.page.summary = await page
    .locator('#model-info')
    .innerText()
    .catch(() => '');
  // a text of about 1,000 words: longer than the trace budget
  const words = Array.from({ length: 1000 }, (_, i) => ['the', 'cat', 'sat', 'on', 'a', 'mat', '.'][i % 7]).join(' ');
  // the page's responsiveness meanwhile: main-thread tasks over 50 ms (the trace runs in the worker)
  await page.evaluate(() => {
    window.longTasks = [];
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) window.longTasks.push(e.duration);
    }).observe({ type: 'longtask' });
  });
  t0 = Date.now();
  await page.fill('#text', words);
  await page.waitForFunction((T) => window.copeViz.panel.run?.T === T, out.node.max_trace, { timeout: 600000 });
  out.page.long_text_ms = Date.now() - t0;
  out.page.long_text_notice = await page.locator('#notice').innerText();
  const long = await page.evaluate(() => window.longTasks);
  out.page.long_text_main_thread = { tasks_over_50ms: long.length, longest_ms: Math.round(Math.max(0, ...long)) };
  out.page.error_panel = (await page.locator('#error').isVisible())
    ? await page.locator('#error-msg').innerText()
    : null;
  out.page.page_errors = errors;
} finally {
  await browser.close();
  proc.kill();
}
writeFileSync('bench/big-results.json', `${JSON.stringify(out, null, 2)}\n`);
console.log(JSON.stringify(out, null, 2));
