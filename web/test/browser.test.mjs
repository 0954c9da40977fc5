// browser.test.mjs — the page and the widget in a real browser: Debian's chromium, headless,
// driven by playwright-core. Serves build/web (or $COPE_WEB_DIR) with web/serve.mjs, checks the
// page against an independent trace of the same input (wasm/cope.mjs loaded in the page itself),
// and saves screenshots to build/web-screenshots/. Ends with "N passed, N failed".
import { chromium } from 'playwright-core';
import { serve } from './server.mjs';
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { inflateSync } from 'node:zlib';

/** A PNG's size and its first pixel (whatever the row's filter, the first pixel of the first row
 * is stored as is). */
function pngInfo(buf) {
  const width = buf.readUInt32BE(16),
    height = buf.readUInt32BE(20),
    idat = [];
  for (let o = 8; o < buf.length;) {
    const len = buf.readUInt32BE(o),
      type = buf.toString('latin1', o + 4, o + 8);
    if (type === 'IDAT') idat.push(buf.subarray(o + 8, o + 8 + len));
    o += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  return { width, height, first: [raw[1], raw[2], raw[3]] };
}

const SITE = process.env.COPE_WEB_DIR || 'build/web';
const SHOTS = process.env.COPE_SCREENSHOTS || 'build/web-screenshots';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TOL = 1e-5;
mkdirSync(SHOTS, { recursive: true });

let passed = 0,
  failed = 0;
// For the README's reliability table (tests/reliability.sh): the bad inputs given to the page and
// what the page answered, as TSV lines in $REL_OUT.
const reliable = (input, answer) => {
  if (process.env.REL_OUT)
    appendFileSync(process.env.REL_OUT, `page: ${input}\t${String(answer).replace(/\s+/g, ' ').trim()}\n`);
};
/** A copy of a model file whose tokenizer piece `id` is replaced by `piece` (header rebuilt). */
function withVocabPiece(file, id, piece) {
  const n = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + n).toString('utf8'));
  const cfg = JSON.parse(header.__metadata__.cope_config);
  cfg.tokenizer.vocab[id] = piece;
  header.__metadata__.cope_config = JSON.stringify(cfg);
  let text = JSON.stringify(header);
  while ((8 + Buffer.byteLength(text)) % 8) text += ' ';
  const h = Buffer.from(text, 'utf8'),
    len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, file.subarray(8 + n)]);
}
const check = (ok, what, detail = '') => {
  if (ok) {
    passed++;
    console.log(`ok    ${what}`);
  } else {
    failed++;
    console.log(`FAIL  ${what}${detail ? `: ${detail}` : ''}`);
  }
};

// ---------------------------------------------------------------------------------------------
// Server and browser

const { proc: server, base } = await serve(SITE);
// A second origin (another port) for a "blog" that loads the widget from the first one.
const xoDir = mkdtempSync(join(tmpdir(), 'cope-xo-'));
const { proc: xoServer, base: xoBase } = await serve(xoDir);
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});

/** A new page that records console errors and uncaught exceptions (opts.init: a script run in
 * every frame before the page's own). */
async function open(path, opts = {}) {
  const ctx = await browser.newContext({
    viewport: opts.viewport || { width: 1280, height: 900 },
    colorScheme: opts.colorScheme || 'light',
  });
  if (opts.init) await ctx.addInitScript(opts.init);
  const page = await ctx.newPage();
  page.errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') page.errors.push(m.text());
  });
  page.on('pageerror', (e) => page.errors.push(`uncaught: ${e.message}`));
  await page.goto(opts.absolute || base + path);
  return page;
}

/**
 * The page's Content-Security-Policy is in force: everything so far ran under it (a violation is a
 * console error, which the "no console errors" checks count), and an inline script, an inline
 * style attribute and a fetch from another origin are refused.
 */
async function cspEnforced(page, what) {
  const r = await page.evaluate(async () => {
    const violations = [];
    document.addEventListener('securitypolicyviolation', (e) => violations.push(e.violatedDirective));
    const s = document.createElement('script');
    s.textContent = 'window.__inlineRan = 1';
    document.head.append(s);
    const d = document.createElement('div');
    d.setAttribute('style', 'width: 123px');
    document.body.append(d);
    const styled = getComputedStyle(d).width === '123px';
    d.remove();
    let remote = 'fetched';
    await fetch('http://example.invalid/model.safetensors').catch((e) => (remote = e.name));
    await new Promise((ok) => setTimeout(ok, 100));
    const meta = document.querySelector('meta[http-equiv="Content-Security-Policy"]')?.content || '';
    return { ran: !!window.__inlineRan, styled, remote, violations, meta };
  });
  // each refusal is the policy's (a violation event per directive), not a failed name lookup
  const v = new Set(r.violations);
  check(
    !r.ran &&
      !r.styled &&
      r.remote === 'TypeError' &&
      v.has('script-src-elem') &&
      v.has('style-src-attr') &&
      v.has('connect-src') &&
      /script-src 'self' 'wasm-unsafe-eval'/.test(r.meta),
    `${what} runs under its Content-Security-Policy: inline script, inline style and a remote fetch refused (${[...new Set(r.violations)].join(', ')})`,
  );
  page.errors = page.errors.filter((e) => !/Content Security Policy|example\.invalid|Failed to load resource/.test(e));
}

/** Waits until the page's panel has drawn query q (or any query when q is undefined). */
async function rendered(page, q) {
  await page.waitForFunction(
    (q) => {
      const v = window.copeViz;
      const s = v?.panel?.snapshot();
      return s && v.panel.run && !v.panel.drawing && (q === undefined || s.state.query === q);
    },
    q,
    { timeout: 30000 },
  );
}

/**
 * The trace of the same input computed in the page by the wasm module itself (not the worker, not
 * the views): row i of layer l, head h, for each array.
 */
async function independentRow(page, modelUrl, text, l, h, i, n_ctx) {
  return page.evaluate(
    async ({ wasmUrl, modelUrl, text, l, h, i, n_ctx }) => {
      const { CopeModel } = await import(wasmUrl);
      const m = await CopeModel.load(modelUrl);
      const ids = Array.from(m.tokenize(text).ids).slice(0, n_ctx);
      const tr = m.trace(ids),
        T = tr.T,
        L = tr.layers[l],
        row = {};
      for (const k of ['gates', 'positions', 'content_logits', 'cope_logits', 'attn', 'pos_attn'])
        row[k] = Array.from(L[k][h].subarray(i * T, i * T + i + 1));
      m.free();
      return row;
    },
    { wasmUrl: `${base}wasm/cope.mjs`, modelUrl, text, l, h, i, n_ctx },
  );
}

function maxDiff(a, b) {
  if (!a || !b || a.length !== b.length) return Infinity;
  let d = 0;
  for (let k = 0; k < a.length; k++) d = Math.max(d, Math.abs(a[k] - b[k]));
  return d;
}

/** Compares what a panel shows for its query with the independent row. */
function compareShown(snap, ref, label) {
  const q = snap.query,
    i = q.query;
  const cope = q.strip.gates !== undefined;
  const pairs = [
    ['attn', q.strip.attn],
    ['pos_attn', q.strip.pos_attn],
    ['content_logits', q.strip.content_logits],
    ['attn', q.attChart['attention a_ij']],
    ['pos_attn', q.attChart['position-only (row max 1)']],
  ];
  if (cope)
    pairs.push(
      ['gates', q.strip.gates],
      ['positions', q.strip.positions],
      ['cope_logits', q.strip.cope_logits],
      ['positions', q.posChart['CoPE position p_ij']],
    );
  let worst = 0,
    where = '';
  for (const [k, shown] of pairs) {
    const d = maxDiff(shown, ref[k]);
    if (d > worst) {
      worst = d;
      where = k;
    }
  }
  const dist = q.posChart['token distance i−j'];
  const distOk = dist && dist.every((v, j) => v === i - j);
  check(
    worst <= TOL && distOk,
    `${label}: strip and charts equal the wasm trace of row ${i} (${pairs.length} series)`,
    `max |diff| ${worst} in ${where}${distOk ? '' : '; distance series wrong'}`,
  );
}

const shot = (page, name, full = true) => page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: full });

// ---------------------------------------------------------------------------------------------
// Tests

const index = await (await fetch(`${base}models/index.json`)).json();
check(index.length > 0, `models/index.json lists models (${index.map((e) => e.name).join(', ')})`);
const first = index[0];

