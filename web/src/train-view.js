// train-view.js — "Train a model here": CoPE and a baseline learn a task side by side, each in
// its own worker (train-worker.js) running the core's trainer; loss and error curves update
// live, and a chosen head's gates, positions and attention on a fixed example show what the
// model learns to count. Pause, resume, reset; download a model or inspect it in the views above.
// The settings live in the URL (train=, tseed=, tsteps=, tlr=, tbase=, tlayer=, thead=).
import { CurveChart, RowChart, theme } from './charts.js';
import { el, button, select, setOptions } from './dom.js';
import { showPiece } from './tasks.js';
import { writeState, quoted } from './state.js';

/** Presets that finish in about the time they say on a 2-core laptop (counting1: `make bench-train`). */
export const PRESETS = {
  counting1: {
    label: '1-variable counting (about a minute)',
    options: { task: 'counting1', layers: 1, dim: 32, heads: 4, npos: 16, relMax: 256, batch: 16, bucket: 8 },
    steps: 3000,
    lr: 3e-3,
    baseline: 'rel',
    about:
      'Programs of 3–128 statements; the model must print the variable: count the a ++; since the last a = 0 ;. Watch the gates of a counting head open on ++; and close on pass;.',
  },
  toy: {
    label: 'toy: count "a" since the last "." (seconds)',
    options: { task: 'toy', layers: 1, dim: 16, heads: 2, npos: 12, relMax: 64, batch: 16 },
    steps: 1000,
    lr: 3e-3,
    baseline: 'rel',
    about: 'Letters a and b in sentences ending with "."; after "?" the model says how many a since the last ".".',
  },
  flipflop: {
    label: 'flip-flop (a few minutes)',
    options: { task: 'flipflop', layers: 2, dim: 32, heads: 4, npos: 16, relMax: 128, batch: 16 },
    steps: 800,
    lr: 3e-3,
    baseline: 'rope',
    about: 'At each read r, say the bit of the last write w, ignoring the i instructions between.',
  },
};
const BASELINES = [
  ['rel', 'relative PE'],
  ['rope', 'RoPE'],
  ['abs', 'absolute PE'],
  ['none', 'no position encoding'],
];
const peName = (pe) => (pe === 'cope' ? 'CoPE' : (BASELINES.find(([v]) => v === pe)?.[1] ?? pe));
export const TRAIN_KEYS = ['train', 'tseed', 'tsteps', 'tlr', 'tbase', 'tlayer', 'thead'];
const MAX_POINTS = 400; // a loss curve longer than this is thinned to every other point
const REDRAW_MS = 500; // the curves are redrawn at most this often: the workers hold both cores
const EVAL_N = 500; // examples per error point (a step of 0.2 %)
const EXAMPLE_SEED = 4242; // the fixed example whose head rows are shown

/** The Train view's settings from a query string: unknown or out-of-range values are dropped. */
export function parseTrainState(search) {
  const p = new URLSearchParams(search),
    st = {};
  const int = (k, lo, hi) => {
    const v = Number(p.get(k));
    if (p.has(k) && Number.isInteger(v) && v >= lo && v <= hi) st[k] = v;
  };
  if (Object.hasOwn(PRESETS, p.get('train') ?? '')) st.train = p.get('train');
  int('tseed', 0, 2 ** 31);
  int('tsteps', 1, 100000);
  int('tlayer', 0, 63);
  int('thead', 0, 63);
  const lr = Number(p.get('tlr'));
  if (p.has('tlr') && Number.isFinite(lr) && lr > 0 && lr <= 1) st.tlr = lr;
  if (BASELINES.some(([v]) => v === p.get('tbase'))) st.tbase = p.get('tbase');
  return st;
}

/** The Train view's settings in a query string that parseTrainState dropped, one sentence each. */
export function trainNotes(search) {
  const p = new URLSearchParams(search),
    kept = parseTrainState(search);
  return TRAIN_KEYS.filter((k) => p.has(k) && !(k in kept)).map(
    (k) => `The link's ${k}=${quoted(p.get(k))} is not a setting the Train view takes: ignored.`,
  );
}

