// tfjs_cope.mjs — the benchmark peer: the same CoPE model written with TensorFlow.js ops (what a
// web developer would otherwise reach for), run on tfjs's WebAssembly backend. Forward of a whole
// sequence with every trace array, and incremental steps with a KV cache. pe = "cope" only
// (shared gate keys; per-layer or per-head table), which is what the benchmark model uses.
import * as tf from '@tensorflow/tfjs';
import { setThreadsCount } from '@tensorflow/tfjs-backend-wasm';

/** Selects tfjs's wasm backend with the given number of threads (1 = single-threaded). */
export async function useWasmBackend(threads = 1) {
  setThreadsCount(threads);
  await tf.setBackend('wasm');
  await tf.ready();
  return tf.getBackend();
}

export class TfjsCope {
  /** tensors: { name: { shape, data: Float32Array } } of the safetensors model; config as in it */
  constructor(tensors, config) {
    if (config.pe !== 'cope' || config.sep_keys) throw new Error('the tfjs peer implements pe=cope with shared keys');
    this.c = config;
    this.w = {};
    for (const [name, t] of Object.entries(tensors)) this.w[name] = tf.tensor(t.data, t.shape, 'float32');
    this.out = this.w['lm_head.weight'] ?? this.w['tok_emb.weight'];
    this.scale = 1 / Math.sqrt(config.d_model / config.n_head);
    this.cache = null;
  }

  dispose() {
    for (const t of Object.values(this.w)) t.dispose();
    this.reset();
  }

  layerNorm(x, p) {
    // (x - mean) / sqrt(var + 1e-5) * w + b, biased variance
    const { mean, variance } = tf.moments(x, -1, true);
    return x
      .sub(mean)
      .mul(tf.rsqrt(variance.add(1e-5)))
      .mul(this.w[`${p}.weight`])
      .add(this.w[`${p}.bias`]);
  }

  linear(x, p) {
    return tf.matMul(x, this.w[`${p}.weight`], false, true).add(this.w[`${p}.bias`]);
  }

  gelu(x) {
    // tanh approximation
    const u = x.add(x.pow(3).mul(0.044715)).mul(Math.sqrt(2 / Math.PI));
    return x.mul(tf.tanh(u).add(1)).mul(0.5);
  }

  heads(x) {
    // [T, D] -> [H, T, d]
    const { n_head: H, d_model: D } = this.c;
    return x.reshape([x.shape[0], H, D / H]).transpose([1, 0, 2]);
  }

  /**
   * Attention of queries q [H, Tq, d] against keys/values [H, Tk, d]; mask [Tq, Tk] is 1 where
   * key j is visible to query i. Returns y [Tq, D] and the trace arrays [H, Tq, Tk].
   */
  attend(q, k, v, mask, l) {
    const { n_head: H, d_model: D, npos } = this.c;
    const [, Tq, d] = q.shape;
    const Tk = k.shape[1];
    const s = tf.matMul(q, k, false, true).mul(this.scale).mul(mask); // content logits
    const g = tf.sigmoid(s).mul(mask); // gates
    const p = tf.minimum(tf.cumsum(g, 2, false, true), npos - 1); // positions
    const e = this.w[`blocks.${l}.attn.cope.weight`]; // [1 or H, d, npos]
    const z =
      e.shape[0] === 1
        ? tf.matMul(q.reshape([H * Tq, d]), e.reshape([d, npos])).reshape([H, Tq, npos])
        : tf.matMul(q, e); // z_i[n] = q_i . e[n]
    const fl = tf.floor(p),
      w = p.sub(fl);
    // z[h, i, floor p] as a flat gather (tfjs-backend-wasm 4.22's gather with batchDims = 2 reads
    // out of bounds)
    const zflat = z.reshape([-1]),
      row = tf.range(0, H * Tq * npos, npos, 'int32').reshape([H, Tq, 1]);
    const pick = (idx) => tf.gather(zflat, row.add(idx.toInt()).reshape([-1])).reshape([H, Tq, Tk]);
    const zf = pick(fl),
      zc = pick(tf.ceil(p));
    const c = zf.add(w.mul(zc.sub(zf))).mul(mask); // CoPE logits
    const neg = tf.scalar(-1e30);
    const on = mask.cast('bool').broadcastTo([H, Tq, Tk]);
    const a = tf.softmax(tf.where(on, s.add(c), neg), -1); // attention
    const cm = tf.where(on, c, neg);
    const pa = tf.exp(cm.sub(cm.max(-1, true))).mul(mask); // position-only
    const y = tf.matMul(a, v).transpose([1, 0, 2]).reshape([Tq, D]);
    return { y, gates: g, positions: p.mul(mask), content_logits: s, cope_logits: c, attn: a, pos_attn: pa };
  }

