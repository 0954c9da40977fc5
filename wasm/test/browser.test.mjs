// browser.test.mjs — the module in headless Chromium (playwright-core, Debian's /usr/bin/chromium):
// on the main thread and in a module Web Worker, with the .wasm files and as the single file, SIMD
// and scalar. The browser's results must equal Node's bit for bit (same wasm, IEEE arithmetic).
import assert from 'node:assert/strict';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { after, before, test } from 'node:test';
import { CopeModel, ROOT, WASM_DIR, flatTrace, randomIds } from './helpers.mjs';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const MODEL = '/tests/golden/cope_sep_head.model.safetensors';
const IDS = randomIds(16, 11, 3);
const wasmUrl = `/${normalize(WASM_DIR).slice(normalize(ROOT).length).replace(/^\/+/, '')}`;

// What runs in the page or the worker: load, trace, step, a failing load; plain data back.
const probe = `
export async function probe(moduleUrl, modelUrl, ids, simd) {
  const { CopeModel, simdSupported } = await import(moduleUrl);
  const m = await CopeModel.load(modelUrl, { simd });
  const tr = m.trace(ids);
  // copied before the next trace, which reuses the trace's buffers
  const attn = Array.from(tr.layers[1].attn[1]), positions = Array.from(tr.layers[0].positions[0]);
  const st = m.step(ids[0]);
  let error = null;
  try { await CopeModel.load(new Uint8Array(12)); } catch (e) { error = e.name + ': ' + e.message; }
  const again = m.trace(ids);
  const out = { simdSupported: simdSupported(), simd: m.simd, error,
    logits: Array.from(tr.logits), attn, positions,
    stepLogits: Array.from(st.logits), same: again.logits.every((v, i) => v === tr.logits[i]) };
  m.free();
  return out;
}
self.onmessage = async (e) => {
  try { self.postMessage(await probe(...e.data)); } catch (err) { self.postMessage({ failed: String(err) }); }
};`;

const TYPES = {
  '.mjs': 'text/javascript',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
  '.html': 'text/html',
};
let server, browser, base;

before(async () => {
  server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    if (path === '/') {
      res.setHeader('content-type', 'text/html');
      res.end('<!doctype html><title>cope</title>');
      return;
    }
    if (path === '/probe.mjs') {
      res.setHeader('content-type', 'text/javascript');
      res.end(probe);
      return;
    }
    const file = join(ROOT, normalize(path));
    if (!file.startsWith(ROOT) || !existsSync(file) || !statSync(file).isFile()) {
      res.statusCode = 404;
      res.end();
      return;
    }
    res.setHeader('content-type', TYPES[extname(file)] ?? 'application/octet-stream');
    createReadStream(file).pipe(res);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${server.address().port}`;
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ], // launch() gives a fresh profile directory
  });
});

after(async () => {
  await browser?.close();
  server?.close();
});

async function inBrowser(where, moduleFile, simd) {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${base}/`);
  const args = [`${base}${wasmUrl}/${moduleFile}`, `${base}${MODEL}`, IDS, simd];
  const out = await page.evaluate(
    async ([where, args]) => {
      if (where === 'page') return (await import('/probe.mjs')).probe(...args);
      const w = new Worker('/probe.mjs', { type: 'module' });
      return new Promise((resolve) => {
        w.onmessage = (e) => resolve(e.data);
        w.onerror = (e) => resolve({ failed: e.message });
        w.postMessage(args);
      });
    },
    [where, args],
  );
  await page.close();
  assert.deepEqual(errors, []);
  assert.equal(out.failed, undefined, out.failed);
  return out;
}

const reference = {};
async function nodeResult(simd) {
  if (!reference[simd]) {
    const m = await CopeModel.load(join(ROOT, MODEL), { simd });
    const tr = flatTrace(m.trace(IDS));
    const T = IDS.length;
    reference[simd] = {
      logits: Array.from(tr.logits),
      attn: Array.from(tr['layers.1.attn'].subarray(T * T, 2 * T * T)),
      positions: Array.from(tr['layers.0.positions'].subarray(0, T * T)),
      stepLogits: Array.from(m.step(IDS[0]).logits),
    };
    m.free();
  }
  return reference[simd];
}

for (const where of ['page', 'worker'])
  for (const file of ['cope.mjs', 'cope.single.mjs'])
    test(`Chromium ${where === 'page' ? 'main thread' : 'Web Worker'}, ${file}: equals Node, SIMD and scalar`, async () => {
      for (const simd of [undefined, false]) {
        const out = await inBrowser(where, file, simd);
        assert.equal(out.simdSupported, true);
        assert.equal(out.simd, simd ?? true);
        assert.match(out.error, /^CopeError: header/);
        assert.equal(out.same, true);
        const ref = await nodeResult(simd ?? true);
        for (const k of ['logits', 'attn', 'positions', 'stepLogits']) assert.deepEqual(out[k], ref[k], k);
      }
    });
