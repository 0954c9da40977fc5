// query-view.js — the paper's Figure 1 for any query: the token strip with, for the selected query
// i, layer and head, every key's gate, position p_ij (integer crossings marked), CoPE logit and
// attention; beside it Chart.js charts of p_ij against key j (with the plain distance i - j) and
// of the attention.
import { RowChart, pngFigure, figureTitle } from './charts.js';
import { colour, textOn, fmt } from './scales.js';
import { showPiece } from './tasks.js';
import { GLOSSARY, VIEW_INTROS } from './glossary.js';
import { el, select, yieldTask } from './dom.js';

/** Keys the charts show around the query: the last W (a window) or all; "auto" windows long inputs. */
const WINDOWS = [
  ['auto', 'auto'],
  ['32', 'last 32'],
  ['64', 'last 64'],
  ['128', 'last 128'],
  ['all', 'all'],
];
export const AUTO_WINDOW = 64; // "auto": all keys up to this many, then the last 64
const STRIP_AHEAD = 8; // a windowed strip also shows this many keys after the query

/** Strip rows: [field, label, needs CoPE]. Values come from the head's arrays at row i. */
const ROWS = [
  ['gates', 'gate g_ij', true],
  ['positions', 'position p_ij', true],
  ['distance', 'distance i−j', false],
  ['cope_logits', 'CoPE logit c_ij', true],
  ['content_logits', 'content logit s_ij', false],
  ['attn', 'attention a_ij', false],
  ['pos_attn', 'position-only attn', false],
];

/** The crossing keys of a position row: j where floor(p_i,j-1) != floor(p_ij), 1 <= j <= i. */
export function integerCrossings(p, i) {
  const out = [];
  for (let j = 1; j <= i; j++) if (Math.floor(p[j - 1]) !== Math.floor(p[j])) out.push(j);
  return out;
}

export class QueryView {
  constructor(container, panel) {
    this.panel = panel;
    this.root = el('section', { class: 'query-view', 'aria-label': 'Query view (Figure 1)' });
    this.intro = el('p', { class: 'intro' }, VIEW_INTROS.query);
    this.caption = el('p', { class: 'caption', 'aria-live': 'polite' });
    this.stripWrap = el('div', {
      class: 'strip-wrap',
      tabindex: '0',
      role: 'region',
      'aria-label': 'Token strip: values of every key for the selected query',
    });
    this.table = el('table', { class: 'strip' });
    this.stripWrap.appendChild(this.table);
    const charts = el('div', { class: 'row-charts' });
    this.posBox = chartBox(
      this,
      'Position of each key seen from the query',
      'positions',
      `${GLOSSARY.positions} ${GLOSSARY.crossings} The grey dashed line is the plain token distance i − j.`,
    );
    this.attBox = chartBox(
      this,
      'Attention of the query over the keys',
      'attention',
      `Bars: ${GLOSSARY.attn} Line: ${GLOSSARY.pos_attn}`,
    );
    charts.append(this.posBox.box, this.attBox.box);
    this.windowSel = select('Keys in the charts', WINDOWS, 'auto', () => panel.render(), { 'data-ctl': 'window' });
    this.windowSel.wrap.title =
      'Long inputs: the charts show a window of keys ending at the query, so that its crossings and attention stay readable.';
    this.root.append(this.intro, this.caption, this.stripWrap, this.windowSel.wrap, charts);
    container.appendChild(this.root);
    this.built = null;
  }

  /**
   * Builds the strip's cells (once per input and window size); show() then only rewrites them. A
   * long input's strip holds the charts' window of keys and a few after the query, not every key:
   * rewriting 512 columns per step is what made stepping slow.
   */
  build(run, ncol) {
    this.table.textContent = '';
    const hasCope = run.model.hasCope;
    this.rows = ROWS.filter(([, , cope]) => hasCope || !cope);
    const mk = (tag, text, attrs) => {
      const c = el(tag, attrs);
      c.textContent = text;
      return c;
    };
    const cols = Array.from({ length: ncol });
    const head = el('tr', { class: 'tok-row' });
    head.appendChild(mk('th', 'token', { scope: 'row' }));
    this.tokCells = cols.map(() => head.appendChild(mk('th', '', { scope: 'col' })));
    const idx = el('tr', { class: 'idx-row' });
    idx.appendChild(mk('th', 'key j', { scope: 'row' }));
    this.idxCells = cols.map(() => idx.appendChild(mk('td', '')));
    this.table.append(head, idx);
    this.cells = {};
    for (const [field, label] of this.rows) {
      const tr = el('tr', { 'data-field': field });
      tr.appendChild(mk('th', label, { scope: 'row', tabindex: '0', 'data-tip': GLOSSARY[field], class: 'tip-host' }));
      this.cells[field] = cols.map(() => tr.appendChild(el('td')));
      this.table.appendChild(tr);
    }
    this.built = run;
    this.ncol = ncol;
    this.start = -1;
  }

