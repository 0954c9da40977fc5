// sequence-view.js — the paper's Figure 4 for the whole input: heatmaps (rows = queries, columns =
// keys) of the position-only attention (row max 1), the attention, the gates and the positions of
// the selected head, boundary markers on chosen tokens, hover details, and a layers x heads grid
// of small maps to pick a head from.
import { Heatmap, pngFigure, paintBitmap } from './charts.js';
import { mapRange, fmt } from './scales.js';
import { el, button, select, yieldTask } from './dom.js';
import { GLOSSARY, VIEW_INTROS } from './glossary.js';

export const MAPS = [
  ['pos_attn', 'Position-only attention (row max 1)', true],
  ['attn', 'Attention a_ij', false],
  ['gates', 'Gates g_ij', true],
  ['positions', 'Positions p_ij', true],
];

/** The numbers of one cell, as lines of text (the hover box). */
export function cellLines(run, h, i, j) {
  const T = run.T,
    k = i * T + j,
    p = h.positions[k];
  const lines = [
    `query i = ${i} ${JSON.stringify(run.pieces[i])}`,
    `key j = ${j} ${JSON.stringify(run.pieces[j])}   (i−j = ${i - j})`,
    `content logit s_ij = ${fmt(h.content_logits[k], 3)}`,
  ];
  if (run.model.hasCope) {
    const lo = Math.floor(p),
      hi = Math.ceil(p);
    lines.push(
      `gate g_ij = ${fmt(h.gates[k], 3)}`,
      `position p_ij = ${fmt(p, 3)}  (floor ${lo}, ceil ${hi}, weight ${fmt(p - lo, 3)})`,
      `CoPE logit c_ij = ${fmt(h.cope_logits[k], 3)}`,
    );
  }
  lines.push(`position-only attention = ${fmt(h.pos_attn[k], 3)}`, `attention a_ij = ${fmt(h.attn[k], 3)}`);
  return lines;
}

export class SequenceView {
  constructor(container, panel) {
    this.panel = panel;
    this.root = el('section', { class: 'sequence-view', 'aria-label': 'Sequence view (Figure 4)' });
    const bar = el('div', { class: 'toolbar' });
    this.gridKind = select(
      'Head grid shows',
      MAPS.map(([k, t]) => [k, t]),
      'pos_attn',
      () => this.drawGrid(),
    );
    bar.append(this.gridKind.wrap);
    this.grid = el('div', { class: 'head-grid', role: 'group', 'aria-label': 'Layers × heads: choose a head' });
    this.maps = el('div', { class: 'maps' });
    this.tip = el('div', { class: 'tip', role: 'status', hidden: true });
    this.note = el('p', { class: 'caption' });
    this.root.append(el('p', { class: 'intro' }, VIEW_INTROS.sequence), this.note, bar, this.grid, this.maps, this.tip);
    container.appendChild(this.root);
    this.heatmaps = MAPS.map(([kind, title, cope]) => {
      const { box, holder } = pngFigure('map', title, {
        draw: (h, th) => hm.drawAgain(h, th),
        titleLine: () => panel.figureTitle(),
        fileName: () => `cope-${kind}-L${panel.state.layer}H${panel.state.head}`,
        attrs: { 'data-kind': kind },
        tip: `${GLOSSARY[kind]} ${GLOSSARY.markers}`,
      });
      this.maps.appendChild(box);
      const hm = new Heatmap(holder, {
        title,
        onHover: (i, j, ev) => this.hover(i, j, ev),
        onLeave: () => {
          this.tip.hidden = true;
        },
        onClick: (i) => panel.set({ query: i }),
      });
      // Keyboard: focus a map, arrows move a cell cursor and show its numbers, Enter makes its row the query.
      hm.canvas.tabIndex = 0;
      hm.canvas.setAttribute('aria-label', `${title}: arrows show a cell's numbers, Enter selects its row`);
      hm.canvas.addEventListener('keydown', (e) => this.cellKey(e, hm));
      hm.canvas.addEventListener('blur', () => {
        this.tip.hidden = true;
      });
      return { kind, title, cope, box, hm };
    });
  }

