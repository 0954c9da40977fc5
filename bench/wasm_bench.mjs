// wasm_bench.mjs — `make bench-wasm`: time of a full trace at T = 64, 256, 512 and per
// incremental step, for the wasm SIMD and scalar builds, native single-threaded C
// (build/wasm/bench_native) and the TensorFlow.js peer (bench/tfjs_cope.mjs, wasm backend, one
// thread); checks the peer's and the native numbers against ours; reports file sizes. The engines
// take turns round by round, so drifting load hits them alike; medians over the rounds.
// Writes bench/wasm-results.md. ROUNDS=n to change the number of rounds (default 5).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { CopeModel, ROOT, WASM_DIR, flatTrace, nativeTrace, readSafetensors } from '../wasm/test/helpers.mjs';
import { TfjsCope, useWasmBackend } from './tfjs_cope.mjs';

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const LENGTHS = [64, 256, 512];
const NATIVE = join(WASM_DIR, 'bench_native');
const MODEL = join(WASM_DIR, 'bench.safetensors');
const log = (...a) => console.error(...a);

const uptime = () => execFileSync('uptime', { encoding: 'utf8' }).trim();
const loadBefore = uptime();
if (!existsSync(MODEL)) execFileSync(NATIVE, ['model', MODEL]);

const idsOf = (T, V) => Array.from({ length: T }, (_, i) => 1 + ((i * 37 + 11) % (V - 1))); // as bench_native
const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const n = s.length;
  return n % 2 ? s[n >> 1] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
// Each measurement is taken twice: wall clock, and CPU time of this process (process.cpuUsage;
// bench_native: CLOCK_PROCESS_CPUTIME_ID). On a shared machine the CPU time is what the work cost;
// the wall clock also counts the time other jobs held the core.
const clock = () => ({ wall: performance.now(), cpu: process.cpuUsage() });
const since = (c0) => {
  const c = process.cpuUsage(c0.cpu);
  return { wall: performance.now() - c0.wall, cpu: (c.user + c.system) / 1e3 };
};
const per = (d, n) => ({ wall: d.wall / n, cpu: d.cpu / n });

// ---------------------------------------------------------------------------------------------
// Engines: each returns { trace, traceApi?, step } in ms for one length
const simd = await CopeModel.load(MODEL, { simd: true });
const scalar = await CopeModel.load(MODEL, { simd: false });
const cfg = simd.config;
log(
  `model: ${cfg.n_layer} layers, D=${cfg.d_model}, ${cfg.n_head} heads, d_ff=${cfg.d_ff}, V=${cfg.vocab_size}, n_ctx ${cfg.n_ctx}, pe ${cfg.pe}, npos ${cfg.npos}`,
);
const tfBackend = await useWasmBackend(1);
const peer = new TfjsCope(readSafetensors(MODEL), cfg);

function timeOurs(m, T) {
  const ids = idsOf(T, cfg.vocab_size);
  const rt = m._rt,
    x = rt.x;
  const ip = rt.ints(ids);
  let c0 = clock();
  if (!x.cope_wasm_trace(m._ctx, ip, T, rt.err)) throw rt.fail(); // the core alone, as native
  const trace = since(c0);
  x.cope_wasm_free(ip);
  c0 = clock();
  m.trace(ids).head(0, 0); // the JS API as the page uses it: the logits, then one head's six arrays
  const traceApi = since(c0);
  m.reset();
  c0 = clock();
  for (const id of ids) if (!x.cope_wasm_step(m._ctx, id, rt.err)) throw rt.fail();
  const step = per(since(c0), T);
  m.reset();
  c0 = clock();
  for (const id of ids) m.step(id); // with the logits and every row copied out
  const stepApi = per(since(c0), T);
  return { trace, traceApi, step, stepApi };
}

function timeNative(T) {
  const out = execFileSync(NATIVE, ['time', MODEL, String(T), '1'], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: '1' },
  });
  const r = JSON.parse(out);
  return { trace: { wall: r.trace_ms, cpu: r.trace_cpu_ms }, step: { wall: r.step_ms, cpu: r.step_cpu_ms } };
}

function timePeer(T) {
  const ids = idsOf(T, cfg.vocab_size);
  let c0 = clock();
  peer.trace(ids);
  const trace = since(c0);
  peer.reset();
  c0 = clock();
  for (const id of ids) peer.step(id);
  const step = per(since(c0), T);
  peer.reset();
  return { trace, step };
}

