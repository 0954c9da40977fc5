// cope.mjs — the CoPE core in WebAssembly as an ES module, for Node 20, browsers and Web Workers.
// No Emscripten glue: the .wasm is a standalone reactor (wasm/api.c) that this file instantiates
// itself; a SIMD build is used where WebAssembly.validate accepts SIMD, the scalar build elsewhere.
//
//   import { CopeModel } from './cope.mjs';
//   const model = await CopeModel.load(bytesOrUrl);       // ArrayBuffer, typed array, URL or path
//   const { ids } = model.tokenize('a b . a ?');
//   const tr = model.trace(ids);                           // tr.layers[l].attn[h][i * T + j]
//   model.traceArrays                                      // the array names, from the core
//   const st = model.step(ids[0]);                         // st.logits, st.layers[l].gates[h][j]
//   model.free();
//
// Every model owns its own wasm instance (so free() returns all of its memory to the JS heap);
// the compiled module is shared. Results are copies and survive later calls.

// The single-file build (build/wasm/cope.single.mjs) replaces the next line with the two .wasm
// files in base64; this file then needs nothing else.
const EMBEDDED = null;

const CONFIG_KEYS = [
  'vocab_size',
  'n_ctx',
  'n_layer',
  'n_head',
  'd_model',
  'd_ff',
  'pe',
  'npos',
  'sep_keys',
  'per_head_table',
  'rel_max',
  'tied',
  'tokenizer',
];

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** An error from the core: message as the core wrote it, code = cope_status, status = its name
 * in words (cope_strerror). Errors that are not the core's (a fetch, a wasm fault) have code 0. */
export class CopeError extends Error {
  constructor(message, code = 0, status = '') {
    super(message);
    this.name = 'CopeError';
    this.code = code;
    this.status = status;
  }
}

// The core's status table, { name: [code, words] } (cope_status_name, cope_strerror), read from the
// first instance; every build has the same table.
let statuses = null;

/** A CopeError of the core status with short name `name` ('arg', 'token', 'nomem', ...). */
function coreError(name, message) {
  const [code, words] = statuses?.[name] ?? [0, name];
  return new CopeError(message, code, words);
}

// ---------------------------------------------------------------------------------------------
// Loading bytes and the wasm module

/** True when this engine runs wasm SIMD (a function returning i8x16.popcnt of a splat validates). */
export function simdSupported() {
  return WebAssembly.validate(
    new Uint8Array([
      0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
    ]),
  );
}

function base64Bytes(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Bytes of an ArrayBuffer, typed array, Response, URL or (in Node) file path or file: URL. */
async function readBytes(src) {
  if (src instanceof ArrayBuffer) return new Uint8Array(src);
  if (ArrayBuffer.isView(src)) return new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
  if (typeof Response !== 'undefined' && src instanceof Response) return new Uint8Array(await src.arrayBuffer());
  if (typeof src === 'string' || src instanceof URL) {
    const s = String(src);
    if (isNode && (s.startsWith('file:') || !/^[a-z][a-z0-9+.-]*:/i.test(s))) {
      const { readFile } = await import('node:fs/promises');
      return new Uint8Array(await readFile(s.startsWith('file:') ? new URL(s) : s));
    }
    const r = await fetch(s);
    if (!r.ok) throw new CopeError(`cannot fetch ${s}: HTTP ${r.status}`);
    return new Uint8Array(await r.arrayBuffer());
  }
  throw new TypeError('expected an ArrayBuffer, a typed array, a Response, a URL or a path');
}

const compiled = new Map(); // 'simd' | 'scalar' -> Promise<WebAssembly.Module>
let wasmBase = null; // the folder of the .wasm files, when not beside this module

/**
 * Where the .wasm files are: the URL of their folder (absolute), for a bundle of this module
 * (which has no import.meta.url of its own, e.g. inside a worker started from a blob). Only the
 * variant the engine supports is fetched, when the first model loads.
 */
export function setWasmLocation(url) {
  wasmBase = String(url);
}

/** The compiled module: the viewer build (cope-simd.wasm / cope-scalar.wasm), or with train the
 * one with the training exports (cope-train-*.wasm), which only CopeTrainer loads. */
function wasmModule(simd, train = false) {
  const key = `${train ? 'train-' : ''}${simd ? 'simd' : 'scalar'}`;
  if (!compiled.has(key)) {
    const p = (async () => {
      if (EMBEDDED && !EMBEDDED[key])
        throw new CopeError(
          'the single-file module holds the viewer only: CopeTrainer needs cope.mjs and its .wasm files',
        );
      const bytes = EMBEDDED
        ? base64Bytes(EMBEDDED[key])
        : await readBytes(new URL(`cope-${key}.wasm`, wasmBase ?? import.meta.url));
      return WebAssembly.compile(bytes);
    })();
    p.catch(() => compiled.delete(key)); // a failed fetch may be retried
    compiled.set(key, p);
  }
  return compiled.get(key);
}

// ---------------------------------------------------------------------------------------------
// One wasm instance: heap access and strings

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { ignoreBOM: true }); // a U+FEFF in a text is a character, not a BOM