  async show(run, layer, head, query) {
    const T = run.T,
      i = query,
      w = this.windowKeys(T, T - 1),
      ncol = w >= T ? T : Math.min(T, w + STRIP_AHEAD);
    if (this.built !== run || this.ncol !== ncol) this.build(run, ncol);
    const h = await run.head(layer, head);
    if (!this.panel.isCurrent(run)) return; // a newer input arrived meanwhile
    const th = this.panel.theme;
    const row = (name) => h[name].subarray(i * T, i * T + T);
    const vals = { distance: Float32Array.from({ length: T }, (_, j) => i - j) };
    for (const [field] of this.rows) if (field !== 'distance') vals[field] = row(field);
    const ranges = {
      gates: [0, 1],
      attn: [0, 1],
      pos_attn: [0, 1],
      positions: [0, Math.max(1, vals.positions ? vals.positions[0] : 1)],
    };
    const crossAt = run.model.hasCope ? integerCrossings(vals.positions, i) : [];
    const cross = new Set(crossAt);
    // the strip's first key: the window ending at the query, with STRIP_AHEAD keys after it
    const start = ncol === T ? 0 : Math.max(0, Math.min(T - ncol, i - (ncol - STRIP_AHEAD) + 1));
    if (start !== this.start) {
      this.tokCells.forEach((c, k) => {
        const j = start + k,
          p = run.pieces[j];
        c.textContent = showPiece(p);
        c.title = `key ${j}: ${JSON.stringify(p)}`;
        c.classList.toggle('unk', p === '<unk>');
        this.idxCells[k].textContent = String(j);
      });
      this.start = start;
    }
    this.tokCells.forEach((c, k) => {
      c.classList.toggle('query', start + k === i);
      c.classList.toggle('future', start + k > i);
    });
    const npos = run.model.config.npos;
    for (const [field] of this.rows) {
      const cs = this.cells[field],
        v = vals[field],
        r = ranges[field];
      for (let k = 0; k < ncol; k++) {
        const c = cs[k],
          j = start + k;
        if (j > i) {
          c.textContent = '';
          c.className = 'future';
          c.removeAttribute('data-v');
          c.style.background = '';
          c.style.color = '';
          continue;
        }
        c.textContent = field === 'distance' ? String(v[j]) : fmt(v[j]);
        c.dataset.v = String(v[j]);
        c.className = j === i ? 'query' : '';
        if (field === 'positions' && cross.has(j)) c.classList.add('cross');
        if (field === 'positions' && v[j] >= npos - 1 - 1e-6) c.classList.add('clamped');
        if (r) {
          c.style.background = colour(v[j], r[0], r[1]);
          c.style.color = textOn(v[j], r[0], r[1]);
        } else {
          c.style.background = '';
          c.style.color = '';
        }
      }
    }
    // keep the query's column in view by scrolling the strip only (never the page, e.g. while
    // playing); a sliding window keeps the query in the same column, and then nothing is read
    // (reading offsetLeft forces a layout of the whole page: half a step's time at 512 tokens)
    if (i - start !== this.queryCol || this.built !== this.scrolledFor) {
      const cell = this.tokCells[i - start],
        wrap = this.stripWrap;
      if (
        cell.offsetLeft < wrap.scrollLeft + 160 ||
        cell.offsetLeft + cell.offsetWidth > wrap.scrollLeft + wrap.clientWidth
      )
        wrap.scrollLeft = cell.offsetLeft - wrap.clientWidth / 2;
      this.queryCol = i - start;
      this.scrolledFor = this.built;
    }
    // the charts in a task of their own: a long input's step is then two short tasks, and input
    // (a key held down) is handled between them; so is the first draw, which builds the charts
    if (T > AUTO_WINDOW || !this.posBox.rc.chart) {
      await yieldTask();
      if (!this.panel.isCurrent(run)) return;
    }
    const pieces = run.pieces,
      pieceOf = (j) => pieces[j];
    const lo = i - this.windowKeys(T, i) + 1;
    const keys = Array.from({ length: i - lo + 1 }, (_, k) => lo + k);
    const pts = (a) => keys.map((j) => ({ x: j, y: a[j] }));
    const hasCope = run.model.hasCope;
    const posSets = [];
    if (hasCope)
      posSets.push({ label: 'CoPE position p_ij', data: pts(vals.positions), kind: 'line', color: 'accent' });
    posSets.push({ label: 'token distance i−j', data: pts(vals.distance), kind: 'dashed', color: 'muted' });
    // With CoPE the axis fits the positions (the distance line runs off the top far from the
    // query): p_ij is what the reader should be able to read off. p is largest at the window's first key.
    const pTop = hasCope ? Math.max(1, Math.ceil(vals.positions[lo])) : 0;
    const yMax = hasCope
      ? Math.max(pTop, Math.min(Math.max(1, i - lo), Math.max(6, 2 * (pTop + 1))))
      : Math.max(1, i - lo);
    const clamped = hasCope && vals.positions[lo] >= npos - 1 - 1e-6;
    this.posBox.chart = this.posBox.rc.update(th, {
      datasets: posSets,
      yTitle: 'position',
      yMin: 0,
      yMax,
      xMin: lo,
      xMax: i,
      query: i,
      crossingsAt: crossAt.filter((j) => j > lo).map((j) => j - 0.5),
      clampAt: hasCope ? npos - 1 : null,
      clampLabel: `npos − 1 = ${npos - 1}: positions stop here`,
      pieceOf,
    });
    if (!this.attBox.rc.chart) {
      await yieldTask(); // the first draw builds two charts: one task each
      if (!this.panel.isCurrent(run)) return;
    }
    this.attBox.chart = this.attBox.rc.update(th, {
      datasets: [
        { label: 'attention a_ij', data: pts(vals.attn), kind: 'bar', color: 'accent2' },
        { label: 'position-only (row max 1)', data: pts(vals.pos_attn), kind: 'line', color: 'accent' },
      ],
      yTitle: 'weight',
      yMin: 0,
      yMax: 1,
      xMin: lo,
      xMax: i,
      query: i,
      pieceOf,
    });
    const q = JSON.stringify(pieces[i]);
    const unit = hasCope
      ? `Gates near 1 mark the keys this head counts; p_ij sums the gates from key j up to the query, so p crosses an integer (dashed lines) at every counted key. ${crossAt.length} crossing${crossAt.length === 1 ? '' : 's'} for this query.${clamped ? ` Keys before ${firstClamped(vals.positions, i, npos)} all sit at npos − 1 = ${npos - 1}, the last position this model has: the head cannot tell them apart by position.` : ''}`
      : `This model has no CoPE (pe = ${run.model.config.pe}): its positions are token distances i−j.`;
    const win = lo > 0 ? ` The charts show keys ${lo}–${i} (of 0–${i}).` : '';
    this.caption.textContent = `Query i = ${i} ${q}, layer ${layer}, head ${head}. ${unit}${win}`;
    this.lastShown = { layer, head, query: i, vals, window: [lo, i], stripKeys: [start, start + ncol - 1] };
  }