const engines = {
  native: timeNative,
  simd: (T) => timeOurs(simd, T),
  scalar: (T) => timeOurs(scalar, T),
  tfjs: timePeer,
};
const times = {}; // times[engine][T][field][wall|cpu] = [ms...]
for (const [name, f] of Object.entries(engines)) {
  times[name] = {};
  for (const T of LENGTHS) {
    f(T);
    times[name][T] = {};
  } // warm-up (JIT tiers, allocations)
}
for (let r = 0; r < ROUNDS; r++) {
  log(`round ${r + 1}/${ROUNDS}`);
  for (const T of LENGTHS)
    for (const [name, f] of Object.entries(engines))
      for (const [k, v] of Object.entries(f(T)))
        for (const c of ['wall', 'cpu']) ((times[name][T][k] ??= {})[c] ??= []).push(v[c]);
}
let CLOCK = 'cpu';
const med = (e, T, k) => median(times[e][T][k][CLOCK]);
const loadAfter = uptime();

// ---------------------------------------------------------------------------------------------
// Checks: the peer and native against our SIMD build at T = 512
const maxDiff = (a, b) => {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
};
const Tc = 512,
  idsC = idsOf(Tc, cfg.vocab_size);
const ours = flatTrace(simd.trace(idsC));
const oursScalar = flatTrace(scalar.trace(idsC));
const theirs = peer.trace(idsC);
const theirsFlat = { logits: theirs.logits };
theirs.layers.forEach((layer, l) => {
  for (const [k, v] of Object.entries(layer)) theirsFlat[`layers.${l}.${k}`] = v;
});
const native = nativeTrace(MODEL, idsC, 'bench');
const names = ['logits', ...simd.traceArrays];
const diffs = (ref) =>
  Object.fromEntries(
    names.map((n) => [
      n,
      Math.max(
        ...Object.keys(ours)
          .filter((k) => k === n || k.endsWith(`.${n}`))
          .map((k) => maxDiff(ours[k], ref[k])),
      ),
    ]),
  );
const check = { tfjs: diffs(theirsFlat), native: diffs(native), scalar: diffs(oursScalar) };

// ---------------------------------------------------------------------------------------------
// Sizes
const size = (f) => {
  const b = readFileSync(f);
  return { raw: b.length, gz: gzipSync(b, { level: 9 }).length };
};
const files = ['cope-simd.wasm', 'cope-scalar.wasm', 'cope.mjs', 'cope.single.mjs'];
const sizes = Object.fromEntries(files.map((f) => [f, size(join(WASM_DIR, f))]));
const nm = join(ROOT, 'node_modules/@tensorflow');
const tfSizes = {
  'tf.min.js (@tensorflow/tfjs)': size(join(nm, 'tfjs/dist/tf.min.js')),
  'tf-backend-wasm.min.js': size(join(nm, 'tfjs-backend-wasm/dist/tf-backend-wasm.min.js')),
  'tfjs-backend-wasm-simd.wasm': size(join(nm, 'tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm')),
};
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;

