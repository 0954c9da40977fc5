// trace.test.mjs — the wasm trace equals the native `cope trace --out` on every reference test
// model and every shipped model, for the SIMD and the scalar build; the SIMD build equals the
// scalar build; incremental steps equal the trace.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { basename } from 'node:path';
import {
  CopeModel,
  compare,
  compareTraces,
  flatTrace,
  nativeTrace,
  randomIds,
  simdSupported,
  testModels,
} from './helpers.mjs';

// Tolerance, per array A (the logits, or one layer's [H, T, T] array): |a - b| <= eps * max(1,
// max |A_ref|). The scale is the array's, not the element's: a float32 dot product is accurate
// relative to the size of its terms, and trained models have logits near 0 made of terms of 30.
// Native (GCC -O3 -march=native, FMA contraction) and wasm (no FMA, other summation orders) round
// differently. eps = 2e-5 for logits, gates, content logits and attention; 2e-4 for positions,
// CoPE logits and position-only attention: positions are sums of up to T gates, so their rounding
// grows with T (4.6e-5 at T = 512 near 63), and the CoPE term inherits it through the slope of
// the interpolation. The same rule serves SIMD vs scalar and step vs trace.
// Attention and position-only attention are exponentials of logit differences (softmax; exp(P -
// max P)): an error d in the logits moves a probability p by at most 2 d p. So besides the tight
// absolute term they get a relative one, rtol = 2 x eps x the scale of the logits feeding them
// (`feeding`: the same layer's content and CoPE logits for attn, the CoPE logits for pos_attn),
// which stays tight on small probabilities (a leak at masked keys still fails). And each layer
// reads the rounding of the layers below it: layer l's arrays get (1 + l) times eps. Deep models
// need both: in the 4-layer counting model at T = 511, gates differ by ~2e-5 after three layers, a
// position summing 120 of them by 2.7e-3, its CoPE logit (scale ~10) by 2.6e-3 and its pos_attn
// (0.95) by 3.7e-3.
const EPS = { tight: 2e-5, positional: 2e-4 };
export function tolerance(name, ref, feeding = [], layer = Number(/^layers\.(\d+)\./.exec(name)?.[1] ?? 0)) {
  let scale = 1;
  for (let i = 0; i < ref.length; i++) scale = Math.max(scale, Math.abs(ref[i]));
  let logits = 0; // the largest |logit| summed over the arrays that feed a probability
  for (const a of /attn$/.test(name) ? feeding : []) {
    let m = 0;
    for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
    logits += m;
  }
  const eps = (1 + layer) * (/(positions|cope_logits|pos_attn)$/.test(name) ? EPS.positional : EPS.tight);
  return { atol: eps * scale, rtol: 2 * eps * logits };
}

const models = testModels();
const loaded = new Map();
async function load(path, simd) {
  const key = `${path}:${simd}`;
  if (!loaded.has(key)) loaded.set(key, await CopeModel.load(path, { simd }));
  return loaded.get(key);
}
after(() => {
  for (const m of loaded.values()) m.free();
});

test('this Node runs wasm SIMD', () => assert.equal(simdSupported(), true));