class Runtime {
  constructor(instance) {
    this.x = instance.exports;
    const x = this.x;
    if (x.__set_stack_limits) {
      // the checked build's stack-overflow checks need the limits
      x.emscripten_stack_init();
      x.__set_stack_limits(x.emscripten_stack_get_base(), x.emscripten_stack_get_end());
    }
    x._initialize();
    this.err = this.x.cope_wasm_error_new();
    if (!statuses) {
      statuses = {};
      for (let c = 0; c < x.cope_wasm_status_count(); c++)
        statuses[this.str(x.cope_wasm_status_name(c))] = [c, this.str(x.cope_wasm_strerror(c))];
    }
    /** the trace arrays' names, in the core's order (cope_trace_array) */
    this.traceArrays = Object.freeze(
      Array.from({ length: x.cope_wasm_trace_count() }, (_, k) => this.str(x.cope_wasm_trace_name(k))),
    );
  }
  // Views are made from the current buffer on every access: any call may have grown memory.
  // Pointers come back from wasm as signed i32: past 2 GiB of memory they read negative, so every
  // view takes ptr >>> 0 (its unsigned value; sums of a pointer and an offset wrap the same way).
  get u8() {
    return new Uint8Array(this.x.memory.buffer);
  }
  i32(ptr, n) {
    return new Int32Array(this.x.memory.buffer, ptr >>> 0, n);
  }
  f32(ptr, n) {
    return new Float32Array(this.x.memory.buffer, ptr >>> 0, n);
  }
  f64(ptr, n) {
    return new Float64Array(this.x.memory.buffer, ptr >>> 0, n);
  }
  malloc(n) {
    const p = this.x.cope_wasm_malloc(n) >>> 0;
    if (!p) throw coreError('nomem', `out of memory (${n} bytes)`);
    return p;
  }
  str(ptr) {
    // NUL-terminated UTF-8 at ptr, or null
    if (!ptr) return null;
    ptr >>>= 0;
    const u8 = this.u8;
    let end = ptr;
    while (u8[end]) end++;
    return dec.decode(u8.subarray(ptr, end));
  }
  cstr(s) {
    // malloc'd NUL-terminated copy of s; the caller frees it
    const b = enc.encode(s);
    const p = this.malloc(b.length + 1);
    this.u8.set(b, p);
    this.u8[p + b.length] = 0;
    return p;
  }
  /** f(pointer to a NUL-terminated copy of s), the copy freed afterwards */
  withString(s, f) {
    const p = this.cstr(s);
    try {
      return f(p);
    } finally {
      this.x.cope_wasm_free(p);
    }
  }
  ints(arr) {
    // malloc'd int32 copy
    const p = this.malloc(Math.max(1, arr.length) * 4);
    this.i32(p, arr.length).set(arr);
    return p;
  }
  tasks() {
    const x = this.x;
    return Array.from({ length: x.cope_wasm_task_count() }, (_, i) => ({
      name: this.str(x.cope_wasm_task_name(i)),
      description: this.str(x.cope_wasm_task_description(i)),
      splits: Array.from({ length: x.cope_wasm_task_split_count(i) }, (_, k) =>
        this.str(x.cope_wasm_task_split_name(i, k)),
      ),
    }));
  }
  /** index of the task named name, or a CopeError naming the tasks there are */
  taskIndex(name) {
    const names = this.tasks().map((t) => t.name);
    const i = names.indexOf(name);
    if (i < 0) throw coreError('arg', `unknown task "${String(name).slice(0, 64)}" (tasks: ${names.join(', ')})`);
    return i;
  }
  fail() {
    const code = this.x.cope_wasm_error_code(this.err);
    return new CopeError(
      this.str(this.x.cope_wasm_error_msg(this.err)),
      code,
      this.str(this.x.cope_wasm_strerror(code)),
    );
  }
}