/** One training run in its own worker. */
class Run {
  constructor(pe, colour, view) {
    this.pe = pe;
    this.colour = colour;
    this.view = view;
    this.loss = [];
    this.error = [];
    this.row = null;
    this.step = 0;
    this.saves = new Map();
  }

  start(options, layer, head) {
    this.worker = new Worker(new URL('train-worker.js', import.meta.url));
    this.worker.onmessage = (e) => this.onmessage(e.data);
    this.worker.onerror = (e) => this.view.fail(this, e.message || 'the training worker failed');
    this.worker.postMessage({
      op: 'start',
      options: { ...options, pe: this.pe },
      wasmBase: new URL('wasm/', import.meta.url).href,
      exampleSeed: EXAMPLE_SEED,
      evalEvery: Math.max(25, Math.round(options.steps / 40)),
      evalN: EVAL_N,
      layer,
      head,
    });
    this.state = 'starting';
  }

  onmessage(m) {
    if (m.type === 'ready') {
      this.nParams = m.nParams;
      this.state = 'training';
    } else if (m.type === 'progress') {
      Object.assign(this, { step: m.step, steps: m.steps, tps: m.tokensPerSecond, seconds: m.seconds });
      this.loss.push({ x: m.step, y: m.lossAvg });
      if (this.loss.length > MAX_POINTS) this.loss = this.loss.filter((_, k, a) => k % 2 === 0 || k === a.length - 1);
    } else if (m.type === 'eval') this.error.push({ x: m.step, y: m.error });
    else if (m.type === 'head') this.row = m;
    else if (m.type === 'example') this.view.showExample(m);
    else if (m.type === 'done') this.state = 'done';
    else if (m.type === 'saved') {
      this.saves.get(m.id)?.resolve(m.bytes);
      this.saves.delete(m.id);
    } else if (m.type === 'error') return this.view.fail(this, m.message);
    this.view.changed(this, m.type);
  }

  send(msg) {
    this.worker?.postMessage(msg);
  }

  /** The model now, as .safetensors bytes (rejects if the run is reset or fails first). */
  save() {
    const id = Math.random();
    if (!this.worker) return Promise.reject(new Error('the run was stopped'));
    return new Promise((resolve, reject) => {
      this.saves.set(id, { resolve, reject });
      this.send({ op: 'save', id });
    });
  }

  stop() {
    this.worker?.terminate(); // its wasm memory goes with it
    this.worker = null;
    for (const p of this.saves.values()) p.reject(new Error('the run was stopped before its model was saved'));
    this.saves.clear();
  }
}

export class TrainView {
  /** root: the card's body; onInspect(bytes, name): open a trained model in the views above. */
  constructor(root, { onInspect, onError }) {
    this.root = root;
    this.onInspect = onInspect;
    this.onError = onError;
    this.runs = [];
    const st = parseTrainState(location.search);
    this.st = { train: 'counting1', tseed: 1, tlayer: 0, thead: 0, ...st };
    this.opened = !!st.train;
    this.build();
  }

  get preset() {
    return PRESETS[this.st.train];
  }

