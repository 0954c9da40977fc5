// api.test.mjs — the JS API around the trace: errors carry the core's message and leave the
// module usable, the context limit, the tokenizer, task sampling, memory over repeated calls,
// the single-file build, free().
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  COPE,
  CopeError,
  CopeModel,
  ROOT,
  TMP,
  WASM_DIR,
  compareTraces,
  cope,
  flatTrace,
  nativeTrace,
  randomIds,
  toyModel,
} from './helpers.mjs';

const GOLDEN = join(ROOT, 'tests/golden/cope.model.safetensors');
const goldenBytes = readFileSync(GOLDEN);

/** The message the native program prints for a file that does not load. */
function nativeLoadError(bytes, tag) {
  const path = join(TMP, `${tag}.bad.safetensors`);
  execFileSync('sh', ['-c', 'cat > "$1"', 'sh', path], { input: bytes });
  try {
    execFileSync(COPE, ['info', path], { stdio: 'pipe' });
  } catch (e) {
    const line = e.stderr.toString().trim();
    const prefix = `cope: error: ${path}: `;
    assert.ok(line.startsWith(prefix), line);
    return line.slice(prefix.length);
  }
  assert.fail(`native cope loaded ${tag}`);
}

function randomBytes(n, seed) {
  let s = seed;
  return Uint8Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return s >>> 24;
  });
}

test("bad bytes throw a CopeError with the core's message; loading works afterwards", async () => {
  const header = Number(goldenBytes.readBigUInt64LE(0));
  const cases = {
    empty: new Uint8Array(0),
    'truncated at 5': goldenBytes.subarray(0, 5),
    'truncated in the header': goldenBytes.subarray(0, 8 + (header >> 1)),
    'truncated in the data': goldenBytes.subarray(0, goldenBytes.length - 100),
    'random 64 bytes': randomBytes(64, 1),
    'random 4096 bytes': randomBytes(4096, 2),
    'random after a valid length': Uint8Array.from([16, 0, 0, 0, 0, 0, 0, 0, ...randomBytes(100, 3)]),
  };
  for (const [name, bytes] of Object.entries(cases)) {
    for (const simd of [true, false]) {
      await assert.rejects(
        CopeModel.load(bytes, { simd }),
        (e) => {
          assert.ok(e instanceof CopeError && e instanceof Error, name);
          assert.equal(e.message, nativeLoadError(bytes, name.replace(/ /g, '_')), name);
          assert.ok(e.code > 0 && e.status.length > 0, name);
          return true;
        },
        name,
      );
    }
  }
  const m = await CopeModel.load(goldenBytes);
  assert.equal(m.trace([1, 2, 3]).T, 3);
  m.free();
});

