// charts.js — Chart.js set-up and the heatmap used by every map on the page. A heatmap is a
// Chart.js chart (axes, hover, PNG export are the same everywhere) whose cells are one bitmap, a
// pixel per cell, scaled into the chart area: T*T/2 chart elements would cost Chart.js ~20 µs each
// to resolve (a 57-token map took 30 ms; 512 tokens are 131k cells per map).
import {
  Chart,
  LineController,
  BarController,
  LineElement,
  PointElement,
  BarElement,
  LinearScale,
  Legend,
  Tooltip,
  Filler,
} from 'chart.js';
import { LUT, lutIndex, fmt } from './scales.js';
import { el, button } from './dom.js';
import { showPiece } from './tasks.js';

Chart.register(
  LineController,
  BarController,
  LineElement,
  PointElement,
  BarElement,
  LinearScale,
  Legend,
  Tooltip,
  Filler,
);

/** Colours of the current theme, read from the CSS custom properties of el. */
export function theme(el) {
  const s = getComputedStyle(el);
  const v = (n, d) => s.getPropertyValue(n).trim() || d;
  return {
    fg: v('--fg', '#222'),
    bg: v('--bg', '#fff'),
    muted: v('--muted', '#666'),
    grid: v('--grid', '#ddd'),
    accent: v('--accent', '#d55e00'),
    accent2: v('--accent2', '#0072b2'),
    marker: v('--marker', '#000'),
  };
}

/** The light theme (style.css's :root): exported figures use it whatever the page shows. */
export const LIGHT = {
  fg: '#1b1b1f',
  bg: '#ffffff',
  muted: '#5c5f66',
  grid: '#d9dbe0',
  accent: '#d55e00',
  accent2: '#0072b2',
  marker: '#000000',
};

/** Paints the canvas background, so exported PNGs are not transparent. */
const background = {
  id: 'copeBackground',
  beforeDraw(chart, _args, opts) {
    const { ctx, width, height } = chart;
    ctx.save();
    ctx.fillStyle = opts.color || '#fff';
    ctx.fillRect(0, 0, width, height);
    ctx.restore();
  },
};
Chart.register(background);

/** Saves a data URL as a file. */
function download(url, name) {
  const a = document.createElement('a');
  a.href = url;
  a.download = `${name.replace(/[^\w.-]+/g, '_')}.png`;
  document.body.appendChild(a);
  a.click();
  a.remove();
}

/** An exported figure's title line: what it shows (model, layer, head, the query and its token). */
export function figureTitle(run, { layer, head, query }) {
  if (!run) return '';
  return `${run.model.name} · layer ${layer} head ${head} · query ${query} ${JSON.stringify(showPiece(run.pieces[query]))}`;
}

/** Export size (CSS pixels, drawn at 2x) of each kind of figure. */
const EXPORT_SIZE = { chart: [900, 420], map: [820, 760] };

/**
 * A figure for export: draw(holder, LIGHT) builds the chart again, light, at twice the pixels, in
 * an off-screen holder of the kind's size; the PNG is that chart under a title line. Returns the
 * PNG's data URL (the caller downloads it), or null when there is nothing drawn yet.
 */
export function exportFigure(kind, draw, title) {
  const [w, h] = EXPORT_SIZE[kind];
  const holder = el('div');
  holder.style.cssText = `position:fixed;left:-${w + 100}px;top:0;width:${w}px;height:${h}px`; // CSSOM: no style attribute under the CSP
  document.body.appendChild(holder);
  let chart;
  try {
    chart = draw(holder, LIGHT);
    if (!chart) return null;
    const img = chart.canvas,
      band = 56;
    const out = document.createElement('canvas');
    out.width = img.width;
    out.height = img.height + band;
    const g = out.getContext('2d');
    g.fillStyle = LIGHT.bg;
    g.fillRect(0, 0, out.width, out.height);
    g.fillStyle = LIGHT.fg;
    g.font = '600 26px system-ui, sans-serif';
    g.textBaseline = 'middle';
    g.fillText(title, 20, band / 2, out.width - 40);
    g.drawImage(img, 0, band);
    return out.toDataURL('image/png');
  } finally {
    chart?.destroy();
    holder.remove();
  }
}