  build() {
    const r = this.root;
    r.textContent = '';
    const P = this.preset;
    this.presetSel = select(
      'Task and size',
      Object.entries(PRESETS).map(([k, p]) => [k, p.label]),
      this.st.train,
      (v) => this.set({ train: v, tsteps: undefined, tlr: undefined, tbase: undefined }),
      { id: 'train-preset' },
    );
    this.baseSel = select('Baseline', BASELINES, this.st.tbase ?? P.baseline, (v) => this.set({ tbase: v }), {
      id: 'train-baseline',
    });
    const num = (label, key, value, attrs) => {
      const wrap = el('label', { class: 'field' });
      const input = el('input', { type: 'number', value, id: `train-${key}`, ...attrs });
      input.addEventListener('change', () => {
        const v = Number(input.value);
        if (input.checkValidity() && input.value !== '') this.set({ [key]: v });
        else input.value = this.st[key] ?? value;
      });
      wrap.append(el('span', {}, label), input);
      return wrap;
    };
    this.go = button('Train', () => this.toggle(), { id: 'train-go', class: 'primary' });
    this.resetBtn = button('Reset', () => this.reset(), { id: 'train-reset' });
    r.append(
      el('p', { class: 'intro' }, P.about),
      el('div', { class: 'row' }),
      el('p', { class: 'caption', id: 'train-status', 'aria-live': 'polite' }),
    );
    r.children[1].append(
      this.presetSel.wrap,
      this.baseSel.wrap,
      num('Steps', 'tsteps', this.st.tsteps ?? P.steps, { min: 1, max: 100000, step: 1 }),
      num('Learning rate', 'tlr', this.st.tlr ?? P.lr, { min: 0.00001, max: 1, step: 'any' }),
      num('Seed', 'tseed', this.st.tseed, { min: 0, max: 2 ** 31, step: 1 }),
      this.go,
      this.resetBtn,
    );
    this.status = r.querySelector('#train-status');
    const fig = (id, title) => {
      const c = el('canvas', { id });
      const f = el('figure');
      f.append(el('figcaption', {}, title), el('div', { class: 'chart-holder' }));
      f.lastChild.appendChild(c);
      return { f, c };
    };
    const loss = fig('train-loss', 'Loss (moving average)'),
      err = fig('train-error', `Error on ${EVAL_N} fresh examples (%)`);
    this.lossChart = new CurveChart(loss.c);
    this.errorChart = new CurveChart(err.c);
    const curves = el('div', { class: 'row-charts' });
    curves.append(loss.f, err.f);
    this.cols = el('div', { class: 'row-charts train-runs' });
    this.headRow = el('div', { class: 'row' });
    this.layerSel = select('Layer', [[0, '0']], this.st.tlayer, (v) => this.set({ tlayer: Number(v) }), {
      id: 'train-layer',
    });
    this.headSel = select('Head', [[0, '0']], this.st.thead, (v) => this.set({ thead: Number(v) }), {
      id: 'train-head',
    });
    this.headRow.append(
      el('span', { class: 'caption' }, 'On one example, the query that answers:'),
      this.layerSel.wrap,
      this.headSel.wrap,
    );
    this.exampleLine = el('p', { class: 'caption train-example' });
    r.append(curves, this.headRow, this.exampleLine, this.cols);
    this.fillHeads();
    this.showStatus();
  }

  fillHeads() {
    const o = this.preset.options;
    setOptions(
      this.layerSel.select,
      Array.from({ length: o.layers }, (_, l) => [l, String(l)]),
      Math.min(this.st.tlayer, o.layers - 1),
    );
    setOptions(
      this.headSel.select,
      Array.from({ length: o.heads }, (_, h) => [h, String(h)]),
      Math.min(this.st.thead, o.heads - 1),
    );
  }

  /** The options both runs share. */
  options() {
    const P = this.preset;
    return { ...P.options, steps: this.st.tsteps ?? P.steps, lr: this.st.tlr ?? P.lr, seed: this.st.tseed };
  }

  set(patch) {
    const before = this.st.train;
    this.st = { ...this.st, ...patch };
    writeState(this.st, TRAIN_KEYS);
    if (patch.train !== undefined && patch.train !== before) {
      this.reset();
      this.build();
      return;
    }
    if ('tlayer' in patch || 'thead' in patch) {
      const layer = Number(this.layerSel.select.value),
        head = Number(this.headSel.select.value);
      for (const r of this.runs) r.send({ op: 'head', layer, head });
      return;
    }
    if (this.runs.length) this.reset(); // a new setting is a new run
  }