// ---------------------------------------------------------------------------------------------
// Report
const f1 = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const f3 = (x) => x.toFixed(3);
const r2 = (x) => `${x.toFixed(2)}x`;
const busy = Math.max(
  parseFloat(loadBefore.split('load average:')[1]),
  parseFloat(loadAfter.split('load average:')[1]),
);
const cpu = cpus()[0]?.model ?? 'unknown CPU';
const emcc = execFileSync('sh', ['-c', 'NODE_PATH=/usr/share/nodejs emcc --version | head -1'], {
  encoding: 'utf8',
}).trim();
const L = [];
L.push('# WebAssembly benchmark (generated by `make bench-wasm`)', '');
L.push(
  `Run ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${cpu}, ${cpus().length} cores; Node ${process.version}; ${emcc}; tfjs ${'4.22.0'} (${tfBackend} backend, 1 thread).`,
);
L.push(`Load before: \`${loadBefore}\``, `Load after:  \`${loadAfter}\``);
L.push(
  busy > 0.7
    ? `**The machine was busy** (load average up to ${busy.toFixed(2)} on ${cpus().length} cores, other jobs running): wall-clock times are inflated and noisy; the CPU-time tables below are the ones to read, and all ratios come from the same rounds, with the engines taking turns.`
    : 'The machine was quiet (load average below 0.7).',
  '',
);
L.push(
  `Model: random weights (\`bench/wasm_native.c model\`), ${cfg.n_layer} layers, D=${cfg.d_model}, ${cfg.n_head} heads, d_ff=${cfg.d_ff}, vocabulary ${cfg.vocab_size}, n_ctx ${cfg.n_ctx}, pe=${cfg.pe}, npos ${cfg.npos} (random CoPE tables), ${cfg.n_params} parameters.`,
);
L.push(
  `Medians of ${ROUNDS} rounds after one warm-up per engine and length. All single-threaded. Times as CPU time of the process (robust to other jobs on the machine) and as wall clock.`,
  '',
);
L.push(
  "- *core*: the exported trace call alone (what native does); *API*: `model.trace(ids).head(0, 0)`, which also copies the logits and one head's six [T,T] arrays out of wasm memory into JS typed arrays (the page reads one head at a time; the other arrays stay in wasm memory until asked for).",
);
L.push(
  '- *step*: mean time per step when decoding T tokens one by one from an empty state; *core* the exported step call, *API* `model.step(id)`, which also copies the logits and the 6 x L x H rows out.',
);
L.push(
  '- tfjs: the same model written with tfjs ops (`bench/tfjs_cope.mjs`), trace = one forward producing the same arrays, downloaded with `dataSync`; step = KV cache (concat), logits and attention rows downloaded.',
  '',
);
for (const c of ['cpu', 'wall']) {
  CLOCK = c;
  const what = c === 'cpu' ? 'CPU time of the process' : 'wall clock';
  L.push(`## Full trace, ms (${what})`);
  L.push(
    '| T | native C | wasm SIMD core | wasm SIMD API | wasm scalar core | wasm scalar API | tfjs wasm |',
    '|---|---|---|---|---|---|---|',
  );
  for (const T of LENGTHS)
    L.push(
      `| ${T} | ${f1(med('native', T, 'trace'))} | ${f1(med('simd', T, 'trace'))} | ${f1(med('simd', T, 'traceApi'))} | ${f1(med('scalar', T, 'trace'))} | ${f1(med('scalar', T, 'traceApi'))} | ${f1(med('tfjs', T, 'trace'))} |`,
    );
  L.push('', `## Incremental step, ms per token, decoding T tokens (${what})`);
  L.push(
    '| T | native C | wasm SIMD core | wasm SIMD API | wasm scalar core | wasm scalar API | tfjs wasm |',
    '|---|---|---|---|---|---|---|',
  );
  for (const T of LENGTHS)
    L.push(
      `| ${T} | ${f3(med('native', T, 'step'))} | ${f3(med('simd', T, 'step'))} | ${f3(med('simd', T, 'stepApi'))} | ${f3(med('scalar', T, 'step'))} | ${f3(med('scalar', T, 'stepApi'))} | ${f3(med('tfjs', T, 'step'))} |`,
    );
  L.push('', `## Ratios (${what}, same rounds; > 1 means the first is faster)`);
  L.push(
    '| T | SIMD vs scalar, trace core | SIMD vs scalar, step core | native vs SIMD, trace core | native vs SIMD, step core | SIMD (API) vs tfjs, trace | SIMD (API) vs tfjs, step |',
    '|---|---|---|---|---|---|---|',
  );
  for (const T of LENGTHS)
    L.push(
      `| ${T} | ${r2(med('scalar', T, 'trace') / med('simd', T, 'trace'))} | ${r2(med('scalar', T, 'step') / med('simd', T, 'step'))} | ${r2(med('simd', T, 'trace') / med('native', T, 'trace'))} | ${r2(med('simd', T, 'step') / med('native', T, 'step'))} | ${r2(med('tfjs', T, 'trace') / med('simd', T, 'traceApi'))} | ${r2(med('tfjs', T, 'step') / med('simd', T, 'stepApi'))} |`,
    );
  L.push('');
}
L.push(`## Agreement at T = ${Tc}: max |difference| against the wasm SIMD trace`);
L.push(`| against | ${names.join(' | ')} |`, `|---|${names.map(() => '---').join('|')}|`);
for (const [who, d] of Object.entries({
  'native `cope trace`': check.native,
  'wasm scalar': check.scalar,
  'tfjs peer': check.tfjs,
}))
  L.push(`| ${who} | ${names.map((n) => d[n].toExponential(1)).join(' | ')} |`);
L.push('', '## Sizes (gzip -9)');
L.push('| file | raw | gzipped |', '|---|---|---|');
for (const [f, s] of Object.entries(sizes)) L.push(`| build/wasm/${f} | ${kb(s.raw)} | ${kb(s.gz)} |`);
const js = sizes['cope.mjs'];
L.push(
  `| what a page loads: cope.mjs + cope-simd.wasm | ${kb(js.raw + sizes['cope-simd.wasm'].raw)} | ${kb(js.gz + sizes['cope-simd.wasm'].gz)} |`,
);
L.push(
  `| what a page loads: cope.mjs + cope-scalar.wasm | ${kb(js.raw + sizes['cope-scalar.wasm'].raw)} | ${kb(js.gz + sizes['cope-scalar.wasm'].gz)} |`,
);
L.push(
  `| all four files | ${kb(Object.values(sizes).reduce((a, s) => a + s.raw, 0))} | ${kb(Object.values(sizes).reduce((a, s) => a + s.gz, 0))} |`,
);
L.push('', 'For comparison, the tfjs peer needs:', '| file | raw | gzipped |', '|---|---|---|');
for (const [f, s] of Object.entries(tfSizes)) L.push(`| ${f} | ${kb(s.raw)} | ${kb(s.gz)} |`);
const text = L.join('\n') + '\n';
writeFileSync(join(ROOT, 'bench/wasm-results.md'), text);
console.log(text);
simd.free();
scalar.free();
peer.dispose();