  block(x, l, kv) {
    // kv: null (whole sequence) or the cache of layer l (one new token)
    const h = this.layerNorm(x, `blocks.${l}.ln1`);
    const q = this.heads(this.linear(h, `blocks.${l}.attn.q`));
    let k = this.heads(this.linear(h, `blocks.${l}.attn.k`));
    let v = this.heads(this.linear(h, `blocks.${l}.attn.v`));
    if (kv) {
      if (kv.k) {
        k = tf.concat([kv.k, k], 1);
        v = tf.concat([kv.v, v], 1);
      }
      kv.next = { k: tf.keep(k), v: tf.keep(v) };
    }
    const Tq = q.shape[1],
      Tk = k.shape[1];
    const mask = kv ? tf.ones([Tq, Tk]) : tf.linalg.bandPart(tf.ones([Tk, Tk]), -1, 0); // a step sees all keys
    const r = this.attend(q, k, v, mask, l);
    const x2 = x.add(this.linear(r.y, `blocks.${l}.attn.o`));
    const f = this.linear(
      this.gelu(this.linear(this.layerNorm(x2, `blocks.${l}.ln2`), `blocks.${l}.mlp.fc1`)),
      `blocks.${l}.mlp.fc2`,
    );
    return { x: x2.add(f), r };
  }

  /** Whole-sequence forward: { logits: Float32Array [T*V], layers: [{ gates, ..., pos_attn }] } (each [H*T*T]). */
  trace(ids) {
    const names = ['gates', 'positions', 'content_logits', 'cope_logits', 'attn', 'pos_attn'];
    const out = tf.tidy(() => {
      let x = tf.gather(this.w['tok_emb.weight'], tf.tensor1d(ids, 'int32'));
      const layers = [];
      for (let l = 0; l < this.c.n_layer; l++) {
        const b = this.block(x, l, null);
        x = b.x;
        layers.push(names.map((n) => b.r[n]));
      }
      const logits = tf.matMul(this.layerNorm(x, 'ln_f'), this.out, false, true);
      return [logits, ...layers.flat()];
    });
    const data = out.map((t) => t.dataSync());
    out.forEach((t) => t.dispose());
    const layers = [];
    for (let l = 0; l < this.c.n_layer; l++)
      layers.push(Object.fromEntries(names.map((n, k) => [n, data[1 + l * names.length + k]])));
    return { logits: data[0], layers };
  }

  reset() {
    if (this.cache)
      for (const kv of this.cache)
        if (kv.k) {
          kv.k.dispose();
          kv.v.dispose();
        }
    this.cache = null;
  }

  /** One incremental step: logits Float32Array [V] and the new row of attention per layer [H*t]. */
  step(id) {
    if (!this.cache) this.cache = Array.from({ length: this.c.n_layer }, () => ({ k: null, v: null }));
    const out = tf.tidy(() => {
      let x = tf.gather(this.w['tok_emb.weight'], tf.tensor1d([id], 'int32'));
      const attn = [];
      for (let l = 0; l < this.c.n_layer; l++) {
        const b = this.block(x, l, this.cache[l]);
        x = b.x;
        attn.push(b.r.attn);
      }
      return [tf.matMul(this.layerNorm(x, 'ln_f'), this.out, false, true), ...attn];
    });
    for (const kv of this.cache) {
      // tf.keep'd inside the tidy
      if (kv.k) {
        kv.k.dispose();
        kv.v.dispose();
      }
      kv.k = kv.next.k;
      kv.v = kv.next.v;
      kv.next = null;
    }
    const data = out.map((a) => a.dataSync());
    out.forEach((a) => a.dispose());
    return { logits: data[0], attn: data.slice(1) };
  }
}