  /** Train, pause or resume. */
  toggle() {
    if (!this.runs.length) return this.start();
    this.paused = !this.paused;
    for (const r of this.runs) r.send({ op: this.paused ? 'pause' : 'resume' });
    this.showStatus();
  }

  /** The fixed example (both workers draw it from the same seed), its query the answer's. */
  showExample(ex) {
    this.exampleShown = ex;
    const shown = ex.pieces.slice(0, ex.query + 1).map(showPiece);
    this.exampleLine.textContent = `The example (${shown.length} tokens${shown.length > 40 ? ', the last 40 shown' : ''}): ${shown.slice(-40).join(' ')} → ${showPiece(ex.pieces[ex.query + 1])}`;
  }

  start() {
    const o = this.options();
    writeState(this.st, TRAIN_KEYS);
    const base = this.baseSel.select.value;
    this.runs = [new Run('cope', 'accent', this), new Run(base, 'accent2', this)];
    this.paused = false;
    const layer = Number(this.layerSel.select.value),
      head = Number(this.headSel.select.value);
    this.cols.textContent = '';
    for (const run of this.runs) {
      run.col = this.column(run);
      this.cols.appendChild(run.col.box);
      run.start(o, layer, head);
    }
    this.t0 = performance.now();
    this.showStatus();
  }

  column(run) {
    const box = el('div', { class: 'train-run', 'data-pe': run.pe });
    const title = el('h3', {}, peName(run.pe));
    const line = el('p', { class: 'caption train-line' });
    const dl = button('Download', () => this.download(run), { class: 'train-download', disabled: true });
    const insp = button('Inspect', () => this.inspect(run), { class: 'train-inspect', disabled: true });
    const chart = () => {
      const c = el('canvas'),
        holder = el('div', { class: 'chart-holder' });
      holder.appendChild(c);
      box.appendChild(holder);
      return new RowChart(c);
    };
    const row = el('div', { class: 'row' });
    row.append(dl, insp);
    box.append(title, line, row);
    return { box, line, dl, insp, chart: chart(), positions: run.pe === 'cope' ? chart() : null };
  }

  async download(run) {
    const bytes = await run.save().catch((err) => this.onError('Could not download the model', err));
    if (!bytes) return;
    const a = el('a', { href: URL.createObjectURL(new Blob([bytes])), download: this.fileName(run) });
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }

  fileName(run) {
    return `${this.st.train}-${run.pe}-trained-step${run.step}.safetensors`;
  }

  async inspect(run) {
    const bytes = await run.save().catch((err) => this.onError('Could not inspect the model', err));
    if (!bytes) return;
    this.onInspect(bytes.buffer, this.fileName(run));
  }

  reset() {
    for (const r of this.runs) r.stop();
    this.runs = [];
    this.paused = false;
    this.cols.textContent = '';
    this.exampleLine.textContent = '';
    this.lossChart.update(theme(this.root), { datasets: [], yTitle: 'loss', yMin: 0 });
    this.errorChart.update(theme(this.root), { datasets: [], yTitle: 'error %', yMin: 0, yMax: 100 });
    this.showStatus();
  }

  fail(run, message) {
    run.stop();
    run.state = 'failed';
    this.onError(`Training ${run.pe} failed`, new Error(message));
    this.showStatus();
  }

  changed(run, type) {
    if (type === 'progress' || type === 'eval' || type === 'done') this.schedule();
    if (type === 'head') this.drawRow(run);
    if (type === 'ready' || type === 'done') this.showStatus();
    this.showLine(run);
  }

  /** Curves are redrawn at most every REDRAW_MS, in an animation frame, whatever the workers send
   * (while two workers hold both cores, the page's own work must stay small). */
  schedule() {
    if (this.pending) return;
    const wait = Math.max(0, REDRAW_MS - (performance.now() - (this.drawn || 0)));
    this.pending = setTimeout(() => requestAnimationFrame(() => this.drawCurves()), wait);
  }

