// worker.js — the Web Worker that owns the wasm models, so the page never freezes while a model
// loads or a long input is traced. Bundled with the wasm module without its .wasm files: the first
// load says where they are (wasmBase) and the worker fetches the one variant the browser supports
// (SIMD128 or scalar); see client.js for the message protocol.
import { CopeModel, setWasmLocation } from 'cope-wasm';

// A key is one Model of the page (model.js); keys that load the same URL share one wasm instance
// (a blog page with 20 widgets of five models holds five instances, not twenty). An instance keeps
// one trace at a time, so each key remembers its input and is traced again when another key's
// trace has replaced its own.
const models = new Map(); // key -> { file, ids, force, gen, trace }
const files = new Map(); // URL (or a key, for bytes) -> { name, ready: Promise<CopeModel>, model, users, listeners: Set<id>, owner }

function post(msg, transfer = []) {
  self.postMessage(msg, transfer);
}

/** Fetches a URL, reporting progress (bytes) to every request in listeners (those waiting for it). */
async function fetchBytes(url, listeners) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`cannot fetch ${url}: HTTP ${r.status} ${r.statusText}`.trim());
  const total = Number(r.headers.get('content-length')) || 0;
  if (!r.body || !total) return new Uint8Array(await r.arrayBuffer());
  const out = new Uint8Array(total);
  const reader = r.body.getReader();
  let got = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (got + value.length > total) throw new Error(`${url}: more bytes than its Content-Length`);
    out.set(value, got);
    got += value.length;
    for (const id of listeners) post({ id, progress: got / total });
  }
  return out.subarray(0, got);
}

/** argmax and its probability of every row of logits [T, V]. */
function predictions(logits, T, V) {
  const pred = new Int32Array(T),
    prob = new Float32Array(T);
  for (let t = 0; t < T; t++) {
    const row = logits.subarray(t * V, (t + 1) * V);
    let best = 0;
    for (let v = 1; v < V; v++) if (row[v] > row[best]) best = v;
    let z = 0;
    for (let v = 0; v < V; v++) z += Math.exp(row[v] - row[best]);
    pred[t] = best;
    prob[t] = 1 / z;
  }
  return { pred, prob };
}

/**
 * A T x T map shrunk to at most size x size by block averages (thumbnails of a whole head).
 * Rows are queries, columns keys; cells above the diagonal stay NaN so they draw as background.
 */
function shrink(a, T, size) {
  const n = Math.min(T, size),
    out = new Float32Array(n * n).fill(NaN);
  for (let r = 0; r < n; r++) {
    const i0 = Math.floor((r * T) / n),
      i1 = Math.floor(((r + 1) * T) / n);
    for (let c = 0; c <= r; c++) {
      const j0 = Math.floor((c * T) / n),
        j1 = Math.floor(((c + 1) * T) / n);
      let s = 0,
        k = 0;
      for (let i = i0; i < i1; i++)
        for (let j = j0; j < Math.min(j1, i + 1); j++) {
          s += a[i * T + j];
          k++;
        }
      if (k) out[r * n + c] = s / k;
    }
  }
  return { n, data: out };
}

/** The instance of url (loading it once for every key that asks): a file entry with one more user. */
async function open(name, load, id) {
  let f = files.get(name);
  if (!f) {
    f = { name, users: 0, listeners: new Set(), owner: null };
    f.ready = load(f.listeners).then((model) => (f.model = model));
    f.ready.catch(() => files.get(name) === f && files.delete(name)); // a failed load is tried again next time
    files.set(name, f);
  }
  f.users++;
  f.listeners.add(id);
  try {
    await f.ready;
    return f;
  } catch (err) {
    f.users--;
    throw err;
  } finally {
    f.listeners.delete(id);
  }
}

/** key lets go of its instance; the last user frees it. */
function release(key) {
  const m = models.get(key);
  if (!m) return;
  models.delete(key);
  const f = m.file;
  if (f.owner === m) f.owner = null;
  if (--f.users === 0) {
    f.model.free();
    files.delete(f.name);
  }
}