async function instantiate(simd, train = false) {
  const mod = await wasmModule(simd, train);
  const fault = (what) => () => {
    throw new CopeError(`wasm memory check failed: ${what}`, 0, 'fault');
  };
  const instance = await WebAssembly.instantiate(mod, {
    env: {
      emscripten_notify_memory_growth() {}, // views are re-read anyway
      // imported only by the checked build (-sSAFE_HEAP=1 -sASSERTIONS=2, `make wasm-check`)
      segfault: fault('out-of-bounds access (SAFE_HEAP)'),
      alignfault: fault('misaligned access (SAFE_HEAP)'),
    },
    wasi_snapshot_preview1: {
      // the checked build's assertion messages and abort
      fd_write: () => 0,
      fd_close: () => 0,
      fd_seek: () => 0,
      proc_exit: (code) => {
        throw new CopeError(`wasm aborted (exit ${code}): an assertion failed`, 0, 'fault');
      },
    },
  });
  return new Runtime(instance);
}

/** Gate interventions as the core's list syntax ("LAYER:HEAD:KEY=VALUE,..."): a string is passed
 * on (the core checks it); an array of { layer, head, key, value } is written out. */
export function gateList(f) {
  if (typeof f === 'string') return f;
  if (!Array.isArray(f))
    throw coreError('arg', 'forceGates must be a string or an array of { layer, head, key, value }');
  return f
    .map((g, k) => {
      const int = (v) => Number.isInteger(v) && v >= 0 && v < 1e9;
      const all = g?.head === -1 || g?.head === '*';
      if (
        !g ||
        !int(g.layer) ||
        !int(g.key) ||
        !(all || int(g.head)) ||
        typeof g.value !== 'number' ||
        !(g.value >= 0 && g.value <= 1)
      )
        throw coreError(
          'arg',
          `forceGates[${k}]: expected { layer, head, key, value } with integers and a value in 0..1`,
        );
      const v = g.value === 0 || g.value === 1 ? String(g.value) : g.value.toFixed(6).replace(/0+$/, '');
      return `${g.layer}:${all ? '*' : g.head}:${g.key}=${v}`;
    })
    .join(',');
}

/** seed as a BigInt in 0..2^64-1, or a CopeError */
function seed64(seed) {
  let s;
  try {
    s = BigInt(seed);
  } catch {
    s = -1n;
  }
  if (s < 0n || s >= 1n << 64n)
    throw coreError('arg', `seed ${String(seed).slice(0, 64)} is not an integer in 0..2^64-1`);
  return s;
}

function checkIds(ids, what = 'ids') {
  const a = Array.from(ids);
  for (let i = 0; i < a.length; i++)
    if (!Number.isInteger(a[i])) throw coreError('arg', `${what}[${i}] = ${a[i]} is not an integer`);
  return a;
}

// ---------------------------------------------------------------------------------------------
// The model

export class CopeModel {
  /**
   * Loads a model (safetensors bytes, or a URL/path to fetch them from).
   * options.simd: true/false forces the SIMD or scalar build (default: feature detection).
   */
  static async load(source, options = {}) {
    const simd = options.simd ?? simdSupported();
    const [bytes, rt] = await Promise.all([readBytes(source), instantiate(simd)]);
    const buf = rt.malloc(bytes.length);
    rt.u8.set(bytes, buf);
    const ctx = rt.x.cope_wasm_load(buf, bytes.length, rt.err);
    rt.x.cope_wasm_free(buf);
    if (!ctx) throw rt.fail(); // the instance is dropped with this model
    return new CopeModel(rt, ctx, simd);
  }