/**
 * A figure for one chart with its title and a PNG button in the caption; every chart on the page
 * sits in one. kind 'chart' or 'map' (the CSS classes kind-box and kind-holder); fileName() the
 * name to save it as; tip, the glossary text of the title; draw(holder, th) builds the chart again
 * for the PNG (exportFigure) and titleLine() says what it shows (model, layer, head, query). The
 * chart goes in holder.
 */
export function pngFigure(kind, title, { fileName, attrs = {}, tip, draw, titleLine }) {
  const box = el('figure', { class: `${kind}-box`, ...attrs });
  const cap = el('figcaption');
  const save = () => {
    const url = exportFigure(kind, draw, `${titleLine()} — ${title}`);
    if (url) download(url, fileName());
  };
  const name = tip ? el('span', { class: 'tip-host', tabindex: '0', 'data-tip': tip }, title) : el('span', {}, title);
  cap.append(name, button('PNG', save, { class: 'png', title: `Save “${title}” as PNG` }));
  const holder = el('div', { class: `${kind}-holder` });
  box.append(cap, holder);
  return { box, holder };
}

/** Common options of every chart: theme colours, no animation (stepping must feel instant). */
export function baseOptions(th, dpr) {
  return {
    ...(dpr ? { devicePixelRatio: dpr } : {}),
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    color: th.fg,
    plugins: { copeBackground: { color: th.bg }, legend: { labels: { color: th.fg, boxWidth: 14 } } },
  };
}

/** Only integer ticks (the axes run from -0.5 so that cells and bars centre on integers). */
const integerTicks = (a) => {
  a.ticks = a.ticks.filter((t) => Number.isInteger(t.value));
};

function axis(th, title, extra = {}) {
  return {
    type: 'linear',
    title: { display: !!title, text: title, color: th.fg },
    afterBuildTicks: integerTicks,
    ticks: { color: th.muted },
    grid: { color: th.grid },
    border: { color: th.grid },
    ...extra,
  };
}

// ---------------------------------------------------------------------------------------------
// Heatmap

/**
 * A map of a [T*T] array (rows = queries i, columns = keys j <= i).
 *   hm = new Heatmap(container, { title, onHover(i, j, x, y), onLeave(), onClick(i, j) })
 *   hm.update({ data, T, range: [lo, hi], markers: Set of token indices, query, th, pieces })
 * (pieces: the tokens, which label the axes' ticks)
 */
export class Heatmap {
  /** opts: title, onHover(i, j, event), onLeave(), onClick(i, j), dpr (device pixel ratio, for export) */
  constructor(container, opts) {
    this.opts = opts;
    this.canvas = document.createElement('canvas');
    this.canvas.$heatmap = this; // the overlay plugin finds its heatmap here (also while the chart is built)
    this.canvas.setAttribute('role', 'img');
    this.canvas.setAttribute('aria-label', opts.title);
    container.appendChild(this.canvas);
    this.chart = null;
    this.canvas.addEventListener('mouseleave', () => opts.onLeave?.());
  }

  /** Token (i, j) under a pointer event, or null. */
  cellAt(e) {
    const c = this.chart;
    if (!c || !this.state) return null;
    const { left, right, top, bottom } = c.chartArea;
    if (e.x < left || e.x > right || e.y < top || e.y > bottom) return null;
    const j = Math.round(c.scales.x.getValueForPixel(e.x)),
      i = Math.round(c.scales.y.getValueForPixel(e.y));
    const T = this.state.T;
    if (i < 0 || j < 0 || i >= T || j >= T || j > i) return null;
    return { i, j };
  }

