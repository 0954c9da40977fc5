// single.mjs — writes the embeddable single-file module: cope.mjs with both .wasm builds inlined
// in base64 (so a blog widget needs one file and no server configuration).
// Usage: node wasm/single.mjs OUT.mjs cope.mjs cope-simd.wasm cope-scalar.wasm
import { readFileSync, writeFileSync } from 'node:fs';

const [out, src, simd, scalar] = process.argv.slice(2);
const marker = 'const EMBEDDED = null;';
const text = readFileSync(src, 'utf8');
if (!text.includes(marker)) throw new Error(`${src} lacks the line "${marker}"`);
const b64 = (f) => readFileSync(f).toString('base64');
writeFileSync(out, text.replace(marker, `const EMBEDDED = { simd: '${b64(simd)}', scalar: '${b64(scalar)}' };`));