  constructor(rt, ctx, simd) {
    this._rt = rt;
    this._ctx = ctx;
    /** true when this model runs the SIMD build */
    this.simd = simd;
    const x = rt.x;
    const p = rt.malloc(4 * CONFIG_KEYS.length);
    const n = x.cope_wasm_config(ctx, p);
    const v = Array.from(rt.i32(p, n));
    x.cope_wasm_free(p);
    const c = {};
    CONFIG_KEYS.forEach((k, i) => {
      c[k] = v[i];
    });
    c.pe = rt.str(x.cope_wasm_pe_name(c.pe));
    c.sep_keys = !!c.sep_keys;
    c.per_head_table = !!c.per_head_table;
    c.tied = !!c.tied;
    c.tokenizer = ['words', 'chars', 'text'][c.tokenizer] ?? 'words';
    c.n_params = x.cope_wasm_num_params(ctx);
    c.provenance = JSON.parse(rt.str(x.cope_wasm_provenance(ctx)));
    /** the config, as in the file's cope_config, plus n_params */
    this.config = Object.freeze(c);
    /** vocabulary pieces, index = token id */
    this.vocab = Object.freeze(Array.from({ length: c.vocab_size }, (_, i) => rt.str(x.cope_wasm_piece(ctx, i))));
    /** the longest input trace() takes: n_ctx, or less for a model whose trace (6 arrays of T x T
     * floats per head) would pass the module's 2 GB budget; step() has no such limit */
    this.maxTrace = x.cope_wasm_trace_max(ctx);
    this.unkId = this.vocab.indexOf('<unk>');
    /** names of the per-layer arrays of trace() and step(), from the core (cope_trace_name) */
    this.traceArrays = rt.traceArrays;
  }

  get _x() {
    if (!this._ctx) throw coreError('arg', 'the model was freed');
    return this._rt.x;
  }

  /** Bytes of wasm memory this model's instance holds (it never shrinks). */
  get memoryBytes() {
    return this._x.memory.buffer.byteLength;
  }

  /** The tasks compiled into the core: [{ name, description, splits }]. */
  get tasks() {
    return this._x && this._rt.tasks();
  }

  /**
   * Tokenizes text. Returns { ids: Int32Array, spans: [[start, end], ...] (indices into text),
   * byteSpans: Int32Array of (offset, length) pairs in UTF-8, unknown: count of pieces not in the
   * vocabulary, unknownPieces: those pieces of text }.
   */
  tokenize(text) {
    const x = this._x,
      rt = this._rt;
    const bytes = enc.encode(String(text));
    const max = Math.max(1, bytes.length);
    const tp = rt.malloc(max),
      ip = rt.malloc(4 * max),
      sp = rt.malloc(8 * max),
      cp = rt.malloc(8);
    try {
      rt.u8.set(bytes, tp);
      if (x.cope_wasm_tokenize(this._ctx, tp, bytes.length, ip, sp, max, cp, rt.err)) throw rt.fail();
      const [n, unknown] = rt.i32(cp, 2);
      const ids = rt.i32(ip, n).slice(),
        byteSpans = rt.i32(sp, 2 * n).slice();
      // UTF-8 byte offsets -> string indices: the UTF-16 units of the bytes before each offset,
      // counted from the previous token on (tokens come in order and start on characters), so a
      // long text costs its length, not its length squared
      const spans = [];
      let at = 0,
        units = 0;
      for (let i = 0; i < n; i++) {
        const b = byteSpans[2 * i],
          e = b + byteSpans[2 * i + 1];
        units += dec.decode(bytes.subarray(at, b)).length;
        const len = dec.decode(bytes.subarray(b, e)).length;
        spans.push([units, units + len]);
        units += len;
        at = e;
      }
      const unknownPieces = [];
      if (unknown)
        for (let i = 0; i < n; i++) {
          const piece = dec.decode(bytes.subarray(byteSpans[2 * i], byteSpans[2 * i] + byteSpans[2 * i + 1]));
          if (ids[i] === this.unkId && piece !== '<unk>') unknownPieces.push(piece);
        }
      return { ids, spans, byteSpans, unknown, unknownPieces };
    } finally {
      for (const p of [tp, ip, sp, cp]) x.cope_wasm_free(p);
    }
  }

