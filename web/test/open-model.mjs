// open-model.mjs — drops a model file on the page (build/web, in Debian's chromium) and reports
// what the page made of it, one line of JSON: { name, params, T, notice, error, pageErrors }.
// Exits 1 when the page showed an error or threw. Used by tests/test_torch.py (a model written by
// python/train.py opens in the page).
// Usage: node web/test/open-model.mjs MODEL.safetensors
import { chromium } from 'playwright-core';
import { serve } from './server.mjs';
import { basename } from 'node:path';

const file = process.argv[2];
if (!file) {
  console.error('usage: node web/test/open-model.mjs MODEL.safetensors');
  process.exit(2);
}
const { proc, base } = await serve(process.env.COPE_WEB_DIR || 'build/web');
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
let out;
try {
  const page = await browser.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(base);
  await page.waitForFunction(() => window.copeViz?.panel?.run, null, { timeout: 60000 });
  await page.setInputFiles('#file', file);
  const name = basename(file);
  // the dropped model drawn, or the error panel
  await page.waitForFunction(
    (n) =>
      (window.copeViz.panel.run?.model.name === n && !window.copeViz.panel.drawing) ||
      !document.getElementById('error').hidden,
    name,
    { timeout: 60000 },
  );
  out = await page.evaluate(() => {
    const run = window.copeViz.panel.run;
    return {
      name: run?.model.name,
      params: run?.model.config.n_params,
      T: run?.T,
      notice: document.getElementById('notice').textContent,
      error: document.getElementById('error').hidden ? null : document.getElementById('error-msg').textContent,
    };
  });
  out.pageErrors = pageErrors;
} finally {
  await browser.close();
  proc.kill();
}
console.log(JSON.stringify(out));
process.exit(out.error || out.pageErrors.length || out.name !== basename(file) ? 1 : 0);