  update(state) {
    this.state = state;
    const { T, th } = state;
    this.bitmap = paintBitmap((this.bitmapCanvas ||= document.createElement('canvas')), state.data, T, state.range);
    if (this.chart && this.chart.$T === T && this.chart.$th === th) {
      this.chart.update('none');
      return;
    }
    this.chart?.destroy();
    const self = this;
    const o = baseOptions(th, this.opts.dpr);
    this.chart = new Chart(this.canvas, {
      type: 'line',
      data: { datasets: [] },
      options: {
        ...o,
        layout: { padding: { right: 58, top: 4 } },
        plugins: { ...o.plugins, legend: { display: false }, tooltip: { enabled: false } },
        scales: {
          x: axis(th, 'key j', {
            min: -0.5,
            max: T - 0.5,
            offset: false,
            grid: { display: false },
            afterBuildTicks: (a) => {
              a.ticks = keyTicks(0, T - 1, [self.state.query], ticksFor(self.canvas)).map((value) => ({ value }));
            },
            ticks: {
              color: th.muted,
              autoSkip: false,
              maxRotation: 0,
              callback: (v) => keyLabel(v, self.state.pieces && ((j) => self.state.pieces[j])),
            },
          }),
          y: axis(th, 'query i', {
            min: -0.5,
            max: T - 0.5,
            reverse: true,
            offset: false,
            grid: { display: false },
            afterBuildTicks: (a) => {
              const rows = Math.max(4, Math.floor((self.canvas.clientHeight || 300) / 22));
              a.ticks = keyTicks(0, T - 1, [self.state.query], rows).map((value) => ({ value }));
            },
            ticks: {
              color: th.muted,
              autoSkip: false,
              callback: (v) => {
                const l = keyLabel(v, self.state.pieces && ((j) => self.state.pieces[j]));
                return Array.isArray(l) ? `${l[1]} ${l[0]}` : l;
              },
            },
          }),
        },
        onHover(e) {
          const cell = self.cellAt(e);
          if (cell) self.opts.onHover?.(cell.i, cell.j, e.native);
          else self.opts.onLeave?.();
        },
        onClick(e) {
          const cell = self.cellAt(e);
          if (cell) self.opts.onClick?.(cell.i, cell.j);
        },
      },
      plugins: [heatmapOverlay],
    });
    this.chart.$T = T;
    this.chart.$th = th;
  }

  /** The same map, light and at 2x, in holder (for exportFigure). */
  drawAgain(holder, th) {
    if (!this.state) return null; // not drawn yet
    const hm = new Heatmap(holder, { title: this.opts.title, dpr: 2 });
    hm.update({ ...this.state, th });
    return hm.chart;
  }

  destroy() {
    this.chart?.destroy();
    this.chart = null;
  }
}

/**
 * Paints an n x n map (rows = queries i, columns = keys j) into canvas, resized to n x n: one pixel
 * per cell, viridis over [lo, hi]. Cells above the diagonal (j > i) and NaN cells stay transparent.
 * Every heatmap's cells and the head grid's thumbnails are drawn with it.
 */
export function paintBitmap(canvas, data, n, [lo, hi]) {
  canvas.width = n;
  canvas.height = n;
  const g = canvas.getContext('2d'),
    img = g.createImageData(n, n),
    px = img.data;
  for (let i = 0; i < n; i++)
    for (let j = 0; j <= i; j++) {
      const v = data[i * n + j];
      if (Number.isNaN(v)) continue;
      const [r, gg, b] = LUT[lutIndex(v, lo, hi)],
        k = 4 * (i * n + j);
      px[k] = r;
      px[k + 1] = gg;
      px[k + 2] = b;
      px[k + 3] = 255;
    }
  g.putImageData(img, 0, 0);
  return canvas;
}