test('errors on a loaded model leave it usable', async () => {
  const m = await CopeModel.load(goldenBytes);
  const ids = randomIds(10, m.config.vocab_size, 4);
  const before = flatTrace(m.trace(ids));
  assert.throws(
    () => m.trace([1, 99, 2]),
    (e) => e instanceof CopeError && /ids\[1\] = 99 is outside the vocabulary 0\.\.10/.test(e.message),
  );
  assert.throws(
    () => m.trace([]),
    (e) => e instanceof CopeError && /empty/.test(e.message),
  );
  assert.throws(
    () => m.trace([1, 1.5]),
    (e) => e instanceof CopeError && /not an integer/.test(e.message),
  );
  assert.throws(
    () => m.step(-1),
    (e) => e instanceof CopeError && /outside the vocabulary/.test(e.message),
  );
  assert.throws(() => m.piece(11), CopeError);
  assert.throws(
    () => m.sample('no-such-task', 1),
    (e) => /unknown task "no-such-task" \(tasks: .*toy/.test(e.message),
  );
  assert.throws(
    () => m.sample('toy', 1),
    (e) => /vocabulary lacks/.test(e.message),
  ); // not a toy model
  const c = compareTraces(flatTrace(m.trace(ids)), before, { atol: 0, rtol: 0 });
  assert.equal(c.worst, 0, c.where);
  m.free();
});

test('trace array names and status codes come from the core', async () => {
  const m = await CopeModel.load(goldenBytes);
  const ids = [1, 2, 3];
  const native = Object.keys(nativeTrace(GOLDEN, ids, 'names')).filter((k) => k.startsWith('layers.0.'));
  assert.deepEqual(
    m.traceArrays,
    native.map((k) => k.slice('layers.0.'.length)),
  );
  assert.deepEqual(Object.keys(m.trace(ids).layers[0]), m.traceArrays);
  assert.deepEqual(Object.keys(m.step(1).layers[0]), m.traceArrays);
  // an error the JS side raises carries the same code and words as the core's own of that kind
  const code = (f) => {
    try {
      f();
    } catch (e) {
      return [e.code, e.status];
    }
    assert.fail('no error');
  };
  const [jsCode, jsWords] = code(() => m.piece(11)); // checked in JS
  const [coreCode, coreWords] = code(() => m.step(-1)); // checked in the core
  assert.ok(jsCode > 0);
  assert.deepEqual([jsCode, jsWords], [coreCode, coreWords]);
  const [argCode, argWords] = code(() => m.trace([1, 1.5])); // COPE_ERR_ARG, raised in JS
  assert.ok(argCode > 0 && argCode !== jsCode && argWords === 'bad argument');
  m.free();
});

test('input longer than the context is a clear error', async () => {
  const m = await CopeModel.load(goldenBytes);
  const C = m.config.n_ctx;
  assert.throws(
    () => m.trace(randomIds(C + 1, m.config.vocab_size)),
    (e) =>
      e instanceof CopeError &&
      e.message === `sequence of ${C + 1} tokens exceeds the model's context n_ctx = ${C}` &&
      e.status.length > 0,
  );
  assert.equal(m.trace(randomIds(C, m.config.vocab_size)).T, C); // exactly n_ctx is fine
  const text = Array(C + 5)
    .fill('the')
    .join(' ');
  assert.throws(() => m.trace(m.tokenize(text).ids), /exceeds the model's context/);
  for (let t = 0; t < C; t++) m.step(1);
  assert.throws(
    () => m.step(1),
    (e) => e.message === `the context is full (n_ctx = ${C})`,
  );
  m.reset();
  assert.equal(m.step(1).t, 0);
  m.free();
});

test('tokenize: ids, spans in string indices, unknown words reported', async () => {
  const m = await CopeModel.load(goldenBytes);
  const text = 'The  cat sat on the Mätt and zebra\tran';
  const tk = m.tokenize(text);
  const v = (w) => m.vocab.indexOf(w);
  assert.deepEqual(Array.from(tk.ids), [
    v('the'),
    v('cat'),
    v('sat'),
    v('on'),
    v('the'),
    v('<unk>'),
    v('and'),
    v('<unk>'),
    v('ran'),
  ]);
  assert.equal(tk.unknown, 2);
  assert.deepEqual(tk.unknownPieces, ['Mätt', 'zebra']);
  assert.deepEqual(
    tk.spans.map(([s, e]) => text.slice(s, e)),
    ['The', 'cat', 'sat', 'on', 'the', 'Mätt', 'and', 'zebra', 'ran'],
  );
  assert.equal(m.detokenize(tk.ids), 'the cat sat on the <unk> and <unk> ran');
  assert.equal(m.tokenize('').ids.length, 0);
  assert.equal(m.tokenize('   ').ids.length, 0);
  m.free();
});

test('the text tokenizer: the same ids as native, spans in string indices, a break and its blank lines one token', async () => {
  // a language model of a small corpus (cope train --corpus): the "text" tokenizer
  const corpus = join(TMP, 'corpus.txt'),
    path = join(TMP, 'text.safetensors');
  const para = 'The café is open. Don\'t use os.path() here, use the "pathlib" module!';
  writeFileSync(corpus, `= Title =\n${para}\n\n= = Part = =\n${para}\n`.repeat(8));
  cope(
    'train',
    '--corpus',
    corpus,
    '--ctx',
    '32',
    '--steps',
    '1',
    '--dim',
    '8',
    '--heads',
    '2',
    '--layers',
    '1',
    '--out',
    path,
  );
  const m = await CopeModel.load(readFileSync(path));
  assert.equal(m.config.tokenizer, 'text');
  const text = '= The  Café =\n\n  \nUse os.path(), ZEBRA; or\tpathlib.\n',
    tk = m.tokenize(text),
    native = JSON.parse(cope('trace', path, '--text', text, '--json'));
  assert.deepEqual(Array.from(tk.ids), native.ids);
  assert.deepEqual(
    tk.spans.map(([s, e]) => text.slice(s, e)),
    [
      '=',
      'The',
      'Café',
      '=',
      '\n\n  \n',
      'Use',
      'os',
      '.',
      'path',
      '(',
      ')',
      ',',
      'ZEBRA',
      ';',
      'or',
      'pathlib',
      '.',
      '\n',
    ],
  );
  assert.deepEqual(tk.unknownPieces, ['ZEBRA', ';', 'or']);
  assert.equal(m.detokenize(m.tokenize('Use the café.').ids), 'use the café .');
  m.free();
});

test('trace: arrays on demand, buffers reused for shorter inputs, an old trace refuses to be read', async () => {
  const path = join(ROOT, 'tests/golden/cope.model.safetensors');
  const m = await CopeModel.load(readFileSync(path)),
    other = await CopeModel.load(readFileSync(path));
  const long = [1, 2, 3, 4, 5, 6, 7, 8],
    short = [3, 1, 4];
  const a = m.trace(long);
  const h = a.head(1, 1);
  assert.deepEqual(Array.from(h.attn), Array.from(a.layers[1].attn[1]));
  assert.deepEqual(Object.keys(h), m.traceArrays);
  const b = m.trace(short); // reuses the buffers of 8 tokens
  assert.throws(() => a.head(0, 0), /a newer trace of this model replaced this one/);
  assert.throws(() => a.layers[0].gates, /a newer trace/);
  const fresh = other.trace(short);
  for (const name of m.traceArrays)
    for (let l = 0; l < m.config.n_layer; l++)
      for (let hh = 0; hh < m.config.n_head; hh++)
        assert.deepEqual(Array.from(b.head(l, hh)[name]), Array.from(fresh.head(l, hh)[name]), `${name} ${l} ${hh}`);
  assert.deepEqual(Array.from(b.logits), Array.from(fresh.logits));
  assert.throws(() => b.head(0, 99), /no layer 0 head 99/);
  // a trace call that fails (here: past the buffers' capacity, then a bad id) still retires the old trace
  const c = m.trace(short);
  assert.throws(() => m.trace([...long, 99999]), CopeError);
  assert.throws(() => c.head(0, 0), /a newer trace/);
  m.free();
  other.free();
});

test('model info: config and vocabulary as the file says (native cope info --json)', async () => {
  for (const file of ['cope', 'cope_rel', 'cope_rope_sep']) {
    const path = join(ROOT, `tests/golden/${file}.model.safetensors`);
    const m = await CopeModel.load(readFileSync(path));
    const info = JSON.parse(cope('info', path, '--json'));
    for (const k of [
      'vocab_size',
      'n_ctx',
      'n_layer',
      'n_head',
      'd_model',
      'd_ff',
      'pe',
      'npos',
      'rel_max',
      'tied',
      'n_params',
    ])
      if (k in info) assert.equal(m.config[k], info[k], `${file}: ${k}`);
    assert.equal(m.config.sep_keys, info.cope_gate_keys === 'sep');
    assert.equal(m.config.per_head_table, info.cope_table === 'per-head');
    assert.equal(m.config.tokenizer, info.tokenizer.type);
    assert.deepEqual(m.vocab, info.tokenizer.vocab);
    assert.deepEqual(m.config.provenance, info.provenance);
    m.free();
  }
});

test('task sampling is deterministic per seed and matches native cope sample', async () => {
  const m = await CopeModel.load(toyModel());
  const text = (s) => {
    const k = s.scored.indexOf(1);
    return s.pieces.map((p, i) => (i === k ? `\t=> ${p}` : `${i ? ' ' : ''}${p}`)).join('');
  };
  for (const split of ['train', 'ood'])
    for (const seed of [0, 1, 42, 2 ** 40 + 3]) {
      const a = m.sample('toy', seed, split),
        b = m.sample('toy', seed, split);
      assert.deepEqual(a.ids, b.ids);
      assert.deepEqual(a.scored, b.scored);
      assert.equal(
        a.scored.reduce((x, y) => x + y, 0),
        1,
      );
      assert.equal(text(a), cope('sample', '--task', 'toy', '--split', split, '--seed', String(seed)).trim());
    }
  const seen = new Set(Array.from({ length: 20 }, (_, s) => m.sample('toy', s).ids.join(',')));
  assert.ok(seen.size > 10, 'different seeds give different examples');
  assert.deepEqual(m.sample('toy', 2n ** 64n - 1n).ids, m.sample('toy', 2n ** 64n - 1n).ids);
  assert.throws(() => m.sample('toy', -1), /seed -1/);
  assert.throws(() => m.sample('toy', 1, 'nosplit'), /has no split "nosplit"/);
  const splits = Object.fromEntries(m.tasks.map((t) => [t.name, t.splits]));
  assert.deepEqual(splits.toy, ['train', 'ood']);
  assert.deepEqual(splits.flipflop, ['train', 'ood-sparse', 'ood-dense']);
  m.free();
});

test('memory does not grow over 1,000 traces, steps and failed calls', async () => {
  const m = await CopeModel.load(toyModel());
  const { n_ctx: C, vocab_size: V } = m.config;
  const ids = randomIds(C, V, 9);
  m.trace(ids);
  m.trace(ids.slice(0, 5));
  m.step(1);
  const start = m.memoryBytes;
  for (let i = 0; i < 1000; i++) {
    m.trace(i % 2 ? ids : ids.slice(0, 5 + (i % 7))); // alternating lengths: the trace is remade
    m.tokenize('a b . a ?');
    if (i % 10 === 0) {
      m.reset();
      for (let t = 0; t < 5; t++) m.step(ids[t]);
    }
    if (i % 100 === 0) assert.throws(() => m.trace([V]));
  }
  assert.equal(m.memoryBytes, start);
  m.free();
});

test('the single-file module works alone and equals the module with .wasm files', async () => {
  const alone = join(TMP, 'alone.mjs');
  copyFileSync(join(WASM_DIR, 'cope.single.mjs'), alone); // no .wasm beside it
  const single = await import(alone);
  const ids = randomIds(16, 11, 5);
  for (const simd of [true, false]) {
    const a = await single.CopeModel.load(goldenBytes, { simd });
    const b = await CopeModel.load(goldenBytes, { simd });
    assert.equal(compareTraces(flatTrace(a.trace(ids)), flatTrace(b.trace(ids)), { atol: 0, rtol: 0 }).worst, 0);
    a.free();
    b.free();
  }
});

test('load from a path, a file: URL, an ArrayBuffer; calls after free() throw', async () => {
  const ab = goldenBytes.buffer.slice(goldenBytes.byteOffset, goldenBytes.byteOffset + goldenBytes.length);
  for (const src of [GOLDEN, new URL(`file://${GOLDEN}`), ab]) {
    const m = await CopeModel.load(src);
    assert.equal(m.config.vocab_size, 11);
    m.free();
    assert.throws(() => m.trace([1]), /freed/);
    m.free(); // twice is harmless
  }
  await assert.rejects(CopeModel.load(join(TMP, 'missing.safetensors')), /ENOENT/);
});
