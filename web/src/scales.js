// scales.js — the colour scale (viridis: perceptually uniform and readable with the common forms
// of colour blindness, also in greyscale) and number formatting shared by every view.

// viridis at 0, 1/8, ..., 1 (matplotlib's table, sampled); linear in between.
const VIRIDIS = [
  [68, 1, 84],
  [72, 40, 120],
  [62, 73, 137],
  [49, 104, 142],
  [38, 130, 142],
  [31, 158, 137],
  [53, 183, 121],
  [110, 206, 88],
  [253, 231, 37],
];

/** 256-entry lookup table of [r, g, b]. */
export const LUT = Array.from({ length: 256 }, (_, k) => {
  const x = (k / 255) * (VIRIDIS.length - 1),
    i = Math.min(Math.floor(x), VIRIDIS.length - 2),
    f = x - i;
  return VIRIDIS[i].map((c, n) => Math.round(c + f * (VIRIDIS[i + 1][n] - c)));
});

/** Index into LUT of v on [lo, hi] (clamped). */
export function lutIndex(v, lo, hi) {
  const t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
  return Math.max(0, Math.min(255, Math.round(t * 255)));
}

export function colour(v, lo, hi) {
  const [r, g, b] = LUT[lutIndex(v, lo, hi)];
  return `rgb(${r},${g},${b})`;
}

/** Black or white text, whichever reads on the colour of v. */
export function textOn(v, lo, hi) {
  const [r, g, b] = LUT[lutIndex(v, lo, hi)];
  return 0.299 * r + 0.587 * g + 0.114 * b > 140 ? '#000' : '#fff';
}

/** A number for a table cell or a tooltip: short, and honest about tiny values. */
export function fmt(v, digits = 2) {
  if (v === undefined || v === null || Number.isNaN(v)) return '–';
  if (v !== 0 && Math.abs(v) < 0.5 * 10 ** -digits) return v.toExponential(0);
  return v.toFixed(digits);
}

/** [min, max] over the causal part (j <= i) of a [T*T] map, or the fixed range of a kind. */
export function mapRange(kind, a, T) {
  if (kind === 'pos_attn' || kind === 'gates') return [0, 1];
  if (kind === 'attn') {
    // 0 .. the largest weight outside row 0 (which is always 1): long inputs spread attention thin,
    // and a fixed 0..1 scale would paint them a uniform dark
    let hi = 0;
    for (let i = 1; i < T; i++) for (let j = 0; j <= i; j++) hi = Math.max(hi, a[i * T + j]);
    return [0, hi > 0 ? hi : 1];
  }
  let lo = Infinity,
    hi = -Infinity;
  for (let i = 0; i < T; i++)
    for (let j = 0; j <= i; j++) {
      const v = a[i * T + j];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  if (kind === 'positions') lo = 0;
  if (!(hi > lo)) hi = lo + 1;
  return [lo, hi];
}