const ops = {
  async load({ key, url, bytes, wasmBase }, id) {
    if (wasmBase) setWasmLocation(wasmBase);
    const f = bytes
      ? await open(`bytes:${key}:${id}`, async () => CopeModel.load(new Uint8Array(bytes)), id)
      : await open(`url:${url}`, async (listeners) => CopeModel.load(await fetchBytes(url, listeners)), id);
    release(key);
    models.set(key, { file: f, ids: null, force: [], gen: 0, trace: null });
    const model = f.model;
    return { config: model.config, vocab: model.vocab, tasks: model.tasks, simd: model.simd, maxTrace: model.maxTrace };
  },
  unload({ key }) {
    release(key);
    return true;
  },
  /** What the worker holds (for tests and the curious): keys, instances, their wasm memory. */
  stats() {
    const live = [...new Set(files.values())].filter((f) => f.model);
    return {
      keys: models.size,
      instances: live.length,
      wasmBytes: live.reduce((s, f) => s + f.model.memoryBytes, 0),
    };
  },
  tokenize({ key, text }) {
    const r = get(key).file.model.tokenize(text);
    return { ids: r.ids, spans: r.spans, unknown: r.unknown, unknownPieces: r.unknownPieces };
  },
  sample({ key, task, seed, split }) {
    const s = get(key).file.model.sample(task, seed, split);
    return { ids: s.ids, pieces: s.pieces, scored: s.scored, seed: String(s.seed), split: s.split };
  },
  /** Traces ids (with the gate interventions `force`: [{ layer, head, key, value }]) and keeps the trace;
   * returns what the page shows of the whole input. */
  run({ key, ids, force = [] }) {
    const m = get(key);
    m.ids = ids;
    m.force = force;
    m.gen++;
    const { T, logits } = retrace(m);
    return { T, gen: m.gen, ...predictions(logits, T, m.file.model.config.vocab_size) };
  },
  /** The six [T*T] arrays of one head of the last trace (copied out of wasm memory, moved to the page). */
  head({ key, gen, layer, head }) {
    return traced(key, gen).head(layer, head);
  },
  /** One array of every head, shrunk to at most size x size: thumbnails for the head picker. */
  thumbs({ key, gen, name, size }) {
    const tr = traced(key, gen);
    return tr.layers.map((L) => L[name].map((a) => shrink(a, tr.T, size)));
  },
};

function get(key) {
  const m = models.get(key);
  if (!m) throw new Error(`no model "${key}" is loaded`);
  return m;
}
/** Traces key's input on its instance; that instance's trace is key's from now on (a trace that
 * fails leaves no key with one). */
function retrace(m) {
  if (m.file.owner) m.file.owner.trace = null; // its arrays are gone; so go the copies it cached
  m.file.owner = null;
  m.trace = m.file.model.trace(m.ids, { forceGates: m.force });
  m.file.owner = m;
  return m.trace;
}
/** The trace of key's last input, which must be the one numbered gen (a newer run replaces it),
 * traced again if another key of the same instance traced since. */
function traced(key, gen) {
  const m = get(key);
  if (!m.ids) throw new Error('nothing has been traced yet');
  if (gen !== m.gen) throw new Error('this input was replaced by a newer one');
  return m.trace || retrace(m);
}

/** Typed arrays in a result, so they move to the page instead of being copied. */
function transferables(x, out = []) {
  if (ArrayBuffer.isView(x)) {
    if (!out.includes(x.buffer)) out.push(x.buffer);
  } else if (x && typeof x === 'object') for (const v of Object.values(x)) transferables(v, out);
  return out;
}

self.onmessage = async (e) => {
  const { id, op, args } = e.data;
  try {
    if (!ops[op]) throw new Error(`unknown operation ${op}`);
    const result = await ops[op](args, id);
    post({ id, ok: true, result }, transferables(result));
  } catch (err) {
    post({ id, ok: false, error: { name: err.name, message: err.message, status: err.status || '' } });
  }
};