/** Bitmap cells, boundary markers (+ on the diagonal, as in the paper), the query row, colour bar. */
const heatmapOverlay = {
  id: 'copeHeatmap',
  beforeDatasetsDraw(chart) {
    const hm = chart.canvas.$heatmap;
    if (!hm.bitmap) return;
    const { ctx, chartArea: a } = chart;
    ctx.save();
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(hm.bitmap, a.left, a.top, a.right - a.left, a.bottom - a.top);
    ctx.restore();
  },
  afterDatasetsDraw(chart) {
    const hm = chart.canvas.$heatmap,
      st = hm.state;
    if (!st) return;
    const {
      ctx,
      chartArea: a,
      scales: { x, y },
    } = chart;
    const { T, th } = st;
    ctx.save();
    const cell = (a.right - a.left) / T;
    const arm = Math.max(3, Math.min(7, cell * 1.5));
    const lw = Math.max(1.5, Math.min(3, cell / 2));
    // a + with a halo in the background colour, so it reads on every colour of the scale
    for (const [colourOf, w] of [
      [th.bg, lw + 2.5],
      [th.marker, lw],
    ]) {
      ctx.strokeStyle = colourOf;
      ctx.lineWidth = w;
      ctx.beginPath();
      for (const k of st.markers || []) {
        const px = x.getPixelForValue(k),
          py = y.getPixelForValue(k);
        ctx.moveTo(px - arm, py);
        ctx.lineTo(px + arm, py);
        ctx.moveTo(px, py - arm);
        ctx.lineTo(px, py + arm);
      }
      ctx.stroke();
    }
    if (st.query !== undefined && st.query !== null) {
      // the selected query row
      const top = y.getPixelForValue(st.query - 0.5),
        bot = y.getPixelForValue(st.query + 0.5);
      ctx.strokeStyle = th.accent;
      ctx.lineWidth = 1.5;
      ctx.strokeRect(a.left, top, x.getPixelForValue(st.query + 0.5) - a.left, bot - top);
    }
    // colour bar in the right padding
    const bx = a.right + 14,
      bw = 12,
      bh = Math.floor(a.bottom - a.top);
    for (let k = 0; k < bh; k++) {
      const [r, g, b] = LUT[Math.round(255 * (1 - k / Math.max(1, bh - 1)))];
      ctx.fillStyle = `rgb(${r},${g},${b})`;
      ctx.fillRect(bx, a.top + k, bw, 1);
    }
    ctx.fillStyle = th.fg;
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    ctx.fillText(fmt(st.range[1], Math.abs(st.range[1]) < 10 ? 2 : 1), bx + bw + 3, a.top + 5);
    ctx.fillText(fmt(st.range[0], Math.abs(st.range[0]) < 10 ? 2 : 1), bx + bw + 3, a.bottom - 5);
    ctx.restore();
  },
};

// ---------------------------------------------------------------------------------------------
// Line and bar charts of one query row (the query view)

/** Vertical marks where the plotted position crosses an integer between neighbouring keys. */
const crossings = {
  id: 'copeCrossings',
  afterDatasetsDraw(chart, _args, opts) {
    const xs = opts.at;
    if (!xs?.length) return;
    const {
      ctx,
      chartArea: a,
      scales: { x },
    } = chart;
    ctx.save();
    ctx.strokeStyle = opts.color;
    ctx.setLineDash([3, 3]);
    ctx.lineWidth = 1;
    for (const c of xs) {
      const px = x.getPixelForValue(c);
      ctx.beginPath();
      ctx.moveTo(px, a.top);
      ctx.lineTo(px, a.bottom);
      ctx.stroke();
    }
    ctx.restore();
  },
};

/** A dashed horizontal line at y = opts.at with a label (the CoPE clamp at npos − 1). */
const clampLine = {
  id: 'copeClamp',
  afterDatasetsDraw(chart, _args, opts) {
    if (opts.at === undefined || opts.at === null) return;
    const {
      ctx,
      chartArea: a,
      scales: { y },
    } = chart;
    if (opts.at > y.max || opts.at < y.min) return;
    const py = y.getPixelForValue(opts.at);
    ctx.save();
    ctx.strokeStyle = opts.color;
    ctx.fillStyle = opts.color;
    ctx.setLineDash([2, 4]);
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.moveTo(a.left, py);
    ctx.lineTo(a.right, py);
    ctx.stroke();
    ctx.font = '11px system-ui, sans-serif';
    ctx.textAlign = 'left';
    ctx.textBaseline = 'bottom';
    ctx.fillText(opts.label, a.left + 4, py - 2);
    ctx.restore();
  },
};

