// train-worker.js — one training run of the Train view (train-view.js), in its own Web Worker so
// that the page stays responsive and two runs (CoPE and a baseline) use two cores. It drives the
// core's trainer (CopeTrainer, the one `cope train` runs) in slices of about 100 ms and reports
// after each; between slices it reads the page's messages (pause, resume, the head to show, save).
// Stopping is terminating the worker: its wasm memory goes with it.
//
// Page -> worker: { op: 'start', options, wasmBase, exampleSeed, evalEvery, evalN,
//                   layer, head }
//                 { op: 'pause' } { op: 'resume' } { op: 'head', layer, head } { op: 'save', id }
// Worker -> page: { type: 'ready', nParams, options }  { type: 'example', ids, pieces, query }  { type: 'progress', step, steps, loss, lossAvg,
//                   tokensPerSecond, seconds }  { type: 'eval', step, error }  { type: 'head', step,
//                   layer, head, gates, positions, attn }  { type: 'done' }  { type: 'saved', id, bytes }
//                 { type: 'error', message }
import { CopeTrainer, setWasmLocation } from 'cope-wasm';

const SLICE_MS = 100; // a slice of steps; the page hears from the run at least this often
const HEAD_MS = 1000; // the head's rows are traced again at most this often

let run = null; // { t, options, example, evalEvery, evalN, layer, head, paused, lastEval, lastHead }
// what the page asked for before the trainer was made (pause, the head to show): applied at start
const early = { paused: false, layer: undefined, head: undefined };

function post(msg, transfer = []) {
  self.postMessage(msg, transfer);
}

/** The chosen head's rows at the example's query, from a snapshot of the weights now. */
function headRows() {
  const { t, example, layer, head } = run;
  const m = t.snapshot();
  try {
    const tr = m.trace(example.ids.slice(0, example.query + 1));
    const a = tr.head(layer, head),
      T = tr.T,
      q = example.query;
    const row = (x) => x.slice(q * T, q * T + q + 1);
    post({
      type: 'head',
      step: t.stats.step,
      layer,
      head,
      gates: row(a.gates),
      positions: row(a.positions),
      attn: row(a.attn),
    });
  } finally {
    m.free();
  }
  run.lastHead = performance.now();
}

function evaluate() {
  const error = run.t.evaluate('train', run.evalN); // the seed of cope train's own evaluation
  post({ type: 'eval', step: run.t.stats.step, error });
  run.lastEval = run.t.stats.step;
}

/** The fixed example of the task (drawn from exampleSeed), its query the one before the last scored token. */
function sample(t, m) {
  const model = t.snapshot();
  try {
    const s = model.sample(m.options.task, m.exampleSeed);
    const last = s.scored.lastIndexOf(1);
    return { ids: Array.from(s.ids), pieces: s.pieces, query: Math.max(0, last - 1) };
  } finally {
    model.free();
  }
}

async function loop() {
  if (run.looping) return; // a resume while the last slice is still running
  run.looping = true;
  try {
    await slices();
  } finally {
    if (run) run.looping = false;
  }
}

async function slices() {
  const steps = run.options.steps;
  while (run && !run.paused && run.t.stats.step < steps) {
    const t0 = performance.now();
    let r;
    do r = run.t.train(1);
    while (performance.now() - t0 < SLICE_MS && r.step < steps);
    const s = run.t.stats;
    post({
      type: 'progress',
      step: s.step,
      steps,
      loss: s.loss,
      lossAvg: s.lossAvg,
      tokensPerSecond: s.tokens / run.t.seconds,
      seconds: run.t.seconds,
    });
    if (s.step - run.lastEval >= run.evalEvery || s.step === steps) evaluate();
    if (performance.now() - run.lastHead >= HEAD_MS || s.step === steps) headRows();
    await new Promise((resolve) => setTimeout(resolve, 0)); // let the page's messages in
  }
  if (run && run.t.stats.step >= steps) post({ type: 'done' });
}

const ops = {
  async start(m) {
    if (m.wasmBase) setWasmLocation(m.wasmBase);
    const t = await CopeTrainer.create(m.options);
    run = { ...m, t, paused: early.paused, looping: false, lastEval: 0, lastHead: -Infinity, example: sample(t, m) };
    if (early.layer !== undefined) Object.assign(run, { layer: early.layer, head: early.head });
    post({ type: 'ready', nParams: t.nParams, options: t.options });
    post({ type: 'example', ...run.example });
    evaluate(); // the error before training: the curve's first point
    headRows();
    await loop();
  },
  async pause() {
    if (run) run.paused = true;
    else early.paused = true;
  },
  async resume() {
    if (!run) early.paused = false;
    if (!run || !run.paused) return;
    run.paused = false;
    await loop();
  },
  async head(m) {
    if (!run) return Object.assign(early, { layer: m.layer, head: m.head });
    run.layer = m.layer;
    run.head = m.head;
    headRows();
  },
  async save(m) {
    if (!run) throw new Error('nothing is being trained');
    const bytes = run.t.save();
    post({ type: 'saved', id: m.id, bytes }, [bytes.buffer]);
  },
};

self.onmessage = (e) => {
  const m = e.data;
  const f = ops[m?.op];
  if (!f) return post({ type: 'error', message: `unknown operation ${String(m?.op)}` });
  f(m).catch((err) => post({ type: 'error', message: err.message, status: err.status || '' }));
};