  drawCurves() {
    this.pending = 0;
    this.drawn = performance.now();
    const th = theme(this.root);
    const label = (r) => peName(r.pe);
    this.lossChart.update(th, {
      datasets: this.runs.map((r) => ({ label: label(r), data: r.loss, color: r.colour })),
      yTitle: 'loss',
      yMin: 0,
    });
    this.errorChart.update(th, {
      datasets: this.runs.map((r) => ({ label: label(r), data: r.error, color: r.colour })),
      yTitle: 'error %',
      yMin: 0,
      yMax: 100,
    });
    this.showStatus();
  }

  showLine(run) {
    if (!run.col) return;
    const err = run.error.at(-1);
    const eta =
      run.step && run.steps > run.step
        ? ` · ETA ${Math.ceil(((run.steps - run.step) * run.seconds) / run.step)} s`
        : '';
    run.col.line.textContent =
      run.state === 'starting'
        ? 'starting…'
        : `step ${run.step}/${run.steps ?? '?'} · ${Math.round(run.tps || 0).toLocaleString('en')} tokens/s${eta}` +
          (err ? ` · error ${err.y.toFixed(1)} % at step ${err.x}` : '') +
          (run.state === 'done' ? ' · done' : run.state === 'failed' ? ' · failed' : '');
    const ready = run.state === 'training' || run.state === 'done';
    run.col.dl.disabled = run.col.insp.disabled = !ready;
  }

  drawRow(run) {
    const m = run.row,
      ex = this.exampleShown;
    if (!m || !run.col) return;
    const n = m.attn.length,
      lo = Math.max(0, n - 48);
    const pts = (a) => Array.from(a.slice(lo), (y, k) => ({ x: lo + k, y }));
    const datasets =
      run.pe === 'cope'
        ? [
            { label: 'gate g', data: pts(m.gates), kind: 'bar', color: 'accent' },
            { label: 'attention', data: pts(m.attn), kind: 'line', color: 'accent2' },
          ]
        : [{ label: 'attention', data: pts(m.attn), kind: 'line', color: 'accent2' }];
    run.col.chart.update(theme(this.root), {
      datasets,
      yTitle: `layer ${m.layer} head ${m.head}, step ${m.step}`,
      yMin: 0,
      yMax: 1,
      xMin: lo,
      xMax: n - 1,
      query: n - 1,
      pieceOf: (j) => ex?.pieces[j],
    });
    const npos = this.preset.options.npos;
    run.col.positions?.update(theme(this.root), {
      datasets: [
        {
          label: 'position p (gates summed from the key to the query)',
          data: pts(m.positions),
          kind: 'line',
          color: 'accent',
        },
      ],
      yTitle: 'position p',
      yMin: 0,
      yMax: Math.max(1, Math.ceil(Math.max(...m.positions.slice(lo)))),
      xMin: lo,
      xMax: n - 1,
      query: n - 1,
      clampAt: npos - 1,
      clampLabel: `npos − 1 = ${npos - 1}`,
      pieceOf: (j) => ex?.pieces[j],
    });
  }

  showStatus() {
    if (!this.status) return;
    const running = this.runs.some((r) => r.state === 'training' || r.state === 'starting');
    this.go.textContent = !this.runs.length ? 'Train' : this.paused ? 'Resume' : running ? 'Pause' : 'Train';
    this.go.disabled = this.runs.length > 0 && !running && !this.paused;
    const o = this.options();
    this.status.textContent = this.runs.length
      ? `${this.paused ? 'Paused' : running ? 'Training' : 'Finished'}: ${o.layers} layers, width ${o.dim}, ${o.heads} heads, ${o.steps} steps of ${o.batch} examples, lr ${o.lr}, seed ${o.seed}; ${((performance.now() - this.t0) / 1000).toFixed(0)} s since the start.`
      : `Two models of ${o.layers} layers, width ${o.dim} and ${o.heads} heads train on ${o.task}, one with CoPE and one with the baseline, each in its own worker.`;
  }
}
