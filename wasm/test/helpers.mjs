// helpers.mjs — shared by the wasm tests: paths, the native `cope` program, a safetensors reader,
// a seeded id generator and the tolerance check.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = new URL('../..', import.meta.url).pathname;
export const COPE = process.env.COPE ?? join(ROOT, 'build/cope');
export const WASM_DIR = process.env.COPE_WASM_DIR ?? join(ROOT, 'build/wasm');
export const { CopeModel, CopeError, CopeTrainer, simdSupported } = await import(join(WASM_DIR, 'cope.mjs'));
export const TMP = mkdtempSync(join(tmpdir(), 'cope-wasm-test-'));
process.on('exit', () => rmSync(TMP, { recursive: true, force: true }));

/**
 * The reference test models, every shipped model present in models/, and the benchmark model
 * (random weights and CoPE tables, n_ctx 512: long sequences; made by build/wasm/bench_native).
 */
export function testModels() {
  const list = (dir, re) =>
    (existsSync(join(ROOT, dir)) ? readdirSync(join(ROOT, dir)) : [])
      .filter((f) => re.test(f))
      .sort()
      .map((f) => join(ROOT, dir, f));
  return [...list('tests/golden', /\.model\.safetensors$/), ...list('models', /\.safetensors$/), benchModel()];
}

export function benchModel() {
  // made by the native helper, whichever wasm build is under test
  const dir = join(ROOT, 'build/wasm');
  const path = join(dir, 'bench.safetensors');
  if (!existsSync(path)) execFileSync(join(dir, 'bench_native'), ['model', path]);
  return path;
}

export function cope(...args) {
  return execFileSync(COPE, args, { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A small model on the toy task's vocabulary (one training step), made once per process. */
let toyPath;
export function toyModel() {
  if (!toyPath) {
    toyPath = join(TMP, 'toy.safetensors');
    cope(
      'train',
      '--task',
      'toy',
      '--steps',
      '1',
      '--layers',
      '2',
      '--dim',
      '16',
      '--heads',
      '2',
      '--ff',
      '32',
      '--eval-n',
      '10',
      '--out',
      toyPath,
    );
  }
  return toyPath;
}

/** Tensors of a safetensors file: { name: { shape, data: Float32Array } } (F32 only). */
export function readSafetensors(path) {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const out = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (t.dtype !== 'F32') throw new Error(`${name}: dtype ${t.dtype}`);
    const [b, e] = t.data_offsets;
    const bytes = buf.subarray(8 + n + b, 8 + n + e);
    out[name] = {
      shape: t.shape,
      data: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)),
    };
  }
  return out;
}

/** Native trace of ids as { logits, 'layers.l.name': Float32Array [H*T*T] } (extra: more cope trace arguments). */
export function nativeTrace(model, ids, tag, extra = []) {
  const out = join(TMP, `${tag}.trace.safetensors`);
  cope('trace', model, '--ids', ids.join(','), '--out', out, ...extra);
  const t = readSafetensors(out);
  return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v.data]));
}

/** A wasm trace flattened to the same names as nativeTrace. */
export function flatTrace(tr) {
  const out = { logits: tr.logits };
  tr.layers.forEach((layer, l) => {
    for (const [name, heads] of Object.entries(layer)) {
      const all = new Float32Array(heads.length * heads[0].length);
      heads.forEach((h, i) => all.set(h, i * h.length));
      out[`layers.${l}.${name}`] = all;
    }
  });
  return out;
}

/** Seeded token ids in 0..V-1 (xorshift32), reproducible across runs. */
export function randomIds(T, V, seed = 1) {
  let s = seed >>> 0 || 1;
  return Array.from({ length: T }, () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % V;
  });
}

/**
 * Compares arrays element-wise: |got - ref| <= atol + rtol * |ref|. Returns the worst use of the
 * tolerance over all elements (<= 1 passes) and where it was, for the failure message.
 */
export function compare(got, ref, atol, rtol) {
  if (got.length !== ref.length) return { worst: Infinity, where: `length ${got.length} vs ${ref.length}` };
  let worst = 0,
    at = -1,
    maxAbs = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(got[i] - ref[i]);
    const use = Number.isNaN(d) ? Infinity : d / (atol + rtol * Math.abs(ref[i]));
    if (d > maxAbs) maxAbs = d;
    if (use > worst) {
      worst = use;
      at = i;
    }
  }
  return { worst, maxAbs, where: at < 0 ? '' : `index ${at}: got ${got[at]}, expected ${ref[at]}` };
}

/**
 * Compares every named array of two flat traces; tol is { atol, rtol } or a function of the
 * array's name and reference values returning one. Returns the worst entry and the largest |diff|.
 */
export function compareTraces(got, ref, tol) {
  let worst = { worst: 0, where: '' },
    maxAbs = 0;
  for (const k of Object.keys(ref)) {
    if (!(k in got)) return { worst: Infinity, maxAbs: Infinity, where: `missing ${k}` };
    // the logits a probability array exponentiates: content and CoPE logits for attn, CoPE for pos_attn
    const base = k.replace(/(pos_attn|attn)$/, '');
    const feeding = k.endsWith('pos_attn')
      ? [ref[`${base}cope_logits`]]
      : k.endsWith('attn')
        ? [ref[`${base}content_logits`], ref[`${base}cope_logits`]]
        : [];
    const { atol, rtol } = typeof tol === 'function' ? tol(k, ref[k], feeding.filter(Boolean)) : tol;
    const c = compare(got[k], ref[k], atol, rtol);
    maxAbs = Math.max(maxAbs, c.maxAbs);
    if (c.worst >= worst.worst) worst = { worst: c.worst, where: `${k} ${c.where}` };
  }
  return { ...worst, maxAbs };
}