  /** Vocabulary piece of a token id. */
  piece(id) {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocab.length)
      throw coreError('token', `token id ${id} is outside the vocabulary 0..${this.vocab.length - 1}`);
    return this.vocab[id];
  }

  /** Text of token ids: pieces joined by spaces (words, text tokenizers) or directly (chars). */
  detokenize(ids) {
    return Array.from(ids, (id) => this.piece(id)).join(this.config.tokenizer === 'chars' ? '' : ' ');
  }

  /**
   * Full forward of ids (at most n_ctx of them). options.forceGates: gate interventions, as
   * `cope trace --force-gate` writes them ("0:*:6=0,1:2:9=1": LAYER:HEAD:KEY=VALUE, HEAD * for
   * every head) or as [{ layer, head (-1 or '*': every head), key, value }]: the gate of that key
   * is set to value for every query, before the positions are summed. Returns { T, ids, logits: Float32Array [T*V],
   * head(l, h), layers }. The arrays stay in wasm memory until asked for: head(l, h) copies one
   * head's { gates, positions, content_logits, cope_logits, attn, pos_attn }, each Float32Array
   * [T*T] (row = query i, column = key j); layers[l][name] copies layer l's array of every head
   * on first use (an array over heads, cached). The model keeps one trace's buffers: after its
   * next trace(), an older trace's arrays can no longer be read (a clear error says so).
   */
  trace(ids, { forceGates = '' } = {}) {
    const x = this._x,
      rt = this._rt;
    const a = checkIds(ids);
    const list = gateList(forceGates);
    if (list !== (this._forced ?? '')) {
      // the interventions of this and later traces (checked by the core: syntax, then ranges)
      if (rt.withString(list, (p) => x.cope_wasm_force_gates(this._ctx, p, rt.err))) throw rt.fail();
      this._forced = list;
    }
    const { n_layer: L, n_head: H, vocab_size: V } = this.config;
    const T = a.length;
    const ip = rt.ints(a);
    // any trace call (even one that fails) may reuse or free the buffers of the last trace: that
    // trace is out of date from here on
    const gen = (this._traceGen = (this._traceGen || 0) + 1);
    let tr;
    try {
      tr = x.cope_wasm_trace(this._ctx, ip, T, rt.err);
    } finally {
      x.cope_wasm_free(ip);
    }
    if (!tr) throw rt.fail();
    const per = T * T,
      names = this.traceArrays;
    const live = () => {
      if (!this._ctx) throw coreError('arg', 'the model was freed');
      if (this._traceGen !== gen)
        throw coreError(
          'arg',
          'a newer trace of this model replaced this one: copy what you need before tracing again',
        );
    };
    // a head's array: a copy of H*T*T floats' slice h of layer l
    const copy = (k, l, h0, nh) => rt.f32(x.cope_wasm_trace_array(tr, k, l) + 4 * h0 * per, nh * per).slice();
    const head = (l, h) => {
      live();
      if (!(Number.isInteger(l) && l >= 0 && l < L && Number.isInteger(h) && h >= 0 && h < H))
        throw coreError('arg', `no layer ${l} head ${h} (the model has ${L} layers of ${H} heads)`);
      return Object.fromEntries(names.map((name, k) => [name, copy(k, l, h, 1)]));
    };
    const layers = Array.from({ length: L }, (_, l) => {
      const layer = {},
        cache = {};
      names.forEach((name, k) =>
        Object.defineProperty(layer, name, {
          enumerable: true,
          get() {
            if (!cache[name]) {
              live();
              const all = copy(k, l, 0, H);
              cache[name] = Array.from({ length: H }, (_, h) => all.subarray(h * per, (h + 1) * per));
            }
            return cache[name];
          },
        }),
      );
      return layer;
    });
    const logits = rt.f32(x.cope_wasm_trace_logits(tr), T * V).slice();
    return { T, ids: Int32Array.from(a), logits, head, layers };
  }

  /**
   * Appends one token to the decoding state. Returns { t (its position), logits: Float32Array [V],
   * layers: [{ gates, ... }] }: each field an array over heads of Float32Array [t+1], the new
   * query's row.
   */
  step(id) {
    const x = this._x,
      rt = this._rt;
    const [tok] = checkIds([id], 'id');
    const lp = x.cope_wasm_step(this._ctx, tok, rt.err);
    if (!lp) throw rt.fail();
    const { n_layer: L, n_head: H, vocab_size: V } = this.config;
    const n = x.cope_wasm_length(this._ctx);
    const all = new Float32Array(L * this.traceArrays.length * H * n); // one allocation for every row
    const layers = [];
    let off = 0;
    for (let l = 0; l < L; l++) {
      const layer = {};
      this.traceArrays.forEach((name, k) => {
        layer[name] = Array.from({ length: H }, (_, h) => {
          all.set(rt.f32(x.cope_wasm_step_row(this._ctx, l, h, k), n), off);
          return all.subarray(off, (off += n));
        });
      });
      layers.push(layer);
    }
    return { t: n - 1, logits: rt.f32(lp, V).slice(), layers };
  }

  /** Empties the decoding state. */
  reset() {
    this._x.cope_wasm_reset(this._ctx);
  }

  /** Tokens in the decoding state. */
  get length() {
    return this._x.cope_wasm_length(this._ctx);
  }

  /**
   * One example of a task from a generator seeded with seed (a non-negative integer or BigInt
   * below 2^64), as token ids of this model's vocabulary. Returns { task, split, seed, ids:
   * Int32Array, pieces: string[], scored: Uint8Array (1 where the model is scored) }.
   */
  sample(task, seed, split = 'train') {
    const x = this._x,
      rt = this._rt;
    const i = rt.taskIndex(task);
    const s = seed64(seed);
    const sp = rt.cstr(String(split));
    const max = Math.max(1, x.cope_wasm_task_max_len(i, sp));
    const qp = rt.malloc(4 * max),
      lp = rt.malloc(max);
    try {
      const n = x.cope_wasm_sample(this._ctx, i, sp, Number(s & 0xffffffffn), Number(s >> 32n), qp, lp, max, rt.err);
      if (n < 0) throw rt.fail();
      const ids = rt.i32(qp, n).slice();
      return {
        task,
        split: String(split),
        seed: s,
        ids,
        pieces: Array.from(ids, (id) => this.vocab[id]),
        scored: rt.u8.slice(lp, lp + n),
      };
    } finally {
      for (const p of [sp, qp, lp]) x.cope_wasm_free(p);
    }
  }

  /** Frees the model; its wasm instance and memory go to the garbage collector. */
  free() {
    if (!this._ctx) return;
    this._rt.x.cope_wasm_unload(this._ctx);
    this._ctx = 0;
    this._rt = null;
  }
}