  /** What an exported chart shows: this view's model, layer, head and query (in a compare column,
   * the baseline's own, clamped layer and head). */
  figureTitle() {
    return this.lastShown ? figureTitle(this.built, this.lastShown) : '';
  }

  /** How many keys, ending at query i of an input of T tokens, the charts show. */
  windowKeys(T, i) {
    const v = this.windowSel.select.value;
    const w = v === 'all' ? Infinity : v === 'auto' ? (T > AUTO_WINDOW ? AUTO_WINDOW : Infinity) : Number(v);
    return Math.min(i + 1, w);
  }

  /** What the strip and charts show now, for tests: numbers as drawn (data-v and chart data). */
  snapshot() {
    if (!this.lastShown) return null;
    const strip = {};
    for (const [field] of this.rows)
      strip[field] = this.cells[field]
        .filter((c) => c.dataset.v !== undefined && !c.classList.contains('future'))
        .map((c) => Number(c.dataset.v));
    const chart = (b) => Object.fromEntries(b.chart.data.datasets.map((d) => [d.label, d.data.map((p) => p.y)]));
    return { ...this.lastShown, vals: undefined, strip, posChart: chart(this.posBox), attChart: chart(this.attBox) };
  }
}

/** The first key (counting back from the query) whose position has reached npos − 1. */
function firstClamped(p, i, npos) {
  let j = i;
  while (j > 0 && p[j - 1] < npos - 1 - 1e-6) j--;
  return j;
}

/** A figure with a canvas for one row chart; its PNG is named after the chart and the query. */
function chartBox(view, title, name, tip) {
  const b = { chart: null, view, canvas: el('canvas', { role: 'img', 'aria-label': title }) };
  b.rc = new RowChart(b.canvas);
  const fileName = () => {
    const s = view.lastShown || view.panel.state;
    return `cope-${name}-L${s.layer}H${s.head}-q${s.query}`;
  };
  const fig = pngFigure('chart', title, {
    fileName,
    tip,
    draw: (holder, th) => b.rc.drawAgain(holder, th),
    titleLine: () => b.view.figureTitle(),
  });
  fig.holder.appendChild(b.canvas);
  b.box = fig.box;
  return b;
}