/**
 * The ticks of a key axis from lo to hi: every key when they fit, else every k-th (k = 2, 5, 10,
 * 20, 25, 50, ...) so that at most maxTicks show, always with lo, hi and the keys in `keep` (the
 * query); a stepped tick closer than half a step to one of those is dropped.
 */
export function keyTicks(lo, hi, keep = [], maxTicks = 16) {
  const n = hi - lo + 1,
    m = Math.max(2, maxTicks);
  const step = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000].find((k) => n / k <= m) ?? Math.ceil(n / m);
  const fixed = [lo, hi, ...keep.filter((k) => k >= lo && k <= hi)];
  const out = new Set(fixed);
  for (let v = Math.ceil(lo / step) * step; v <= hi; v += step)
    if (!fixed.some((f) => f !== v && Math.abs(f - v) < step / 2)) out.add(v);
  return [...out].sort((x, y) => x - y);
}

/** How many key ticks fit a canvas of this width: about 44 px each (an index and a token). */
export function ticksFor(canvas) {
  return Math.max(4, Math.floor(((canvas.clientWidth || 600) - 70) / 44));
}

/** A key axis's tick label: the index and, below it, its token (cut to 7 characters). */
export function keyLabel(v, pieceOf) {
  const p = pieceOf ? pieceOf(v) : undefined;
  if (p === undefined) return String(v);
  const shown = showPiece(p);
  return [String(v), shown.length > 7 ? shown.slice(0, 6) + '…' : shown];
}

/**
 * A chart of values against key j for one query, updated in place while stepping (building a
 * Chart.js chart per step is what made long inputs slow).
 *   rc = new RowChart(canvas); rc.update(th, spec)
 * spec: datasets [{ label, data: [{x, y}], kind: 'line' | 'dashed' | 'bar', color (a theme key) }], yTitle, yMin,
 * yMax, xMin, xMax (the keys shown), crossingsAt, clampAt / clampLabel (a dashed line), query (a
 * tick always), pieceOf(j) (the token of key j, for tooltips and, when few keys show, the axis).
 */
export class RowChart {
  constructor(canvas, { dpr } = {}) {
    this.canvas = canvas;
    this.dpr = dpr;
    this.chart = null;
  }

  /** The same chart, light and at 2x, in holder (for exportFigure). */
  drawAgain(holder, th) {
    if (!this.spec) return null; // not drawn yet
    const c = el('canvas');
    holder.appendChild(c);
    return new RowChart(c, { dpr: 2 }).update(th, this.spec);
  }

  update(th, spec) {
    this.spec = spec;
    const shape = spec.datasets.map((d) => `${d.label}|${d.kind}`).join(',');
    if (!this.chart || this.th !== th || this.shape !== shape) {
      this.chart?.destroy();
      this.chart = this.build(th, spec);
      this.th = th;
      this.shape = shape;
      return this.chart;
    }
    const c = this.chart;
    spec.datasets.forEach((d, k) => {
      c.data.datasets[k].data = d.data;
    });
    Object.assign(c.options.scales.x, { min: spec.xMin - 0.5, max: spec.xMax + 0.5 });
    Object.assign(c.options.scales.y, { min: spec.yMin, max: spec.yMax });
    c.options.scales.y.title.text = spec.yTitle;
    c.options.plugins.copeCrossings.at = spec.crossingsAt || [];
    Object.assign(c.options.plugins.copeClamp, { at: spec.clampAt, label: spec.clampLabel || '' });
    c.update('none');
    return c;
  }