// ---------------------------------------------------------------------------------------------
// Training

// The trainer's options: [name, kind, low, high]; defaults are those of `cope train` (below).
const TRAIN_OPTIONS = [
  ['task', 'string'],
  ['pe', 'string'],
  ['layers', 'int', 1, 64],
  ['dim', 'int', 1, 8192],
  ['heads', 'int', 1, 64],
  ['ff', 'int', 1, 32768],
  ['npos', 'int', 1, 8192],
  ['relMax', 'int', 1, 8192],
  ['sepKeys', 'bool'],
  ['perHead', 'bool'],
  ['tied', 'bool'],
  ['ctx', 'int', 1, 8192],
  ['steps', 'int', 1, 1e8],
  ['batch', 'int', 1, 65536],
  ['lr', 'number', 0, 1e30],
  ['weightDecay', 'number', 0, 10],
  ['clip', 'number', 0, 1e9],
  ['warmup', 'int', 0, 1e8],
  ['seed', 'int', 0, Number.MAX_SAFE_INTEGER],
  ['trainSet', 'int', 0, 1e8],
  ['bucket', 'int', 1, 1024],
];

/** Checks the trainer's options: known names, types and ranges. Returns them with defaults. */
function trainOptions(rt, given) {
  const known = new Map(TRAIN_OPTIONS.map((o) => [o[0], o]));
  for (const k of Object.keys(given))
    if (!known.has(k))
      throw coreError('arg', `unknown trainer option "${k.slice(0, 64)}" (options: ${[...known.keys()].join(', ')})`);
  for (const [k, kind, lo, hi] of TRAIN_OPTIONS) {
    const v = given[k];
    if (v === undefined) continue;
    const ok =
      kind === 'string'
        ? typeof v === 'string'
        : kind === 'bool'
          ? typeof v === 'boolean'
          : typeof v === 'number' && (kind === 'int' ? Number.isInteger(v) : Number.isFinite(v)) && v >= lo && v <= hi;
    if (!ok) {
      const want = { string: 'a string', bool: 'true or false', int: 'an integer', number: 'a number' }[kind];
      throw coreError(
        'arg',
        `trainer option ${k} = ${String(v).slice(0, 64)}: must be ${want}${lo !== undefined ? ` in ${lo}..${hi}` : ''}`,
      );
    }
  }
  const task = given.task ?? 'toy';
  const ti = rt.taskIndex(task);
  const splits = rt.tasks()[ti].splits;
  const dim = given.dim ?? 64;
  const steps = given.steps ?? 1000;
  const o = {
    task,
    pe: given.pe ?? 'cope',
    layers: 2,
    dim,
    heads: 4,
    ff: 4 * dim,
    npos: 16,
    relMax: 64,
    sepKeys: false,
    perHead: false,
    tied: true,
    // the context holds the task's longest split, so every split can be evaluated
    ctx: Math.max(...splits.map((s) => rt.withString(s, (p) => rt.x.cope_wasm_task_max_len(ti, p)) - 1)),
    steps,
    batch: 32,
    lr: 1e-3,
    weightDecay: 0,
    clip: 1,
    warmup: Math.floor(steps / 20),
    seed: 1,
    trainSet: 0,
    bucket: 1,
    ...given,
  };
  const pe = rt.withString(o.pe, (p) => rt.x.cope_wasm_pe_parse(p));
  if (pe < 0) {
    const buf = rt.malloc(64);
    const list = rt.str(rt.x.cope_wasm_pe_list(buf, 64));
    rt.x.cope_wasm_free(buf);
    throw coreError('arg', `trainer option pe = ${String(o.pe).slice(0, 64)}: must be one of ${list}`);
  }
  return { o, ti, pe };
}