  async show(run, layer, head, query) {
    const h = await run.head(layer, head);
    if (!this.panel.isCurrent(run)) return;
    this.h = h;
    this.shownRun = run;
    const T = run.T,
      th = this.panel.theme,
      markers = this.panel.markerIndices();
    for (const m of this.heatmaps) {
      const on = run.model.hasCope || !m.cope || m.kind === 'pos_attn';
      m.box.hidden = !on;
      if (!on) continue;
      if (!m.hm.chart) {
        await yieldTask(); // the first draw builds the charts (~35 ms each): one task each
        if (!this.panel.isCurrent(run)) return;
      }
      m.hm.update({
        data: h[m.kind],
        T,
        range: mapRange(m.kind, h[m.kind], T),
        markers,
        query,
        th,
        pieces: run.pieces,
      });
    }
    this.note.textContent = run.model.hasCope
      ? `Layer ${layer}, head ${head}. + marks the boundary tokens. A head that counts paragraphs or statements shows blocks: every query attends by position to the keys since the last boundary. Hover a cell for its numbers; click to make its row the query.`
      : `Layer ${layer}, head ${head}. This model has no CoPE (pe = ${run.model.config.pe}): no gates or contextual positions; its position-only attention comes from ${run.model.config.pe === 'rel' ? 'the relative-position term' : 'nothing (all ones)'}.`;
    await this.drawGrid();
  }

  /** The layers x heads grid: one small bitmap per head, a button to select it. */
  async drawGrid() {
    const run = this.shownRun;
    if (!run) return;
    const kind = this.gridKind.select.value;
    const thumbs = await run.thumbs(kind);
    if (!this.panel.isCurrent(run)) return;
    const { layer, head } = this.panel.state;
    this.grid.textContent = '';
    this.grid.style.setProperty('--cols', String(run.H));
    thumbs.forEach((row, l) =>
      row.forEach((t, hh) => {
        const b = button('', () => this.panel.set({ layer: l, head: hh }), {
          class: 'thumb',
          'aria-pressed': String(l === layer && hh === head),
          'aria-label': `layer ${l} head ${hh}`,
          title: `layer ${l}, head ${hh}`,
        });
        b.append(paintBitmap(el('canvas'), t.data, t.n, thumbRange(t.data, kind)), el('span', {}, `L${l} H${hh}`));
        this.grid.appendChild(b);
      }),
    );
  }

  cellKey(e, hm) {
    const T = this.shownRun?.T;
    if (!T || !hm.chart) return;
    const q = this.panel.state.query;
    let { i, j } = this.cursor && this.cursor.i < T ? this.cursor : { i: q, j: q };
    const k = e.key;
    if (k === 'ArrowUp') i--;
    else if (k === 'ArrowDown') i++;
    else if (k === 'ArrowLeft') j--;
    else if (k === 'ArrowRight') j++;
    else if (k === 'Enter') {
      this.panel.set({ query: i });
      e.preventDefault();
      return;
    } else return;
    e.preventDefault();
    i = Math.max(0, Math.min(T - 1, i));
    j = Math.max(0, Math.min(i, j));
    this.cursor = { i, j };
    const r = hm.canvas.getBoundingClientRect(),
      { x, y } = hm.chart.scales;
    this.hover(i, j, { clientX: r.left + x.getPixelForValue(j), clientY: r.top + y.getPixelForValue(i) });
  }

  hover(i, j, ev) {
    if (!this.h) return;
    const lines = cellLines(this.shownRun, this.h, i, j);
    this.tip.textContent = '';
    for (const line of lines) this.tip.appendChild(el('div', {}, line));
    this.tip.hidden = false;
    const r = this.root.getBoundingClientRect();
    const x = ev.clientX - r.left + 14,
      y = ev.clientY - r.top + 14;
    this.tip.style.left = `${Math.min(x, r.width - 260)}px`;
    this.tip.style.top = `${y}px`;
  }
}

/** The colour range of a thumbnail: 0..1, or the positions' own min..max (NaN cells are empty). */
function thumbRange(data, kind) {
  if (kind !== 'positions') return [0, 1];
  let lo = Infinity,
    hi = -Infinity;
  for (const v of data)
    if (!Number.isNaN(v)) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  return [lo, hi];
}
