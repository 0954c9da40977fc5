// build.mjs — builds the static site in OUT (default build/web): bundles the page, the widget and
// the worker with esbuild (Chart.js and the wasm module inside; nothing from a CDN), copies the
// HTML/CSS, the wasm module (for the tests' independent trace) and the model files, and writes
// models/index.json (name, task, pe, baseline pairing) from each file's cope_config.
// Usage: node web/build.mjs [--out DIR] [--wasm build/wasm] MODEL.safetensors...
import { build } from 'esbuild';
import {
  mkdirSync,
  copyFileSync,
  writeFileSync,
  openSync,
  readSync,
  closeSync,
  statSync,
  rmSync,
  existsSync,
  readFileSync,
} from 'node:fs';
import { gzipSync } from 'node:zlib';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
let out = 'build/web',
  wasm = 'build/wasm';
const models = [];
for (let k = 0; k < args.length; k++) {
  if (args[k] === '--out') out = args[++k];
  else if (args[k] === '--wasm') wasm = args[++k];
  else models.push(args[k]);
}

/** cope_config of a safetensors file (the JSON header's __metadata__), or throws. */
export function readConfig(path) {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(8);
    readSync(fd, head, 0, 8, 0);
    const n = Number(head.readBigUInt64LE(0));
    if (n <= 0 || n > 100e6) throw new Error(`${path}: bad safetensors header length ${n}`);
    const json = Buffer.alloc(n);
    readSync(fd, json, 0, n, 8);
    const meta = JSON.parse(json.toString('utf8')).__metadata__ || {};
    if (!meta.cope_config) throw new Error(`${path}: no cope_config in the metadata`);
    return JSON.parse(meta.cope_config);
  } finally {
    closeSync(fd);
  }
}

// The order of the model picker: CoPE models first, by how well they show counting.
const TASK_ORDER = ['counting3', 'counting1', 'counting5', 'flipflop', 'selcopy', 'corpus', 'text', 'topics', 'toy'];

function modelIndex(files) {
  const list = [];
  for (const f of files) {
    let c;
    try {
      c = readConfig(f);
    } catch (e) {
      console.warn(`web: skipping ${f}: ${e.message}`);
      continue;
    }
    const name = basename(f).replace(/\.safetensors$/, '');
    const p = c.provenance || {};
    list.push({
      name,
      file: `models/${basename(f)}`,
      task: p.task || (typeof p.corpus === 'string' ? 'corpus' : ''),
      pe: c.pe,
      sep_keys: c.cope_gate_keys === 'sep',
      n_layer: c.n_layer,
      n_head: c.n_head,
      n_ctx: c.n_ctx,
      bytes: statSync(f).size,
      src: f,
    });
  }
  // baseline pairing: same task, the other kind of pe (CoPE <-> not CoPE), same seed suffix preferred
  const isCope = (e) => e.pe.startsWith('cope');
  const suffix = (e) => (e.name.match(/-s\d+$/) || [''])[0];
  for (const e of list) {
    const others = list.filter((o) => o !== e && o.task && o.task === e.task && isCope(o) !== isCope(e));
    others.sort((a, b) => (suffix(b) === suffix(e)) - (suffix(a) === suffix(e)));
    e.baseline = others[0]?.name || null;
  }
  const rank = (e) => [isCope(e) ? 0 : 1, TASK_ORDER.includes(e.task) ? TASK_ORDER.indexOf(e.task) : 99, e.name];
  list.sort((a, b) => {
    const x = rank(a),
      y = rank(b);
    return x[0] - y[0] || x[1] - y[1] || x[2].localeCompare(y[2]);
  });
  return list;
}

const cope = join(resolve(wasm), 'cope.mjs');
const WASM_FILES = [
  'cope.mjs',
  'cope.single.mjs',
  'cope-simd.wasm',
  'cope-scalar.wasm',
  'cope-train-simd.wasm',
  'cope-train-scalar.wasm',
];
for (const f of WASM_FILES)
  if (!existsSync(join(wasm, f))) throw new Error(`${join(wasm, f)} is missing: run make wasm`);
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'models'), { recursive: true });
mkdirSync(join(out, 'wasm'), { recursive: true });
mkdirSync(join(out, 'examples'), { recursive: true });

const common = {
  bundle: true,
  minify: true,
  sourcemap: true,
  target: ['es2022'],
  logLevel: 'warning',
  legalComments: 'linked',
};
await build({
  ...common,
  entryPoints: { app: join(here, 'src/app.js'), 'cope-viz': join(here, 'src/cope-viz.js') },
  outdir: out,
  format: 'esm',
  alias: { 'cope-wasm': cope }, // the page takes gateList from it; the worker has the rest
  external: ['node:*'],
  logOverride: { 'empty-import-meta': 'silent' },
  loader: { '.css': 'text' },
});
// The worker: a classic script (so it also starts from a blob) with the wasm module, not its .wasm
// files: it fetches the one its browser supports from wasm/.
await build({
  ...common,
  entryPoints: { worker: join(here, 'src/worker.js'), 'train-worker': join(here, 'src/train-worker.js') },
  outdir: out,
  format: 'iife',
  alias: { 'cope-wasm': cope },
  external: ['node:*'],
  logOverride: { 'empty-import-meta': 'silent' },
});

for (const f of [
  'index.html',
  'embed.html',
  'src/style.css',
  'src/embed.js',
  'src/embed.css',
  'examples/blog-post.html',
  'examples/many-widgets.html',
])
  copyFileSync(join(here, f), join(out, f.replace(/^src\//, '')));
// the wasm module for pages that use the API directly: with its .wasm files, or in one file (the
// viewer only); the Train view's workers fetch the cope-train-*.wasm variant
for (const f of WASM_FILES) copyFileSync(join(wasm, f), join(out, 'wasm', f));

const index = modelIndex(models);
for (const e of index) {
  copyFileSync(e.src, join(out, e.file));
  delete e.src;
}
writeFileSync(join(out, 'models/index.json'), `${JSON.stringify(index, null, 1)}\n`);
// What a browser loads before the model, gzipped as a static host sends it (with the SIMD engine;
// bench/page_bench.mjs measures the same in Chromium)
const first = ['index.html', 'style.css', 'app.js', 'worker.js', 'wasm/cope-simd.wasm', 'models/index.json'];
const gz = first.map((f) => gzipSync(readFileSync(join(out, f))).length);
console.log(
  `web: first load without the model ${(gz.reduce((a, b) => a + b, 0) / 1024).toFixed(1)} KB gzipped (${first
    .map((f, k) => `${f} ${(gz[k] / 1024).toFixed(1)}`)
    .join(', ')})`,
);
console.log(
  `web: built ${out} with ${index.length} model${index.length === 1 ? '' : 's'}${index.length ? `: ${index.map((e) => e.name).join(', ')}` : ''}`,
);