for (const path of models) {
  describe(basename(path), () => {
    // Two lengths: the full context (up to 512) and 7 (not a multiple of the SIMD width).
    const lengths = async () => {
      const m = await load(path, true);
      return [...new Set([Math.min(m.config.n_ctx, 512), Math.min(m.config.n_ctx, 7)])];
    };

    test('wasm trace equals native cope trace (SIMD and scalar)', async (t) => {
      for (const T of await lengths()) {
        const V = (await load(path, true)).config.vocab_size;
        const ids = randomIds(T, V, T);
        const ref = nativeTrace(path, ids, `${basename(path)}.${T}`);
        for (const simd of [true, false]) {
          const got = flatTrace((await load(path, simd)).trace(ids));
          const c = compareTraces(got, ref, tolerance);
          t.diagnostic(
            `T=${T} simd=${simd}: max |diff| ${c.maxAbs.toExponential(2)}, worst ${c.worst.toFixed(3)} of tolerance at ${c.where}`,
          );
          assert.ok(c.worst <= 1, `T=${T} simd=${simd}: ${c.where} (tolerance use ${c.worst.toFixed(2)})`);
        }
      }
    });

    test('gate interventions equal native cope trace --force-gate; cleared, the plain trace', async (t) => {
      const m = await load(path, true);
      const { n_layer: L, n_head: H, vocab_size: V, n_ctx: C } = m.config;
      if (!m.config.pe.startsWith('cope')) {
        assert.throws(() => m.trace([1, 1], { forceGates: '0:0:0=0' }), /need a CoPE model/);
        return;
      }
      const T = Math.min(C, 24);
      const ids = randomIds(T, V, 5);
      const list = `0:*:${T >> 1}=0,${L - 1}:${H - 1}:2=1,0:0:${T - 1}=0.5`;
      const ref = nativeTrace(path, ids, `${basename(path)}.forced`, ['--force-gate', list]);
      const plain = flatTrace(m.trace(ids));
      for (const simd of [true, false]) {
        const got = flatTrace((await load(path, simd)).trace(ids, { forceGates: list }));
        const c = compareTraces(got, ref, tolerance);
        t.diagnostic(
          `simd=${simd}: max |diff| ${c.maxAbs.toExponential(2)}, worst ${c.worst.toFixed(3)} at ${c.where}`,
        );
        assert.ok(c.worst <= 1, `simd=${simd}: ${c.where}`);
      }
      assert.equal(m.trace(ids, { forceGates: list }).layers[0].gates[0][(T - 1) * T + (T >> 1)], 0);
      assert.deepEqual(flatTrace(m.trace(ids)).logits, plain.logits, 'without forceGates the trace is the plain one');
      const beyond = T < C ? `key ${T} is past the input's ${T} tokens` : `key ${T} is outside 0..${C - 1}`;
      assert.throws(() => m.trace(ids, { forceGates: `0:0:${T}=1` }), new RegExp(beyond));
      assert.throws(() => m.trace(ids, { forceGates: [{ layer: 0, head: 0, key: 1, value: 2 }] }), /forceGates\[0\]/);
    });

    test('SIMD build equals scalar build', async (t) => {
      for (const T of await lengths()) {
        const a = await load(path, true),
          b = await load(path, false);
        const ids = randomIds(T, a.config.vocab_size, 100 + T);
        const c = compareTraces(flatTrace(a.trace(ids)), flatTrace(b.trace(ids)), tolerance);
        t.diagnostic(
          `T=${T}: max |diff| ${c.maxAbs.toExponential(2)}, worst ${c.worst.toFixed(3)} of tolerance at ${c.where}`,
        );
        assert.ok(c.worst <= 1, `T=${T}: ${c.where} (tolerance use ${c.worst.toFixed(2)})`);
      }
    });

    test('step equals trace, row by row', async () => {
      for (const simd of [true, false]) {
        const m = await load(path, simd);
        const { n_ctx: C, vocab_size: V } = m.config;
        const T = Math.min(C, 40);
        const ids = randomIds(T, V, 7);
        const tr = m.trace(ids);
        m.reset();
        for (let t = 0; t < T; t++) {
          const st = m.step(ids[t]);
          assert.equal(st.t, t);
          const lt = tolerance('logits', tr.logits);
          let c = compare(st.logits, tr.logits.subarray(t * V, (t + 1) * V), lt.atol, lt.rtol);
          assert.ok(c.worst <= 1, `simd=${simd} logits t=${t}: ${c.where}`);
          st.layers.forEach((layer, l) => {
            for (const name of m.traceArrays)
              layer[name].forEach((row, h) => {
                assert.equal(row.length, t + 1);
                const L = tr.layers[l];
                const feeding = name === 'attn' ? [L.content_logits[h], L.cope_logits[h]] : [L.cope_logits[h]];
                const { atol, rtol } = tolerance(name, L[name][h], feeding, l);
                c = compare(row, tr.layers[l][name][h].subarray(t * T, t * T + t + 1), atol, rtol);
                assert.ok(c.worst <= 1, `simd=${simd} layer ${l} ${name} head ${h} t=${t}: ${c.where}`);
              });
          });
        }
        assert.equal(m.length, T);
        m.reset();
        assert.equal(m.length, 0);
      }
    });
  });
}

test('trace results are copies that survive later calls', async () => {
  const m = await load(models[0], true);
  const V = m.config.vocab_size;
  const a = m.trace(randomIds(9, V, 1));
  const keep = flatTrace(a);
  const saved = Object.fromEntries(Object.entries(keep).map(([k, v]) => [k, v.slice()]));
  m.trace(randomIds(9, V, 2));
  m.trace(randomIds(12, V, 3));
  m.step(1);
  for (const [k, v] of Object.entries(flatTrace(a))) assert.deepEqual(v, saved[k], k);
});
