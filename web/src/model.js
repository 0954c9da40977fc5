// model.js — a model loaded in the worker, and one input traced by it. The views read a Run:
// token pieces, predictions, and each head's [T*T] arrays fetched on demand (cached), so a
// 512-token input never moves all layers' arrays to the page at once.
import { sharedClient } from './client.js';
import { isLanguageTask } from './tasks.js';

let keys = 0;

export class Model {
  /** Loads from a URL or an ArrayBuffer; name is what the page calls it. */
  static async load(source, name, onProgress) {
    const client = sharedClient();
    const key = `m${++keys}`;
    const info = await client.load(key, source, onProgress);
    return new Model(client, key, name, info);
  }

  constructor(client, key, name, info) {
    this.client = client;
    this.key = key;
    this.name = name;
    this.config = info.config;
    this.vocab = info.vocab;
    this.tasks = info.tasks;
    this.simd = info.simd;
    /** the task the model was trained on, from its provenance (may be undefined) */
    this.task = info.config.provenance?.task;
  }

  get hasCope() { return this.config.pe.startsWith('cope'); }

  /** The position encoding, as every view names it: "pe cope (sep-keys)". */
  get peLabel() { return `pe ${this.config.pe}${this.config.sep_keys ? ' (sep-keys)' : ''}`; }

  /** One sentence on the model (page and widget): shape, context, task and its error rates. */
  summary() {
    const c = this.config, task = this.task, lm = isLanguageTask(task);
    const ev = c.provenance?.eval;
    const err = ev && Object.entries(ev).map(([split, r]) => `${split} ${Number(lm ? r.token_error : (r.seq_error ?? r.token_error)).toFixed(1)}%`).join(', ');
    return `${this.name}: ${this.peLabel}, ${c.n_layer} layers × ${c.n_head} heads, d ${c.d_model}, ${c.n_params.toLocaleString('en')} parameters, context ${c.n_ctx} tokens${this.hasCope ? `, npos ${c.npos}` : ''}${task ? `, task ${task}` : ''}${err ? `; ${lm ? 'next-token error' : 'error rate'} ${err}` : ''}.`;
  }

  tokenize(text) { return this.client.call('tokenize', { key: this.key, text }); }
  sample(task, seed, split) { return this.client.call('sample', { key: this.key, task, seed, split }); }

  async run(ids) {
    const r = await this.client.call('run', { key: this.key, ids: Int32Array.from(ids) });
    return new Run(this, Int32Array.from(ids), r);
  }

  /** Text of pieces that tokenizes back to them: words joined by spaces, newlines as line breaks. */
  detokenizeText(pieces) {
    if (this.config.tokenizer !== 'words') return pieces.join('');
    let out = '';
    for (const p of pieces) out += p === '\n' ? '\n' : (out === '' || out.endsWith('\n') ? '' : ' ') + p;
    return out;
  }

  free() { return this.client.call('unload', { key: this.key }); }
}

/**
 * The one way page and widget show a text: tokenize it with model, trace the first n_ctx tokens,
 * and trace the baseline (when given) on the same text cut to the same length. notes say what the
 * reader should know about the input: that it was cut to the context, that pieces read as <unk>.
 *   -> { tok, run, baseRun, notes }; run and baseRun are null when the text has no tokens.
 */
export async function traceText(model, baseline, text) {
  const tok = await model.tokenize(text);
  const nctx = model.config.n_ctx, n = tok.ids.length, notes = [];
  if (n > nctx) notes.push(`The text has ${n} tokens but this model reads at most ${nctx} (its context). Showing the first ${nctx} tokens.`);
  if (tok.unknown) notes.push(`${tok.unknown} piece${tok.unknown === 1 ? ' is' : 's are'} not in the model's vocabulary and read as <unk>: ${tok.unknownPieces.slice(0, 8).map((p) => JSON.stringify(p)).join(', ')}${tok.unknownPieces.length > 8 ? ', …' : ''}.`);
  if (!n) return { tok, run: null, baseRun: null, notes };
  const ids = Array.from(tok.ids).slice(0, nctx);
  const run = await model.run(ids);
  let baseRun = null;
  if (baseline) {
    const bt = await baseline.tokenize(text);
    baseRun = await baseline.run(Array.from(bt.ids).slice(0, Math.min(ids.length, baseline.config.n_ctx)));
  }
  return { tok, run, baseRun, notes };
}

export class Run {
  constructor(model, ids, r) {
    this.model = model;
    this.ids = ids;
    this.T = r.T;
    this.gen = r.gen;
    this.pred = r.pred;
    this.prob = r.prob;
    this.pieces = Array.from(ids, (id) => model.vocab[id]);
    this.heads = new Map();
    this.thumbCache = new Map();
  }

  get H() { return this.model.config.n_head; }

  /** { gates, positions, content_logits, cope_logits, attn, pos_attn } of one head, [T*T] each. */
  head(layer, head) {
    return cached(this.heads, `${layer}/${head}`, () => this.model.client.call('head', { key: this.model.key, gen: this.gen, layer, head }));
  }

  /** Thumbnails of one array for every head: [layer][head] = { n, data: Float32Array [n*n] }. */
  thumbs(name, size = 72) {
    return cached(this.thumbCache, name, () => this.model.client.call('thumbs', { key: this.model.key, gen: this.gen, name, size }));
  }
}

/** map.get(key), else the promise make() stored under key; a promise that fails removes itself,
 * so the next call asks the worker again. */
function cached(map, key, make) {
  if (!map.has(key)) {
    const p = make();
    p.catch(() => map.delete(key));
    map.set(key, p);
  }
  return map.get(key);
}