try {
  // 1. The page loads with the default model and example, with no console errors.
  const page = await open('');
  const t0 = Date.now();
  await rendered(page);
  const ms = Date.now() - t0;
  const st = await page.evaluate(() => ({
    state: window.copeViz.panel.snapshot().state,
    text: document.getElementById('text').value,
    model: window.copeViz.app.model.name,
    T: window.copeViz.panel.run.T,
    n_ctx: window.copeViz.app.model.config.n_ctx,
    cells: document.querySelectorAll('.query-view table.strip tr.tok-row th[scope=col]').length,
    prediction: document.getElementById('prediction').textContent,
    canvases: [...document.querySelectorAll('#panel > .panel-body > .query-view canvas')].filter(
      (c) => c.width > 0 && c.height > 0,
    ).length,
  }));
  check(st.model === first.name, `default model is the first shipped one (${st.model})`);
  check(st.text.length > 0 && st.cells === st.T && st.T > 0, `default example renders: ${st.T} tokens in the strip`);
  check(st.canvases === 2, 'the query view draws its two charts');
  check(/predicts/.test(st.prediction), `prediction shown: "${st.prediction.slice(0, 90)}…"`);
  console.log(`      (page ready in ${ms} ms)`);
  await shot(page, 'page-query');

  // 1b. A model whose provenance names heads worth looking at opens on the first of them, and says why.
  // Corpus models (real text) open on the page's example prose and state their held-out perplexity.
  const paragraphModels = [
    ...index.filter((x) => x.task === 'topics' || x.task === 'text').slice(0, 2),
    ...index.filter((x) => x.task === 'corpus'),
  ];
  check(paragraphModels.length > 0, `shipped models with a paragraph head: ${paragraphModels.map((x) => x.name)}`);
  for (const e of paragraphModels) {
    const p = await open(`?model=${e.name}`);
    await rendered(p);
    const got = await p.evaluate(() => ({
      state: window.copeViz.panel.snapshot().state,
      heads: window.copeViz.app.model.config.provenance?.heads ?? [],
      info: document.getElementById('model-info')?.textContent ?? '',
      text: document.getElementById('text').value,
      T: window.copeViz.panel.run?.T ?? 0,
      breaks: [...document.querySelectorAll('#tokens .tok')].filter((c) => c.textContent === '↵').length,
    }));
    if (e.task === 'corpus')
      check(
        got.T > 100 && got.breaks >= 5 && /held-out perplexity \d/.test(got.info),
        `${e.name} (a corpus) opens on the example prose: ${got.T} tokens, ${got.breaks} paragraph breaks; ${got.info.slice(0, 120)}…`,
      );
    const h = got.heads[0];
    check(
      h &&
        got.state.layer === h.layer &&
        got.state.head === h.head &&
        got.info.includes(`layer ${h.layer} head ${h.head}`),
      `${e.name} opens on its provenance's head worth looking at (layer ${got.state.layer} head ${got.state.head}; provenance ${JSON.stringify(h && [h.layer, h.head])})`,
    );
    await p.close();
  }

  // 1c. The page explains: the glossary on focus, what to look for with a button to the suggested
  // head, token-labelled axes with the first and last keys, the input tinted by the query's gates.
  {
    const tp = await open('');
    await rendered(tp);
    if (first.baseline) {
      // the baseline arrives after the first drawing and redraws the strip: wait for it
      await tp.waitForFunction(() => window.copeViz.panel.baseRun, null, { timeout: 30000 });
      await rendered(tp);
    }
    await tp.focus('table.strip tr[data-field=gates] th');
    const tip = await tp.evaluate(() => {
      const t = document.querySelector('.gloss-tip');
      return t && !t.hidden ? t.textContent : '';
    });
    check(/^Gate g_ij = sigmoid/.test(tip), `the glossary on focus of a row header: "${tip.slice(0, 60)}…"`);
    const info = await tp.evaluate(() => document.getElementById('model-info').textContent);
    check(/What to look for: /.test(info), 'the model card says what to look for');
    const go = await tp.$('.go-head');
    if (go) {
      await tp.selectOption('select[data-ctl=layer]', '0');
      const want = await go.evaluate((b) => [Number(b.dataset.layer), Number(b.dataset.head)]);
      await go.click();
      await rendered(tp);
      const st = await tp.evaluate(() => window.copeViz.panel.state);
      check(st.layer === want[0] && st.head === want[1], `"Show layer ${want[0]} head ${want[1]}" goes there`);
    }
    const ax = await tp.evaluate(() => {
      const p = window.copeViz.panel,
        x = p.queryView.posBox.chart.scales.x;
      return { q: p.state.query, ticks: x.ticks.map((t) => [t.value, t.label]), piece: p.run.pieces[p.state.query] };
    });
    const last = ax.ticks.at(-1);
    check(
      ax.ticks[0][0] === 0 && last[0] === ax.q && Array.isArray(last[1]) && last[1][1] === ax.piece.slice(0, 7),
      `the key axis runs from tick 0 to the query ${ax.q}, labelled with its token (${JSON.stringify(last[1])})`,
    );
    await tp.waitForFunction(() => {
      const c = document.querySelectorAll('#tokens .tok')[window.copeViz.panel.state.query];
      return c && c.dataset.v !== undefined; // tinted after the step is drawn, as its own task
    });
    const tint = await tp.evaluate(() => {
      const p = window.copeViz.panel,
        chips = [...document.querySelectorAll('#tokens .tok')]
          .slice(0, p.state.query + 1)
          .map((c) => Number(c.dataset.v)),
        strip = p.snapshot().query.strip.gates;
      return { chips, strip };
    });
    check(
      tint.chips.length === tint.strip.length && tint.chips.every((v, j) => Math.abs(v - tint.strip[j]) < 1e-6),
      `the input's tokens are tinted by the query's gates (${tint.chips.length} tokens, as the strip)`,
    );
    // the embed box shows the whole snippet, and its button copies it
    await tp.context().grantPermissions(['clipboard-read', 'clipboard-write']);
    await tp.click('#embed');
    await tp.click('#embed-copy');
    const emb = await tp.evaluate(async () => {
      const t = document.getElementById('embed-code');
      await new Promise((r) => setTimeout(r, 100));
      return {
        whole: t.scrollHeight <= t.clientHeight + 2,
        value: t.value,
        clip: await navigator.clipboard.readText(),
      };
    });
    check(
      emb.whole && emb.value.includes('<cope-viz') && emb.clip === emb.value,
      `the embed box shows the whole snippet (${emb.value.split('\n').length} lines) and copies it`,
    );
    check(tp.errors.length === 0, 'no console errors while explaining', tp.errors.join(' | '));
    await tp.context().close();
  }

  // 2. → moves the query; the numbers shown equal the wasm trace of that row.
  const q0 = st.state.query;
  await page.focus('body');
  await page.keyboard.press(q0 < st.T - 1 ? 'ArrowRight' : 'ArrowLeft');
  const q1 = q0 < st.T - 1 ? q0 + 1 : q0 - 1;
  await rendered(page, q1);
  const snap = await page.evaluate(() => window.copeViz.panel.snapshot());
  check(
    snap.query.query === q1 && new URL(page.url()).searchParams.get('query') !== null,
    `arrow key moved the query ${q0} → ${q1}`,
  );
  const modelUrl = new URL(first.file, base).href;
  compareShown(
    snap,
    await independentRow(page, modelUrl, st.text, snap.state.layer, snap.state.head, q1, st.n_ctx),
    'page',
  );
  // another head and layer through the controls, then Home
  const L = first.n_layer,
    H = first.n_head;
  await page.selectOption('select[data-ctl=layer]', String(L - 1));
  await page.selectOption('select[data-ctl=head]', String(H - 1));
  await page.keyboard.press('Home');
  await rendered(page, 0);
  await page.keyboard.press('End');
  await rendered(page, st.T - 1);
  const snap2 = await page.evaluate(() => window.copeViz.panel.snapshot());
  compareShown(
    snap2,
    await independentRow(page, modelUrl, st.text, L - 1, H - 1, st.T - 1, st.n_ctx),
    `layer ${L - 1} head ${H - 1}, End`,
  );
  check(page.errors.length === 0, 'no console errors on the page', page.errors.join(' | '));
  await cspEnforced(page, 'the page');

  // 3. The URL state round-trips: sequence view, a head and a query reproduce in a new page.
  await page.click('[data-view=sequence]');
  await page.keyboard.press('Home');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  await rendered(page, 2);
  await page.waitForTimeout(300); // the URL is written 150 ms after the last change
  const url = page.url();
  const p2 = await open(url.slice(base.length));
  await rendered(p2, 2);
  const back = await p2.evaluate(() => ({
    st: window.copeViz.panel.snapshot().state,
    text: document.getElementById('text').value,
    model: window.copeViz.app.model.name,
  }));
  check(
    back.st.view === 'sequence' &&
      back.st.layer === L - 1 &&
      back.st.head === H - 1 &&
      back.st.query === 2 &&
      back.text === st.text &&
      back.model === first.name,
    'a link reproduces model, text, view, layer, head and query',
    JSON.stringify(back.st),
  );
  const maps = await p2.evaluate(
    () => [...document.querySelectorAll('.sequence-view .map-box:not([hidden]) canvas')].length,
  );
  check(maps >= 2, `sequence view draws its heatmaps (${maps})`);
  await shot(p2, 'page-sequence');
  // hover a cell: the box names the cell's numbers
  await p2.locator('.map-box[data-kind=attn] canvas').scrollIntoViewIfNeeded();
  const box = await p2.locator('.map-box[data-kind=attn] canvas').boundingBox();
  await p2.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.8, { steps: 4 });
  const tip = await p2.waitForSelector('.sequence-view .tip:not([hidden])', { timeout: 5000 }).then(
    (e) => e.textContent(),
    () => '',
  );
  check(
    /content logit/.test(tip) && /attention a_ij/.test(tip),
    'hovering a map cell shows its numbers',
    tip.slice(0, 120),
  );
  // the same numbers by keyboard: focus a map, arrows move a cell cursor
  await p2.focus('.map-box[data-kind=attn] canvas');
  await p2.keyboard.press('ArrowUp');
  const ktip = await p2.waitForSelector('.sequence-view .tip:not([hidden])', { timeout: 5000 }).then(
    (e) => e.textContent(),
    () => '',
  );
  check(
    /query i = 1 /.test(ktip) && /key j = 1 /.test(ktip),
    "arrow keys on a focused map show a cell's numbers",
    ktip.slice(0, 80),
  );
  // Clicks in the sequence view reach the URL too: a map cell makes its row the query, a
  // thumbnail of the layers x heads grid picks the head.
  await p2.locator('.map-box[data-kind=attn] canvas').scrollIntoViewIfNeeded();
  const cell = await p2.evaluate(() => {
    const c = document.querySelector('.map-box[data-kind=attn] canvas'),
      hm = c.$heatmap,
      r = c.getBoundingClientRect();
    const i = hm.state.T - 1;
    return { i, x: r.left + hm.chart.scales.x.getPixelForValue(0), y: r.top + hm.chart.scales.y.getPixelForValue(i) };
  });
  await p2.mouse.click(cell.x, cell.y);
  await rendered(p2, cell.i);
  const urlHas = (want) =>
    p2
      .waitForFunction(
        (want) => {
          const p = new URLSearchParams(location.search);
          return Object.entries(want).every(([k, v]) => p.get(k) === String(v));
        },
        want,
        { timeout: 5000 },
      )
      .then(
        () => true,
        () => false,
      );
  check(
    await urlHas({ view: 'sequence', query: cell.i }),
    `a click on a map cell puts its row in the URL (query=${cell.i})`,
    await p2.evaluate(() => location.search),
  );
  await p2.locator('.head-grid .thumb[aria-label="layer 0 head 0"]').click();
  await p2.waitForFunction(
    () =>
      window.copeViz.panel.state.layer === 0 && window.copeViz.panel.state.head === 0 && !window.copeViz.panel.drawing,
    null,
    { timeout: 10000 },
  );
  check(
    await urlHas({ layer: 0, head: 0, query: cell.i }),
    'a click on a head thumbnail puts its layer and head in the URL',
    await p2.evaluate(() => location.search),
  );
  check(p2.errors.length === 0, 'no console errors after the round trip', p2.errors.join(' | '));
  await p2.context().close();

  // 4. Compare view (when the model has a shipped baseline).
  if (first.baseline) {
    await page.click('[data-view=compare]');
    await page.waitForFunction(
      () => !window.copeViz.panel.drawing && window.copeViz.panel.state.view === 'compare',
      null,
      { timeout: 20000 },
    );
    const titles = await page.locator('.compare-view h3').allTextContents();
    check(
      titles.length === 2 && titles[1].includes(first.baseline),
      `compare shows the model beside its baseline: ${titles.map((t) => t.split(' — ')[0]).join(' | ')}`,
    );
    const tops = await page.evaluate(() =>
      [...document.querySelectorAll('.compare-col')].map((c) => [
        Math.round(c.querySelector('.strip-wrap').getBoundingClientRect().top),
        Math.round(c.querySelector('.map-box').getBoundingClientRect().top),
      ]),
    );
    check(
      tops.length === 2 && tops[0][0] === tops[1][0] && tops[0][1] === tops[1][1],
      `compare: the two columns' strips and maps start at the same height (${JSON.stringify(tops)})`,
    );
    await shot(page, 'page-compare');
  }

  // PNG export of a chart; play steps the query by itself, pause stops it.
  await page.click('[data-view=query]');
  await rendered(page);
  const [dl] = await Promise.all([
    page.waitForEvent('download', { timeout: 10000 }),
    page.click('.query-view .chart-box .png >> nth=0'),
  ]);
  const png = readFileSync(await dl.path());
  const pi = pngInfo(png);
  check(
    /\.png$/.test(dl.suggestedFilename()) &&
      png.subarray(1, 4).toString() === 'PNG' &&
      pi.width === 1800 &&
      pi.height === 896,
    `PNG export at 2x with a title line: ${dl.suggestedFilename()} (${pi.width} x ${pi.height}, ${png.length} bytes)`,
  );
  await page.keyboard.press('Home');
  await rendered(page, 0);
  await page.click('[data-ctl=play]');
  await page.waitForFunction(() => window.copeViz.panel.state.query >= 2, null, { timeout: 10000 }).catch(() => {});
  await page.click('[data-ctl=play]');
  const played = await page.evaluate(() => ({ q: window.copeViz.panel.state.query, on: !!window.copeViz.panel.timer }));
  check(played.q >= 2 && !played.on, `play steps through the queries, pause stops (at ${played.q})`);

  // 5. A bad file (10 MB of random bytes) shows the error panel; the page keeps working.
  await page.click('[data-view=query]');
  await page.setInputFiles('#file', {
    name: 'random.safetensors',
    mimeType: 'application/octet-stream',
    buffer: randomBytes(10 << 20),
  });
  await page.waitForSelector('#error:not([hidden])', { timeout: 20000 });
  const err = await page.locator('#error').textContent();
  check(/random\.safetensors/.test(err) && /still loaded/.test(err), `bad file → error panel: "${err.slice(0, 110)}…"`);
  reliable('a 10 MB file of random bytes dropped as a model', `error panel: ${err}`);
  await shot(page, 'page-bad-file', false);
  const qa = await page.evaluate(() => window.copeViz.panel.state.query);
  await page.keyboard.press('Home');
  await rendered(page, 0);
  check(
    qa !== undefined && (await page.evaluate(() => window.copeViz.app.model.name)) === first.name,
    'after the bad file the page still works with the old model',
  );

  // 6. Text longer than the context: a clear message, the first n_ctx tokens shown.
  const long = Array.from({ length: st.n_ctx + 20 }, (_, k) => (k % 2 ? 'pass;' : 'a')).join(' ');
  await page.fill('#text', long);
  await page.waitForSelector('#notice:not([hidden])', { timeout: 10000 });
  const notice = await page.locator('#notice').textContent();
  await page.waitForFunction((n) => window.copeViz.panel.run?.T === n && !window.copeViz.panel.drawing, st.n_ctx, {
    timeout: 30000,
  });
  check(notice.includes(`at most ${st.n_ctx}`), `long text → "${notice.slice(0, 90)}…"`);
  reliable(`a text of ${st.n_ctx + 20} tokens for a context of ${st.n_ctx}`, `notice: ${notice}`);
  // unknown tokens are shown as such
  await page.fill('#text', 'a = 0 ; zebra ++; <b>x</b> print a');
  await page.waitForFunction(() => document.querySelectorAll('#tokens .tok.unk').length > 0, null, { timeout: 10000 });
  const unk = await page.locator('#tokens .tok.unk').allTextContents();
  const injected = await page.evaluate(() => document.querySelectorAll('#tokens b, .strip b').length);
  check(
    unk.some((t) => t.startsWith('zebra')) && injected === 0,
    `unknown pieces shown as <unk>, never as HTML: ${unk.join(', ')}`,
  );
  reliable(
    'the text "a = 0 ; zebra ++; <b>x</b> print a" (unknown words, HTML)',
    `token chips shown as text: ${unk.join(', ')}; HTML elements created: ${injected}`,
  );
  // a valid model without a task (a golden test model): loads, runs the text as it is
  await page.setInputFiles('#file', 'tests/golden/cope.model.safetensors');
  await page
    .waitForFunction(
      () =>
        window.copeViz.app.model?.name === 'cope.model.safetensors' &&
        window.copeViz.panel.run?.model.name === 'cope.model.safetensors' &&
        !window.copeViz.panel.drawing,
      null,
      { timeout: 20000 },
    )
    .then(
      () => check(true, 'a dropped model without a task loads and shows the input'),
      () => check(false, 'a dropped model without a task loads and shows the input'),
    );
  // a model with GPT-2 small's 12 x 12 heads and 1024-token context (narrow, so it is quick): a
  // trace of its whole context would pass the worker's 2 GB budget, so a longer text is traced up
  // to the module's maxTrace with a notice saying why (bench/big_bench.mjs: the real 131M model)
  {
    const wide = join(mkdtempSync(join(tmpdir(), 'cope-wide-')), 'wide.safetensors');
    execFileSync(process.env.COPE || 'build/cope', [
      ...'train --task toy --layers 12 --heads 12 --dim 48 --ff 96 --ctx 1024 --npos 16 --steps 1 --batch 1 --eval-n 1'.split(
        ' ',
      ),
      '--out',
      wide,
    ]);
    await page.setInputFiles('#file', wide);
    await page.waitForFunction(
      () => window.copeViz.panel.run?.model.name === 'wide.safetensors' && !window.copeViz.panel.drawing,
      null,
      { timeout: 20000 },
    );
    await page.fill('#text', Array.from({ length: 1000 }, (_, i) => 'ab'[i % 2]).join(' '));
    const max = await page.evaluate(() => window.copeViz.app.model.maxTrace);
    const shown = await page
      .waitForFunction((T) => window.copeViz.panel.run?.T === T && !window.copeViz.panel.drawing, max, {
        timeout: 60000,
      })
      .then(
        () => true,
        () => false,
      );
    const note = await page.evaluate(() => document.getElementById('notice').textContent);
    const errShown = await page.isVisible('#error');
    check(
      shown && max > 0 && max < 1024 && note.includes(`at most ${max} tokens`) && !errShown,
      `a 1,000-token text on a 12 x 12-head, 1024-context model: the first ${max} tokens traced, "${note.slice(0, 60)}…"`,
    );
    reliable('a 1,000-token text for a model whose whole-context trace needs more than 2 GB', `notice: ${note}`);
    rmSync(dirname(wide), { recursive: true, force: true });
  }
  // a model opened from a file cannot be linked: Copy link says so instead of copying another model's link
  await page.click('#share');
  const noLink = await page.evaluate(() => document.getElementById('notice').textContent);
  check(/opened from a file/.test(noLink), `Copy link after opening a file: "${noLink.slice(0, 70)}…"`);
  // a model whose vocabulary holds HTML: its pieces are shown as text everywhere, nothing runs
  const evil = '<img/src=x/onerror=window.__pwned=1>'; // no whitespace: a valid "words" piece
  await page.setInputFiles('#file', {
    name: 'html-vocab.safetensors',
    mimeType: 'application/octet-stream',
    buffer: withVocabPiece(readFileSync('tests/golden/cope.model.safetensors'), 1, evil),
  });
  await page.waitForFunction(
    () => window.copeViz.app.model?.name === 'html-vocab.safetensors' && !window.copeViz.panel.drawing,
    null,
    { timeout: 20000 },
  );
  await page.fill('#text', `${evil} the ${evil}`);
  await page.waitForFunction(() => window.copeViz.panel.run?.T === 3 && !window.copeViz.panel.drawing, null, {
    timeout: 20000,
  });
  await page.keyboard.press('End');
  const html = await page.evaluate(() => ({
    imgs: document.querySelectorAll('img:not([src$=".png"])').length,
    pwned: window.__pwned === 1,
    shown: [...document.querySelectorAll('#tokens .tok')].map((e) => e.textContent),
  }));
  check(
    html.imgs === 0 && !html.pwned && html.shown.some((t) => t.includes('<img')),
    `a vocabulary piece that is HTML stays text: ${html.shown.join(' ')}`,
  );
  reliable(
    'a model whose vocabulary has the piece <img/src=x/onerror=...>',
    `shown as text (${html.imgs} img elements created, script ran: ${html.pwned})`,
  );
  check(
    page.errors.length === 0,
    'no console errors after bad file, long and unknown text, other model',
    page.errors.join(' | '),
  );
  await page.context().close();

  // 7. The widget on a page at another path: computes when visible, matches the trace.
  const blog = await open('examples/blog-post.html');
  await blog.waitForFunction(() => document.getElementById('w1').snapshot()?.query, null, { timeout: 30000 });
  const w = await blog.evaluate(() => ({
    snap: document.getElementById('w1').snapshot(),
    text: document.getElementById('w1').getAttribute('text'),
    w2: document.getElementById('w2').shadowRoot.querySelector('.still') !== null,
    head: document.getElementById('w1').model?.config?.provenance?.heads?.[0] ?? null,
    said: [...document.getElementById('w1').shadowRoot.querySelectorAll('[data-verdict]')].map(
      (e) => e.dataset.verdict,
    ),
  }));
  check(
    w.head && w.snap.state.layer === w.head.layer && w.snap.state.head === w.head.head,
    `the widget without layer/head attributes opens on the model's head worth looking at (layer ${w.snap.state.layer} head ${w.snap.state.head})`,
  );
  const wModel = new URL('models/counting3-cope-s1.safetensors', base).href;
  const nctx = index.find((e) => e.name === 'counting3-cope-s1')?.n_ctx || 255;
  compareShown(
    w.snap,
    await independentRow(blog, wModel, w.text, w.snap.state.layer, w.snap.state.head, w.snap.query.query, nctx),
    'widget',
  );
  check(w.w2, 'the widget below the fold shows its still frame before it is scrolled into view');
  // the widget says what the model predicts at its query (the answer's) and whether that is right
  check(w.said[0] === 'right', `the first widget says its model is right at the answer (${w.said.join(', ')})`);
  await shot(blog, 'widget-blog', false);
  await blog.locator('#w1').click({ position: { x: 30, y: 10 } });
  await blog.keyboard.press('ArrowLeft');
  await blog
    .waitForFunction((q) => document.getElementById('w1').snapshot()?.query?.query === q, w.snap.query.query - 1, {
      timeout: 10000,
    })
    .then(
      () => check(true, 'the widget steps with ← after a click'),
      () => check(false, 'the widget steps with ← after a click'),
    );
  // the second: the compare view on a long program, the baseline wrong as the post says
  await blog.locator('#w2').scrollIntoViewIfNeeded();
  await blog
    .waitForFunction(
      () =>
        document.getElementById('w2').snapshot()?.state?.view === 'compare' &&
        !document.getElementById('w2').shadowRoot.querySelector('.still') &&
        document.getElementById('w2').shadowRoot.querySelectorAll('.widget-pred [data-verdict]').length === 2,
      null,
      { timeout: 30000 },
    )
    .then(
      () => check(true, 'scrolled into view, the second widget computes its compare view'),
      () => check(false, 'scrolled into view, the second widget computes its compare view'),
    );
  const v2 = await blog.evaluate(() => ({
    said: [...document.getElementById('w2').shadowRoot.querySelectorAll('.widget-pred [data-verdict]')].map(
      (e) => e.dataset.verdict,
    ),
    cols: [...document.getElementById('w2').shadowRoot.querySelectorAll('.compare-pred [data-verdict]')].map(
      (e) => e.dataset.verdict,
    ),
  }));
  check(
    v2.said.join() === 'right,wrong' && v2.cols.join() === 'right,wrong',
    `the compare widget: the model right, its baseline wrong, in the sentence and in both columns (${v2.said} / ${v2.cols})`,
  );
  // the third: a real-text model's sequence view, when the model is shipped
  if (index.some((e) => e.name === 'pydoc-cope-s1')) {
    await blog.locator('#w3').scrollIntoViewIfNeeded();
    await blog
      .waitForFunction(
        () =>
          document.getElementById('w3').snapshot()?.state?.view === 'sequence' &&
          document.getElementById('w3').panel?.run?.T > 100,
        null,
        { timeout: 60000 },
      )
      .then(
        () => check(true, 'the third widget shows the real-text model on its example prose'),
        () => check(false, 'the third widget shows the real-text model on its example prose'),
      );
  }
  await shot(blog, 'widget-blog-full');
  check(blog.errors.length === 0, 'no console errors on the blog page', blog.errors.join(' | '));
  await blog.context().close();

  // 7b. The widget loaded from another origin (its worker then starts from a blob).
  writeFileSync(
    join(xoDir, 'index.html'),
    `<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<script type="module" src="${base}cope-viz.js"></script></head><body>
<cope-viz id="x" model="${base}${first.file}" text="a = 0 ; a ++; print a" view="query"></cope-viz></body></html>`,
  );
  const xo = await open('', { absolute: xoBase });
  await xo
    .waitForFunction(() => document.getElementById('x').snapshot()?.query, null, { timeout: 30000 })
    .then(
      () => check(true, `the widget works on another origin (${xoBase} loading from ${base})`),
      async () =>
        check(
          false,
          'the widget works on another origin',
          await xo.evaluate(() => document.getElementById('x').shadowRoot?.textContent.slice(0, 200)),
        ),
    );
  check(xo.errors.length === 0, 'no console errors on the other origin', xo.errors.join(' | '));
  await xo.context().close();

  // 8. embed.html with the state in its query string; dark mode.
  const emb = await open(`embed.html?model=${encodeURIComponent(first.name)}&view=sequence&layer=0&head=0`, {
    colorScheme: 'dark',
  });
  await emb
    .waitForFunction(() => document.querySelector('cope-viz')?.snapshot()?.state?.view === 'sequence', null, {
      timeout: 30000,
    })
    .then(
      () => check(true, 'embed.html shows the view its URL asks for'),
      () => check(false, 'embed.html shows the view its URL asks for'),
    );
  const dark = await emb.evaluate(() => getComputedStyle(document.querySelector('cope-viz')).backgroundColor);
  check(dark === 'rgb(22, 23, 27)', `dark mode follows the system setting (${dark})`);
  await shot(emb, 'embed-dark');
  // a map exported from the dark page is light (white background), at 2x
  const [edl] = await Promise.all([
    emb.waitForEvent('download', { timeout: 10000 }),
    emb.locator('cope-viz .map-box .png').first().click(),
  ]);
  const epi = pngInfo(readFileSync(await edl.path()));
  check(
    epi.first.join() === '255,255,255' && epi.width === 1640,
    `a map exported from the dark page is light: first pixel rgb(${epi.first}), ${epi.width} x ${epi.height}`,
  );
  check(emb.errors.length === 0, 'no console errors in embed.html', emb.errors.join(' | '));
  await cspEnforced(emb, 'embed.html');
  await emb.context().close();

  // 9. Phone width: no horizontal page scroll; keyboard focus is visible.
  const phone = await open('', { viewport: { width: 390, height: 844 } });
  await rendered(phone);
  const over = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(over <= 1, `phone width (390 px): the page does not scroll sideways (overflow ${over} px)`);
  await phone.keyboard.press('Tab');
  await phone.keyboard.press('Tab');
  const focus = await phone.evaluate(() => {
    const e = document.activeElement;
    const s = getComputedStyle(e);
    return { tag: e.tagName, outline: s.outlineStyle, width: s.outlineWidth };
  });
  check(
    focus.outline !== 'none' && parseFloat(focus.width) >= 2,
    `keyboard focus is visible (${focus.tag}: ${focus.outline} ${focus.width})`,
  );
  const bar = await phone.evaluate(() => getComputedStyle(document.querySelector('.panel-bar')).position);
  check(bar === 'static', `phone width: the panel's toolbar scrolls away instead of sticking (${bar})`);
  await shot(phone, 'page-phone');
  await phone.context().close();

  // 9b. The rest of the list: each fixed, each checked.
  {
    // shrinking the window: the charts follow without a step
    const rp = await open('', { viewport: { width: 1366, height: 900 } });
    await rendered(rp);
    await rp.setViewportSize({ width: 800, height: 900 });
    await rp.waitForTimeout(400);
    const fit = await rp.evaluate(() =>
      [...document.querySelectorAll('#panel > .panel-body > .query-view .chart-holder canvas')].map(
        (c) => c.getBoundingClientRect().right - c.closest('.query-view').getBoundingClientRect().right,
      ),
    );
    check(
      fit.length === 2 && fit.every((d) => d <= 1),
      `shrunk to 800 px, the charts fit (overhang ${fit.map((d) => d.toFixed(0))} px)`,
    );
    // boundary tokens live in the URL: set, reload, still there
    await rp.fill('[data-ctl=markers]', 'pass;');
    await rp.press('[data-ctl=markers]', 'Enter');
    await rp
      .waitForFunction(() => new URL(location.href).searchParams.get('markers') === 'pass;', null, { timeout: 5000 })
      .catch(() => {});
    const url = rp.url();
    const rp2 = await open(url.slice(base.length));
    await rendered(rp2);
    const mk = await rp2.evaluate(() => ({
      input: document.querySelector('[data-ctl=markers]').value,
      n: window.copeViz.panel.markerIndices().length,
      pass: window.copeViz.panel.run.pieces.filter((p) => p === 'pass;').length,
    }));
    check(
      /markers=pass%3B/.test(url) && mk.input === 'pass;' && mk.n === mk.pass,
      `boundary tokens in the URL: ${url.split('?')[1]?.match(/markers=[^&]*/)?.[0]} → ${mk.n} markers after a reload`,
    );
    await rp2.context().close();
    // an unknown piece is named once in the notice, however often it occurs
    await rp.fill('#text', 'a = 0 ; zebra zebra zebra ; a ++; print a');
    await rp.waitForFunction(() => /zebra/.test(document.getElementById('notice').textContent), null, {
      timeout: 10000,
    });
    const note = await rp.evaluate(() => document.getElementById('notice').textContent);
    check((note.match(/zebra/g) || []).length === 1, `the unknown-piece notice names "zebra" once: ${note}`);
    // switching model keeps a way back to the text typed
    const typed = await rp.evaluate(() => document.getElementById('text').value);
    const other = index.find((e) => e.task === 'flipflop') || index[1];
    await rp.selectOption('#model', other.name);
    await rp.waitForSelector('#restore-text', { timeout: 20000 });
    const warned = await rp.evaluate(() => document.getElementById('notice').textContent);
    await rp.click('#restore-text');
    await rp.waitForFunction(
      (t) => document.getElementById('text').value === t && window.copeViz.panel.run?.model.name !== 'x',
      typed,
      { timeout: 10000 },
    );
    check(true, `switching to ${other.name} replaced the typed text and offered it back`);
    // a flip-flop example fits the model's context: no "the text has N tokens" warning
    if (other.task === 'flipflop') {
      await rp.click('#sample');
      await rendered(rp);
      const w = await rp.evaluate(() => document.getElementById('notice').textContent);
      check(
        !/tokens but this model reads at most/.test(w) && !/tokens but this model reads at most/.test(warned),
        `a new flip-flop example fits the context (notice: "${w}")`,
      );
    }
    check(rp.errors.length === 0, 'no console errors in the list of fixes', rp.errors.join(' | '));
    await rp.context().close();
    // make serve on a busy port: one clear line, no stack trace
    const port = new URL(base).port;
    const busy = await new Promise((res) => {
      const p = spawn('node', ['web/serve.mjs', SITE, '--port', port]);
      let err = '';
      p.stderr.on('data', (d) => (err += d));
      p.on('exit', (code) => res({ code, err }));
    });
    check(
      busy.code === 1 && /is in use/.test(busy.err) && !/\n\s+at /.test(busy.err),
      `serve.mjs on a busy port: exit ${busy.code}, "${busy.err.trim()}"`,
    );
  }

  // 10. A long input stays fluid: the largest shipped context (up to 512 tokens), sequence view.
  const big = [...index].sort((a, b) => b.n_ctx - a.n_ctx)[0];
  const n = Math.min(512, big.n_ctx);
  const lp = await open(`?model=${encodeURIComponent(big.name)}&view=sequence`);
  await rendered(lp);
  const words = await lp.evaluate(() => window.copeViz.app.model.vocab.filter((p) => !p.startsWith('<') && p !== '\n'));
  const text = Array.from({ length: n }, (_, k) => words[(k * 7) % words.length]).join(' ');
  const t1 = Date.now();
  await lp.fill('#text', text);
  await lp.waitForFunction((n) => window.copeViz.panel.run?.T === n && !window.copeViz.panel.drawing, n, {
    timeout: 60000,
  });
  const traced = Date.now() - t1;
  await lp.focus('#panel');
  const t2 = Date.now();
  for (let k = 0; k < 5; k++) await lp.keyboard.press('ArrowLeft');
  await rendered(lp, n - 6);
  const stepMs = (Date.now() - t2) / 5;
  check(
    stepMs < 400,
    `${n} tokens (${big.name}): traced and drawn in ${traced} ms; a query step takes ${stepMs.toFixed(0)} ms`,
  );
  await shot(lp, 'page-long-sequence');
  // the query view on the long input: a window of keys ending at the query, charts updated in place
  await lp.click('[data-view=query]');
  await rendered(lp);
  const before = await lp.evaluate(() => {
    window.__posChart = window.copeViz.panel.queryView.posBox.chart;
    return window.copeViz.panel.state.query;
  });
  await lp.keyboard.press('ArrowLeft');
  await rendered(lp, before - 1);
  const lw = await lp.evaluate(() => {
    const v = window.copeViz.panel.queryView,
      c = v.posBox.chart,
      x = c.scales.x;
    return {
      q: window.copeViz.panel.state.query,
      min: x.min,
      max: x.max,
      ticks: x.ticks.map((t) => t.value),
      same: c === window.__posChart,
      clampAt: c.options.plugins.copeClamp.at,
      npos: window.copeViz.app.model.config.npos,
      hasCope: window.copeViz.app.model.hasCope,
      clamped: document.querySelectorAll('table.strip td.clamped').length,
      caption: v.caption.textContent,
    };
  });
  check(
    lw.min === lw.q - 63.5 && lw.max === lw.q + 0.5 && lw.ticks[0] === lw.q - 63 && lw.ticks.at(-1) === lw.q,
    `${n} tokens: the charts show the 64 keys ending at the query ${lw.q} (axis ${lw.min}…${lw.max}, ticks ${lw.ticks[0]}…${lw.ticks.at(-1)})`,
  );
  check(lw.same, 'a query step updates the charts in place (the same Chart.js object)');
  if (lw.hasCope)
    check(
      lw.clampAt === lw.npos - 1 && lw.clamped > 0 === lw.caption.includes(`npos − 1 = ${lw.npos - 1}`),
      `the npos − 1 clamp is drawn at ${lw.clampAt}; ${lw.clamped} strip cells at it, and the caption ${lw.clamped ? 'names' : 'does not need'} it`,
    );
  check(lp.errors.length === 0, 'no console errors with the long input', lp.errors.join(' | '));
  await lp.context().close();

  // 12. Gate interventions: force the gates on one ++; to 0 in layer 0 of the counting model; the
  // prediction is what the native `cope trace --force-gate` says, the views show the forced gate,
  // the URL holds it, Undo restores; a link's bad interventions are named.
  if (index.some((e) => e.name === 'counting1-cope-s1')) {
    const prog = 'a = 0 ; pass; a ++; pass; a ++; a ++; print a';
    const native = (...extra) => {
      const d = JSON.parse(
        execFileSync(
          process.env.COPE || 'build/cope',
          ['trace', 'models/counting1-cope-s1.safetensors', '--text', prog, '--json', ...extra],
          {
            encoding: 'utf8',
            maxBuffer: 1 << 26,
          },
        ),
      );
      const l = d.logits.at(-1);
      return d.tokens.length && l.indexOf(Math.max(...l));
    };
    const ip = await open(`?model=counting1-cope-s1&text=${encodeURIComponent(prog)}&layer=0&head=2`);
    await rendered(ip);
    const predOf = () =>
      ip.evaluate(() => {
        const r = window.copeViz.panel.run;
        return { id: r.pred[r.T - 1], piece: window.copeViz.app.model.vocab[r.pred[r.T - 1]], force: r.force.length };
      });
    const before = await predOf();
    await ip.selectOption('#force-key', '6');
    await ip.selectOption('#force-scope', 'layer');
    await ip.click('#force-0');
    await ip.waitForFunction(() => window.copeViz.panel.run?.force.length === 1);
    await rendered(ip);
    const after = await predOf();
    const nat = native('--force-gate', '0:*:6=0');
    check(
      before.id === native() && after.id === nat && after.id === before.id - 1,
      `forcing the first ++; to 0 in layer 0: the answer ${before.piece} → ${after.piece}, as cope trace --force-gate says (ids ${before.id} → ${after.id}, native ${nat})`,
    );
    const shown = await ip.evaluate(async () => {
      const v = window.copeViz,
        r = v.panel.run,
        h = await r.head(0, 2),
        q = r.T - 1;
      return {
        gate: h.gates[q * r.T + 6],
        chip: document.querySelectorAll('#tokens .tok')[6].classList.contains('forced'),
        banner: document.querySelector('#prediction .intervened')?.textContent,
        list: document.getElementById('force-list').textContent,
      };
    });
    check(
      shown.gate === 0 &&
        shown.chip &&
        /With 1 gate intervention/.test(shown.banner) &&
        /layer 0 · every head · key 6 "\+\+;" → 0/.test(shown.list),
      `the intervention is visible: gate ${shown.gate} in the views, the token marked, the banner and the list ("${shown.list.slice(0, 60)}")`,
    );
    await ip.waitForFunction(() => /force=0%3A\*%3A6%3D0/.test(location.search));
    const link = await ip.evaluate(() => location.href);
    await ip.click('#force-undo');
    await ip.waitForFunction(() => window.copeViz.panel.run?.force.length === 0);
    await rendered(ip);
    const undone = await predOf();
    await ip.waitForFunction(() => !/force=/.test(location.search));
    check(undone.id === before.id, `Undo restores the prediction (${undone.piece}) and the URL drops force=`);
    check(ip.errors.length === 0, 'no console errors with interventions', ip.errors.join(' | '));
    await ip.context().close();
    const lp2 = await open('', { absolute: link });
    await rendered(lp2);
    await lp2.waitForFunction(() => window.copeViz.panel.run?.force.length === 1);
    const again = await lp2.evaluate(() => {
      const r = window.copeViz.panel.run;
      return r.pred[r.T - 1];
    });
    check(again === after.id, 'a link with force= reproduces the intervention and its prediction');
    await lp2.context().close();
    const bp = await open(`?model=counting1-cope-s1&text=${encodeURIComponent(prog)}&force=0:*:6=0,%3Cb%3E,0:9:1=0`);
    await rendered(bp);
    await bp.waitForTimeout(300);
    const bad = await bp.evaluate(() => ({
      notice: document.getElementById('notice').textContent,
      error: document.getElementById('error').hidden ? '' : document.getElementById('error-msg').textContent,
      force: window.copeViz.panel.run.force.length,
      injected: document.querySelectorAll('#notice b, #error b').length,
    }));
    reliable('force=0:*:6=0,<b>,0:9:1=0 (page URL)', `${bad.notice} ${bad.error}`);
    check(
      /"<b>" do not read as LAYER:HEAD:KEY=VALUE/.test(bad.notice) &&
        /head 9 is outside 0..3/.test(bad.error) &&
        bad.force === 0 &&
        bad.injected === 0,
      `a link's bad interventions are named and dropped (${bad.notice.slice(0, 70)}… / ${bad.error.slice(0, 80)}…)`,
    );
    await bp.context().close();
  }

  // 11. The Train view: settings from the URL, both runs train and their curves fall, pause and
  // resume, download (the file loads natively and in the page), inspect, reset stops the workers.
  const tp = await open('?train=toy&tsteps=400&tseed=3&tbase=rope&tlr=0.004');
  await tp.waitForFunction(() => window.copeViz?.app?.model);
  const ts = await tp.evaluate(() => ({
    open: document.getElementById('train-card').open,
    preset: document.querySelector('#train-preset').value,
    steps: document.querySelector('#train-tsteps').value,
    seed: document.querySelector('#train-tseed').value,
    lr: document.querySelector('#train-tlr').value,
    base: document.querySelector('#train-baseline').value,
  }));
  check(
    ts.open && ts.preset === 'toy' && ts.steps === '400' && ts.seed === '3' && ts.lr === '0.004' && ts.base === 'rope',
    `Train view: the settings come from the URL (${JSON.stringify(ts)})`,
  );
  await tp.click('#train-go');
  await tp.waitForFunction(() => window.copeViz.trainView.runs.every((r) => r.state === 'done'), null, {
    timeout: 60000,
  });
  const tr = await tp.evaluate(() =>
    window.copeViz.trainView.runs.map((r) => ({
      pe: r.pe,
      first: r.loss[0]?.y,
      last: r.loss.at(-1)?.y,
      errors: r.error.length,
      err0: r.error[0]?.y,
      errN: r.error.at(-1)?.y,
      line: r.col.line.textContent,
      row: r.row && r.row.gates.length,
    })),
  );
  check(
    tr.length === 2 && tr[0].pe === 'cope' && tr[1].pe === 'rope',
    `two runs, CoPE and the baseline from the URL (${tr.map((r) => r.pe)})`,
  );
  for (const r of tr) {
    check(r.last < 0.8 * r.first, `${r.pe}: the loss falls (${r.first?.toFixed(3)} → ${r.last?.toFixed(3)})`);
    check(r.errors >= 3 && r.errN < r.err0, `${r.pe}: ${r.errors} error points, ${r.err0}% → ${r.errN}%`);
    check(
      /^step 400\/400 · [\d,]+ tokens\/s · error [\d.]+ % at step 400 · done$/.test(r.line),
      `${r.pe}: progress line "${r.line}"`,
    );
    check(r.row > 0, `${r.pe}: the head's rows on the example are drawn (${r.row} keys)`);
  }
  const download = tp.waitForEvent('download');
  await tp.click('.train-run[data-pe=cope] .train-download');
  const file = join(xoDir, 'trained.safetensors');
  await (await download).saveAs(file);
  const info = JSON.parse(
    execFileSync(process.env.COPE || 'build/cope', ['info', file, '--json'], { encoding: 'utf8' }),
  );
  check(
    info.provenance.task === 'toy' &&
      info.provenance.steps === 400 &&
      info.provenance.seed === 3 &&
      /^CopeTrainer/.test(info.provenance.trainer),
    `the downloaded model loads in cope: ${info.provenance.task}, ${info.provenance.steps} steps, ${info.provenance.trainer}`,
  );
  await tp.setInputFiles('#file', file);
  await tp.waitForFunction(() => window.copeViz.app.model?.name === 'trained.safetensors');
  await rendered(tp);
  check(true, 'the downloaded model opens in the page (file picker) and renders');
  await tp.click('.train-run[data-pe=rope] .train-inspect');
  await tp.waitForFunction(() => /^toy-rope-trained-step400/.test(window.copeViz.app.model?.name || ''));
  await rendered(tp);
  const insp = await tp.evaluate(() => ({ pe: window.copeViz.app.model.config.pe, T: window.copeViz.panel.run.T }));
  check(
    insp.pe === 'rope' && insp.T > 0,
    `Inspect opens the trained baseline in the views (${insp.pe}, ${insp.T} tokens)`,
  );
  // pause and resume on a long run, then reset
  await tp.fill('#train-tsteps', '100000');
  await tp.locator('#train-tsteps').dispatchEvent('change');
  await tp.click('#train-go');
  await tp.waitForFunction(() => window.copeViz.trainView.runs.every((r) => r.step > 20));
  await tp.click('#train-go'); // pause
  await tp.waitForTimeout(400); // the slice under way finishes
  const paused1 = await tp.evaluate(() => window.copeViz.trainView.runs.map((r) => r.step));
  await tp.waitForTimeout(1200);
  const paused2 = await tp.evaluate(() => window.copeViz.trainView.runs.map((r) => r.step));
  const goText = await tp.textContent('#train-go');
  check(
    paused1.join() === paused2.join() && goText === 'Resume',
    `Pause stops both runs (steps ${paused1} then ${paused2}; the button says ${goText})`,
  );
  await tp.evaluate(() => {
    window.pausedRuns = window.copeViz.trainView.runs;
  });
  await tp.click('#train-go'); // resume
  await tp.waitForFunction((p) => window.copeViz.trainView.runs.every((r, k) => r.step > p[k] + 5), paused2);
  const resumed = await tp.evaluate(() => ({
    same: window.copeViz.trainView.runs.every((r, k) => r === window.pausedRuns[k]),
    steps: window.copeViz.trainView.runs.map((r) => r.step),
  }));
  check(
    resumed.same && resumed.steps.every((v, k) => v > paused2[k]),
    `Resume continues the same runs from where they stopped (${paused2} → ${resumed.steps})`,
  );
  await tp.evaluate(() => {
    window.oldRuns = window.copeViz.trainView.runs;
  });
  await tp.click('#train-reset');
  const rs = await tp.evaluate(() => ({
    stopped: window.oldRuns.every((r) => r.worker === null),
    runs: window.copeViz.trainView.runs.length,
    cols: document.querySelectorAll('.train-run').length,
    go: document.getElementById('train-go').textContent,
    url: location.search,
  }));
  check(
    rs.stopped && rs.runs === 0 && rs.cols === 0 && rs.go === 'Train',
    'Reset terminates both workers (Worker.terminate) and clears the view',
  );
  check(
    /train=toy/.test(rs.url) && /tsteps=100000/.test(rs.url) && /tbase=rope/.test(rs.url) && /view=/.test(rs.url),
    `the Train settings and the view's share the URL (${rs.url.replace(/text=[^&]*/, 'text=…')})`,
  );
  check(tp.errors.length === 0, 'no console errors in the Train view', tp.errors.join(' | '));
  await tp.context().close();
  // hostile Train settings in the URL are dropped, not used
  const th = await open('?train=%3Cimg%20src=x%20onerror=alert(1)%3E&tsteps=-5&tlr=NaN&tseed=1e99&tbase=javascript:1');
  await th.waitForFunction(() => window.copeViz?.app?.model);
  const hs = await th.evaluate(() => ({
    open: document.getElementById('train-card').open,
    steps: document.querySelector('#train-tsteps').value,
    base: document.querySelector('#train-baseline').value,
    imgs: document.querySelectorAll('#train img').length,
  }));
  check(
    !hs.open && hs.steps === '3000' && hs.base === 'rel' && hs.imgs === 0 && th.errors.length === 0,
    `bad Train settings in the URL are ignored (${JSON.stringify(hs)})`,
  );
  await th.context().close();

  // 13. Hostile links: seeded random and adversarial query strings (huge numbers, NaN, negatives,
  // long text, javascript: and HTML in every field, unknown keys) on the page and on embed.html.
  // Each: no uncaught exception, nothing injected, the page usable (a trace drawn or the error
  // panel naming the problem), and every invalid layer/head/query/view named in the notice.
  {
    let seed = 20261201;
    const rnd = (n) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    const evil = [
      '1e400',
      '9'.repeat(400),
      'NaN',
      '-1',
      '-0',
      '0x10',
      ' 3',
      '1.5',
      'Infinity',
      '',
      '%',
      '%00',
      '\u0000',
      'javascript:window.__pwned=1',
      '<img src=x onerror=window.__pwned=1>',
      '"><script>window.__pwned=1</script>',
      "'; window.__pwned=1; '",
      '\ud800',
      '../../../etc/passwd',
      'http://example.invalid/m.safetensors',
      'data:text/html,<script>window.__pwned=1</script>',
      '0',
      '1',
      '2',
      '3',
      '7',
      '1000001',
      'a b . a ?',
      'sequence',
      'query',
      'compare',
      'counting3-cope-s1',
      'toy',
      '0:*:1=0',
      '99:99:99=2',
      'x'.repeat(3000),
    ];
    const keys = [
      'model',
      'text',
      'view',
      'layer',
      'head',
      'query',
      'markers',
      'force',
      'train',
      'tseed',
      'tsteps',
      'tlr',
      'tbase',
      'tlayer',
      'thead',
      'poster',
      'baseline',
      'colour',
      '__proto__',
      'constructor',
    ];
    const badIndex = (v) => !(v.trim() !== '' && Number.isInteger(Number(v)) && Number(v) >= 0 && Number(v) <= 1e6);
    const cases = [];
    for (let k = 0; k < 240; k++) {
      const p = new URLSearchParams();
      const n = 1 + rnd(5);
      for (let j = 0; j < n; j++) p.append(keys[rnd(keys.length)], evil[rnd(evil.length)]);
      if (k % 40 === 0) p.set('text', 'a '.repeat(3000)); // long (servers refuse URLs past ~16 KB)
      if (rnd(10) < 7) p.set('model', first.name); // mostly a model that loads, so the rest is read
      cases.push({ embed: k % 4 === 3, q: p.toString(), p });
    }
    const hp = await open('');
    await rendered(hp);
    const problems = [];
    let named = 0,
      shouldName = 0;
    for (const c of cases) {
      const errs = [];
      const onErr = (e) => errs.push(e.message);
      hp.on('pageerror', onErr);
      await hp.goto(`${base}${c.embed ? 'embed.html' : ''}?${c.q}`).catch((e) => errs.push(`navigation: ${e.message}`));
      const r = await hp
        .waitForFunction(
          (embed) => {
            if (embed) {
              const refused = document.querySelector('p[role=alert]')?.textContent; // a model elsewhere
              if (refused) return { error: refused };
              const w = document.querySelector('cope-viz')?.shadowRoot;
              const err = w?.querySelector('.error');
              if (err && !err.hidden && err.textContent) return { error: err.textContent };
              const pred = w?.querySelector('.widget-pred')?.textContent;
              return w?.querySelector('canvas') &&
                document.querySelector('cope-viz').panel?.run &&
                !document.querySelector('cope-viz').panel.drawing
                ? { notice: pred || '' }
                : null;
            }
            const e = document.getElementById('error');
            if (!e.hidden && e.textContent) return { error: document.getElementById('error-msg').textContent };
            const v = window.copeViz;
            return v?.panel?.run && !v.panel.drawing ? { notice: document.getElementById('notice').textContent } : null;
          },
          c.embed,
          { timeout: 30000 },
        )
        .then((h) => h.jsonValue())
        .catch(() => null);
      const injected = await hp.evaluate(() => {
        const roots = [document, document.querySelector('cope-viz')?.shadowRoot].filter(Boolean);
        return (
          !!window.__pwned ||
          roots.some((d) => d.querySelector('script:not([src]), img[src="x"], [onerror], iframe, object'))
        );
      });
      hp.off('pageerror', onErr);
      if (!r || errs.length || injected)
        problems.push(
          `${c.embed ? 'embed.html' : 'page'}?${c.q.slice(0, 120)}: ${!r ? 'neither drawn nor an error' : ''}${errs.join('; ')}${injected ? ' injected' : ''}`,
        );
      else if (!c.embed && r.notice !== undefined && c.p.get('model') === first.name) {
        for (const k of ['layer', 'head', 'query', 'view']) {
          const v = c.p.get(k);
          if (v === null) continue;
          const bad = k === 'view' ? !['query', 'sequence', 'compare'].includes(v) : badIndex(v);
          if (!bad) continue;
          shouldName++;
          if (r.notice.includes(`${k}=`)) named++;
          else problems.push(`page?${c.q.slice(0, 120)}: the notice does not name ${k}= ("${r.notice.slice(0, 80)}")`);
        }
      }
    }
    check(
      problems.length === 0 && shouldName > 0,
      `${cases.length} hostile links (${cases.filter((c) => c.embed).length} on embed.html): no exception, nothing injected, every one drawn or answered with an error; ${named} of ${shouldName} invalid view settings named in the notice`,
      problems.slice(0, 5).join(' | '),
    );
    reliable(
      `${cases.length} seeded links with huge numbers, NaN, negatives, 6 KB of text, javascript: and HTML in every parameter, unknown keys`,
      `no exception, nothing injected; drawn or an error panel; ${named} of ${shouldName} invalid view settings named in the notice`,
    );
    await hp.context().close();
  }

  // 13b. What the link asked for that the page did not take stays in the notice when the baseline
  // arrives after the first draw and the input is traced again with it (CI once caught the notice
  // emptied by that second trace).
  {
    const ln = await open('?model=counting3-cope-s1&head=99&bogus=1');
    await ln.waitForFunction(() => window.copeViz?.panel?.baseRun && !window.copeViz.panel.drawing, null, {
      timeout: 30000,
    });
    const notice = await ln.textContent('#notice');
    check(
      notice.includes('head=99') && notice.includes('bogus'),
      `the link's notes stay in the notice once the baseline has arrived ("${notice.slice(0, 90)}…")`,
    );
    await ln.context().close();
  }

  // 14. Model switches in a row (bench/heavy_bench.mjs does 1,000): a baseline still loading for
  // the last model must not attach to the next one, nor fail loudly once that model is gone.
  {
    const sw = await open('');
    await rendered(sw);
    const names = index.slice(0, 4).map((e) => e.name);
    for (let k = 0; k < 40; k++) {
      await sw.selectOption('#model', names[k % names.length]);
      await sw.waitForFunction(
        (n) => window.copeViz.panel.run?.model.name === n && !window.copeViz.panel.drawing,
        names[k % names.length],
        { timeout: 30000 },
      );
    }
    await sw.waitForTimeout(1000);
    const st = await sw.evaluate(() => ({
      error: document.getElementById('error').hidden ? null : document.getElementById('error-msg').textContent,
      model: window.copeViz.app.model.name,
      base: window.copeViz.app.base?.name ?? null,
      entryBase: window.copeViz.app.entry?.baseline ?? null,
    }));
    // what the worker still holds: the shown model and its baseline, nothing of the 39 before
    const held = await sw.evaluate(() => window.copeViz.app.model.client.call('stats', {}));
    check(
      held.keys === (st.base ? 2 : 1) && held.instances === held.keys,
      `after 40 switches the worker holds the shown model${st.base ? ' and its baseline' : ''} only (${held.keys} models, ${held.instances} instances)`,
    );
    check(
      sw.errors.length === 0 && !st.error && (st.base === null || st.base === st.entryBase),
      `40 model switches in a row: no error, the baseline is the shown model's (${st.model} / ${st.base})`,
      [...sw.errors, st.error].filter(Boolean).join(' | '),
    );
    await sw.context().close();
  }

  // 15. A long post with 20 widgets (examples/many-widgets.html; make bench-heavy measures memory
  // and scrolling on it): only the widgets near the view compute, widgets of one model file share
  // one wasm instance in the worker (each input traced again when another's replaced it), and a
  // widget taken off the page lets go of its models.
  {
    const mw = await open('examples/many-widgets.html');
    const stats = () => mw.evaluate(() => window.client.call('stats', {}));
    // the worker's models of the widgets on the page: keys (one per model and baseline), files
    const held = () =>
      mw.evaluate(() => {
        const ws = [...document.querySelectorAll('cope-viz')].filter((w) => w.isConnected);
        const names = ws.flatMap((w) => [w.model?.name, w.base?.name]).filter(Boolean);
        return { keys: names.length, files: new Set(names).size };
      });
    await mw.waitForFunction(() => document.getElementById('w0').panel?.run, null, { timeout: 60000 });
    await mw.evaluate(() => {
      window.client = document.getElementById('w0').model.client;
    });
    await mw.waitForTimeout(2000);
    // every widget that started has computed (its model and baseline are loaded)
    await mw.waitForFunction(
      () => [...document.querySelectorAll('cope-viz')].every((w) => !w.started || w.panel?.run),
      null,
      { timeout: 60000 },
    );
    const early = await mw.evaluate(() =>
      [...document.querySelectorAll('cope-viz')].filter((w) => w.started).map((w) => w.id),
    );
    const s0 = await stats();
    check(
      early.length >= 1 && early.length <= 3 && s0.keys === (await held()).keys,
      `20 widgets: before scrolling only those near the view started (${early.join(', ')}); the worker holds their ${s0.keys} models`,
    );
    // scroll as a reader does until every widget has computed
    for (let k = 0; k < 400; k++) {
      if (await mw.evaluate(() => [...document.querySelectorAll('cope-viz')].every((w) => w.panel?.run))) break;
      await mw.mouse.wheel(0, 400);
      await mw.waitForTimeout(100);
    }
    // every widget computed and drawn (the last ones may still be drawing when the loop ends)
    const computed = await mw
      .waitForFunction(
        () => {
          const ws = [...document.querySelectorAll('cope-viz')];
          return ws.every((w) => w.panel?.run && !w.panel.drawing) && ws.length;
        },
        null,
        { timeout: 30000 },
      )
      .then((h) => h.jsonValue())
      .catch(() => 0);
    const s1 = await stats(),
      h1 = await held();
    check(
      computed === 20 && s1.keys === h1.keys && s1.instances === h1.files && h1.files < h1.keys,
      `scrolled through, all 20 computed: ${s1.keys} models in ${s1.instances} wasm instances (one per file), ${(s1.wasmBytes / 1e6).toFixed(0)} MB of wasm memory`,
      JSON.stringify({ s1, h1 }),
    );
    // another input in w0 replaces the shared instance's trace; w10 (same model) then shows another head
    await mw.evaluate(() => {
      const w = document.getElementById('w0');
      w.readyAgain = new Promise((r) => w.addEventListener('cope-ready', r, { once: true }));
      w.setAttribute('text', 'b = 0 ; b ++; pass; b ++; b ++; print b');
    });
    await mw.evaluate(() => document.getElementById('w0').readyAgain);
    const w10 = await mw.evaluate(async () => {
      const w = document.getElementById('w10');
      w.setAttribute('head', String((w.panel.state.head + 1) % w.model.config.n_head));
      await w.panel.drawing;
      return { snap: w.snapshot(), text: await w.model.exampleText(1), nctx: w.model.config.n_ctx };
    });
    compareShown(
      w10.snap,
      await independentRow(
        mw,
        new URL('models/counting3-cope-s1.safetensors', base).href,
        w10.text,
        w10.snap.state.layer,
        w10.snap.state.head,
        w10.snap.query.query,
        w10.nctx,
      ),
      "a widget whose shared model traced another widget's input since",
    );
    // off the page: ten widgets let go of their models; one put back loads and computes again
    await mw.evaluate(() => {
      window.removed = [...document.querySelectorAll('cope-viz')].slice(0, 10);
      for (const w of window.removed) w.remove();
    });
    await mw.waitForTimeout(500);
    const s2 = await stats(),
      h2 = await held();
    check(
      s2.keys === h2.keys && s2.instances === h2.files && s2.keys < s1.keys,
      `10 widgets removed: the worker holds the other ten's ${s2.keys} models in ${s2.instances} instances`,
      JSON.stringify({ s2, h2 }),
    );
    await mw.evaluate(() => {
      const w = window.removed[1];
      w.ready = new Promise((r) => w.addEventListener('cope-ready', r, { once: true }));
      document.body.appendChild(w);
    });
    const back = await mw
      .evaluate(() =>
        Promise.race([window.removed[1].ready.then(() => true), new Promise((r) => setTimeout(r, 30000, false))]),
      )
      .catch(() => false);
    const s3 = await stats();
    check(
      back && s3.keys === (await held()).keys,
      `a widget put back loads its model and computes again (${s3.keys} models)`,
    );
    // taken off the page while its model loads (5 ms after it started): nothing stays in the worker
    const quick = await mw.evaluate(async () => {
      const w = document.createElement('cope-viz');
      w.setAttribute('model', '../models/topics-cope-s1.safetensors');
      document.body.appendChild(w);
      w.start();
      await new Promise((r) => setTimeout(r, 5));
      w.remove();
      await new Promise((r) => setTimeout(r, 3000));
      return { model: w.model, reload: w.reload };
    });
    const s5 = await stats();
    check(
      s5.keys === (await held()).keys && quick.model === null && quick.reload,
      `a widget removed while its model loads lets go of it when the load arrives (${s5.keys} models held)`,
    );
    await mw.evaluate(() => {
      for (const w of document.querySelectorAll('cope-viz')) w.remove();
    });
    await mw.waitForTimeout(500);
    const s4 = await stats();
    check(
      s4.keys === 0 && s4.instances === 0 && s4.wasmBytes === 0,
      `every widget removed: the worker holds nothing (${JSON.stringify(s4)})`,
    );
    check(mw.errors.length === 0, 'no console errors on the page of 20 widgets', mw.errors.join(' | '));
    reliable(
      'a post with 20 widgets (examples/many-widgets.html) scrolled through, then its widgets removed',
      `${early.length} computed before scrolling, all 20 after; ${s1.keys} models in ${s1.instances} wasm instances (${(s1.wasmBytes / 1e6).toFixed(0)} MB); 10 removed: ${s2.keys} models in ${s2.instances}; all removed: ${s4.keys} models, ${s4.instances} instances`,
    );
    await mw.context().close();
  }

  // 16. Training stopped at any moment leaks no worker: every Worker the page makes is counted (new
  // and terminate), and runs are stopped by Reset, by a new preset or a new setting, while
  // starting, training, paused or done.
  {
    const wp = await open('?train=toy&tsteps=100000', {
      init: () => {
        const W = window.Worker;
        window.workers = { made: { train: 0, view: 0 }, live: { train: 0, view: 0 } };
        window.Worker = class extends W {
          constructor(url, o) {
            super(url, o);
            this.kind = /train-worker/.test(String(url)) ? 'train' : 'view';
            window.workers.made[this.kind]++;
            window.workers.live[this.kind]++;
          }
          terminate() {
            if (!this.ended) window.workers.live[this.kind]--;
            this.ended = true;
            super.terminate();
          }
        };
      },
    });
    await rendered(wp);
    const live = () => wp.evaluate(() => ({ ...window.workers.live }));
    const waits = [0, 40, 150, 600, 1500]; // ms after Train: starting, loading, training
    const stops = ['Reset', 'pause, then Reset', 'a new preset', 'a new number of steps'];
    const bad = [];
    let during = 0;
    for (let k = 0; k < 12; k++) {
      await wp.click('#train-go');
      await wp.waitForTimeout(waits[k % waits.length]);
      during = Math.max(during, (await live()).train);
      const how = stops[k % stops.length];
      if (how === 'Reset') await wp.click('#train-reset');
      else if (how === 'pause, then Reset') {
        await wp.click('#train-go');
        await wp.click('#train-reset');
      } else if (how === 'a new preset') {
        await wp.selectOption('#train-preset', k % 8 < 4 ? 'counting1' : 'toy');
      } else {
        await wp.fill('#train-tsteps', String(100000 - k));
        await wp.locator('#train-tsteps').dispatchEvent('change');
      }
      const l = await live();
      if (l.train !== 0) bad.push(`${how} after ${waits[k % waits.length]} ms: ${l.train} training workers live`);
    }
    // a run that finished keeps its workers (Download, Inspect) until Reset
    await wp.selectOption('#train-preset', 'toy');
    await wp.fill('#train-tsteps', '60');
    await wp.locator('#train-tsteps').dispatchEvent('change');
    await wp.click('#train-go');
    await wp.waitForFunction(() => window.copeViz.trainView.runs.every((r) => r.state === 'done'), null, {
      timeout: 60000,
    });
    const done = (await live()).train;
    await wp.click('#train-reset');
    const end = await wp.evaluate(() => window.workers);
    check(
      bad.length === 0 && during <= 2 && done === 2 && end.live.train === 0 && end.made.train === 26,
      `training stopped at 12 moments in 4 ways, then a finished run reset: every training worker ended (${end.made.train} made, ${end.live.train} live; at most ${during} at once)`,
      bad.join(' | '),
    );
    check(
      end.live.view === 1 && end.made.view === 1,
      `the views' one model worker lives on (${end.made.view} made, ${end.live.view} live)`,
    );
    check(wp.errors.length === 0, 'no console errors while training was stopped at any moment', wp.errors.join(' | '));
    reliable(
      'training stopped 12 times (Reset, pause then Reset, a new preset, a new setting; 0 to 1.5 s after Train), then a finished run reset',
      `${end.made.train} training workers made, ${end.live.train} live at the end (at most ${during} at once); the model worker: ${end.made.view} made, ${end.live.view} live`,
    );
    await wp.context().close();
  }
} catch (e) {
  check(false, 'the suite ran to the end', e.stack || e.message);
} finally {
  await browser.close();
  server.kill();
  xoServer.kill();
  rmSync(xoDir, { recursive: true, force: true });
}
writeFileSync(`${SHOTS}/README.txt`, 'Screenshots of the last browser test run (web/test/browser.test.mjs).\n');
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