export class CopeTrainer {
  /**
   * A new model trained in this wasm instance by the core's trainer (core/train.c, the one `cope
   * train` runs): the same options and seed give the same initialization, data and optimizer.
   * options: { task, pe, layers, dim, heads, ff, npos, relMax, sepKeys, perHead, tied, ctx, steps,
   * batch, lr, weightDecay, clip, warmup, seed, trainSet, bucket, simd } — `steps` is the
   * schedule's length (warmup, then cosine decay); train() may run fewer or more.
   */
  static async create(options = {}) {
    if (options === null || typeof options !== 'object')
      throw coreError('arg', 'CopeTrainer.create takes an options object');
    const { simd: force, ...given } = options;
    if (force !== undefined && typeof force !== 'boolean')
      throw coreError('arg', `trainer option simd = ${String(force).slice(0, 32)}: must be true or false`);
    const simd = force ?? simdSupported();
    const rt = await instantiate(simd, true);
    const { o, ti, pe } = trainOptions(rt, given);
    const cfg = [0, o.ctx, o.layers, o.heads, o.dim, o.ff, pe, o.npos, +o.sepKeys, +o.perHead, o.relMax, +o.tied];
    const opts = [o.batch, o.steps, o.warmup, o.lr, o.weightDecay, o.clip, o.seed, o.trainSet, o.bucket];
    const cp = rt.ints(cfg),
      op = rt.malloc(8 * opts.length);
    rt.f64(op, opts.length).set(opts);
    const t = rt.x.cope_wasm_trainer_new(ti, cp, op, rt.err);
    rt.x.cope_wasm_free(cp);
    rt.x.cope_wasm_free(op);
    if (!t) throw rt.fail();
    return new CopeTrainer(rt, t, o, simd);
  }

  constructor(rt, t, options, simd) {
    this._rt = rt;
    this._t = t;
    /** the options in effect (defaults filled in) */
    this.options = Object.freeze(options);
    this.simd = simd;
    /** parameters of the model */
    this.nParams = rt.x.cope_wasm_trainer_num_params(t);
    /** seconds spent inside train() */
    this.seconds = 0;
    this._stats = { step: 0, loss: NaN, lossAvg: NaN, gradNorm: NaN, lr: 0, tokens: 0, realTokens: 0 };
    this._evals = {};
    this._sp = rt.malloc(8 * 7);
  }

  get _x() {
    if (!this._t) throw coreError('arg', 'the trainer was freed');
    return this._rt.x;
  }

  /** The last step's { step, loss, lossAvg, gradNorm, lr, tokens, realTokens }. */
  get stats() {
    return { ...this._stats };
  }