  build(th, spec) {
    const o = baseOptions(th, this.dpr),
      self = this;
    return new Chart(this.canvas, {
      type: 'line',
      data: {
        datasets: spec.datasets.map((d) => ({
          type: d.kind === 'bar' ? 'bar' : 'line',
          label: d.label,
          data: d.data,
          borderColor: th[d.color],
          backgroundColor: th[d.color],
          borderDash: d.kind === 'dashed' ? [6, 4] : [],
          pointRadius: d.kind === 'dashed' ? 0 : 2.5,
          borderWidth: d.kind === 'bar' ? 0 : 2,
          barPercentage: 1,
          categoryPercentage: 0.9,
          parsing: false,
          order: d.kind === 'bar' ? 2 : 1,
        })),
      },
      options: {
        ...o,
        interaction: { mode: 'nearest', axis: 'x', intersect: false },
        plugins: {
          ...o.plugins,
          copeCrossings: { at: spec.crossingsAt || [], color: th.accent },
          copeClamp: { at: spec.clampAt, label: spec.clampLabel || '', color: th.muted },
          tooltip: {
            callbacks: {
              title: (items) =>
                items.length
                  ? `key j = ${items[0].parsed.x}  ${JSON.stringify(self.spec.pieceOf(items[0].parsed.x))}`
                  : '',
              label: (item) => `${item.dataset.label}: ${fmt(item.parsed.y, 3)}`,
            },
          },
        },
        scales: {
          x: axis(th, 'key j', {
            min: spec.xMin - 0.5,
            max: spec.xMax + 0.5,
            offset: false,
            afterBuildTicks: (a) => {
              const { xMin, xMax, query } = self.spec;
              a.ticks = keyTicks(xMin, xMax, [query], ticksFor(self.canvas)).map((value) => ({ value }));
            },
            ticks: {
              color: th.muted,
              autoSkip: false,
              maxRotation: 0,
              callback: (v) => keyLabel(v, self.spec.pieceOf),
            },
          }),
          y: axis(th, spec.yTitle, { min: spec.yMin, max: spec.yMax, ticks: { color: th.muted, precision: 0 } }),
        },
      },
      plugins: [crossings, clampLine],
    });
  }
}

/**
 * Curves against the training step (the Train view's loss and error), updated in place.
 *   cc = new CurveChart(canvas); cc.update(th, { datasets: [{ label, data: [{x, y}], color }], yTitle, yMin, yMax })
 */
export class CurveChart {
  constructor(canvas) {
    this.canvas = canvas;
    this.chart = null;
  }

  update(th, spec) {
    const shape = spec.datasets.map((d) => d.label).join(',');
    if (!this.chart || this.th !== th || this.shape !== shape) {
      this.chart?.destroy();
      const o = baseOptions(th);
      this.chart = new Chart(this.canvas, {
        type: 'line',
        data: {
          datasets: spec.datasets.map((d) => ({
            label: d.label,
            data: d.data,
            borderColor: th[d.color],
            backgroundColor: th[d.color],
            pointRadius: 0,
            borderWidth: 2,
            parsing: false,
          })),
        },
        options: {
          ...o,
          interaction: { mode: 'nearest', axis: 'x', intersect: false },
          plugins: {
            ...o.plugins,
            legend: { display: true, labels: { color: th.fg, boxHeight: 2 } },
            tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${fmt(item.parsed.y, 3)}` } },
          },
          scales: {
            x: axis(th, 'training step', { min: 0, ticks: { color: th.muted, maxTicksLimit: 8 } }),
            y: axis(th, spec.yTitle, { min: spec.yMin, max: spec.yMax, ticks: { color: th.muted } }),
          },
        },
      });
      this.th = th;
      this.shape = shape;
      return this.chart;
    }
    spec.datasets.forEach((d, k) => {
      this.chart.data.datasets[k].data = d.data;
    });
    this.chart.update('none');
    return this.chart;
  }

  destroy() {
    this.chart?.destroy();
    this.chart = null;
  }
}