  /**
   * Runs n steps (returns when they are done). Returns { step, loss, lossAvg, gradNorm, lr,
   * tokensPerSecond } of the last. A non-finite loss throws a CopeError (status "training produced a
   * non-finite loss"); the weights are those of the step before, and stats says which.
   */
  train(n = 1) {
    const x = this._x,
      rt = this._rt;
    if (!Number.isInteger(n) || n < 0 || n > 1e7)
      throw coreError('arg', `train(${String(n).slice(0, 32)}): steps must be an integer in 0..1e7`);
    const before = this._stats.tokens,
      t0 = performance.now();
    const st = x.cope_wasm_trainer_train(this._t, n, this._sp, rt.err);
    const secs = (performance.now() - t0) / 1000;
    this.seconds += secs;
    const [step, loss, lossAvg, gradNorm, lr, tokens, realTokens] = rt.f64(this._sp, 7);
    this._stats = { step, loss, lossAvg, gradNorm, lr, tokens, realTokens };
    if (st) throw rt.fail();
    return { step, loss, lossAvg, gradNorm, lr, tokensPerSecond: secs > 0 ? (tokens - before) / secs : 0 };
  }

  /**
   * % of n fresh examples of a split that the model gets wrong (any scored token wrong), drawn
   * from seed (default: 1000003 + the training seed, the seed of `cope train`'s own evaluation, so
   * the numbers match its). The details of the last evaluation of each split go into save()'s
   * provenance and are in this.evaluations.
   */
  evaluate(split = 'train', n = 1000, seed = 1000003n + BigInt(this.options.seed)) {
    const x = this._x,
      rt = this._rt;
    if (!Number.isInteger(n) || n < 1 || n > 1e7)
      throw coreError('arg', `evaluate: n = ${String(n).slice(0, 32)} must be an integer in 1..1e7`);
    const s = seed64(seed);
    const op = rt.malloc(8 * 4);
    try {
      const st = rt.withString(String(split), (sp) =>
        x.cope_wasm_trainer_evaluate(this._t, sp, Number(s & 0xffffffffn), Number(s >> 32n), n, 16, op, rt.err),
      );
      if (st) throw rt.fail();
      const [tokenError, seqError, loss, seqs] = rt.f64(op, 4);
      this._evals[String(split)] = {
        token_error: tokenError,
        seq_error: seqError,
        loss,
        n: seqs,
        step: this._stats.step,
      };
      return seqError;
    } finally {
      x.cope_wasm_free(op);
    }
  }

  /** The last evaluation of each split: { split: { token_error, seq_error, loss, n, step } }. */
  get evaluations() {
    return structuredClone(this._evals);
  }

  _bytes(onBuffer) {
    const x = this._x,
      rt = this._rt;
    const extra = JSON.stringify({
      trainer: `CopeTrainer (wasm, ${this.simd ? 'simd' : 'scalar'})`,
      train_seconds: Math.round(this.seconds * 10) / 10,
      ...(Object.keys(this._evals).length ? { eval: this._evals } : {}),
    }).slice(1, -1);
    const lp = rt.malloc(8);
    try {
      const buf = rt.withString(extra, (ep) => x.cope_wasm_trainer_save(this._t, ep, lp, rt.err));
      if (!buf) throw rt.fail();
      try {
        return onBuffer(buf >>> 0, rt.i32(lp, 1)[0] >>> 0); // unsigned: past 2 GiB they read negative
      } finally {
        x.cope_wasm_free(buf);
      }
    } finally {
      x.cope_wasm_free(lp);
    }
  }

  /** The model now, as a .safetensors file (Uint8Array) whose provenance says how it was trained. */
  save() {
    return this._bytes((buf, len) => this._rt.u8.slice(buf, buf + len));
  }

  /** A CopeModel of the weights now (it lives in this trainer's wasm instance; free it as any model). */
  snapshot() {
    const rt = this._rt;
    const ctx = this._bytes((buf, len) => rt.x.cope_wasm_load(buf, len, rt.err));
    if (!ctx) throw rt.fail();
    return new CopeModel(rt, ctx, this.simd);
  }

  /** Frees the trainer (snapshots stay usable). */
  free() {
    if (!this._t) return;
    this._rt.x.cope_wasm_trainer_free(this._t);
    this._rt.x.cope_wasm_free(this._sp);
    this._t = 0;
    this._rt = null;
  }
}
