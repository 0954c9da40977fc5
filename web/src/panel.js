// panel.js — the visualizer panel shared by the page and the <cope-viz> widget: the view state
// (view, layer, head, query), its controls (tabs, layer/head pickers, query stepping and play,
// keyboard) and the three views: query (Figure 1), sequence (Figure 4) and compare.
import { QueryView } from './query-view.js';
import { SequenceView } from './sequence-view.js';
import { Heatmap, pngFigure, figureTitle, theme } from './charts.js';
import { mapRange } from './scales.js';
import { TASK_MARKERS, parseMarkers, formatMarkers, showPiece } from './tasks.js';
import { el, button, select, setOptions, installTips } from './dom.js';
import { GLOSSARY, VIEW_INTROS } from './glossary.js';
import { VIEW_NAMES } from './state.js';
import { queryPrediction, verdict } from './model.js';

const VIEW_LABELS = { query: 'Query · Figure 1', sequence: 'Sequence · Figure 4', compare: 'Compare with baseline' };
export const VIEWS = VIEW_NAMES.map((v) => [v, VIEW_LABELS[v]]);

export class VizPanel {
  /**
   * root: an element to fill. opts.onError(err) when a view cannot draw. subscribe() to hear of
   * state changes.
   */
  constructor(root, opts = {}) {
    this.root = root;
    this.opts = opts;
    this.subscribers = new Set();
    this.state = { view: 'query', layer: 0, head: 0, query: 0 };
    this.run = null;
    this.baseRun = null;
    root.classList.add('cope-panel');

    const bar = el('div', { class: 'toolbar panel-bar' });
    this.tabs = el('div', { class: 'tabs', role: 'group', 'aria-label': 'View' });
    this.tabButtons = VIEWS.map(([v, t]) => {
      const b = button(t, () => this.set({ view: v }), { 'data-view': v, 'aria-pressed': 'false' });
      this.tabs.appendChild(b);
      return b;
    });
    this.layerSel = select('Layer', [], 0, (v) => this.set({ layer: Number(v) }), { 'data-ctl': 'layer' });
    this.headSel = select('Head', [], 0, (v) => this.set({ head: Number(v) }), { 'data-ctl': 'head' });
    const step = el('div', { class: 'stepper', role: 'group', 'aria-label': 'Query token' });
    this.slider = el('input', {
      type: 'range',
      min: '0',
      max: '0',
      value: '0',
      'aria-label': 'query token index',
      'data-ctl': 'query',
    });
    this.slider.addEventListener('input', () => this.set({ query: Number(this.slider.value) }));
    this.playBtn = button('▶ Play', () => this.togglePlay(), {
      'aria-pressed': 'false',
      'data-ctl': 'play',
      title: 'Play through the queries',
    });
    step.append(
      button('|◀', () => this.set({ query: 0 }), { 'aria-label': 'first query (Home)', title: 'first query (Home)' }),
      button('◀', () => this.stepQuery(-1), {
        'aria-label': 'previous query (←)',
        title: 'previous query (←)',
        'data-ctl': 'prev',
      }),
      this.playBtn,
      button('▶', () => this.stepQuery(1), {
        'aria-label': 'next query (→)',
        title: 'next query (→)',
        'data-ctl': 'next',
      }),
      button('▶|', () => this.set({ query: Infinity }), {
        'aria-label': 'last query (End)',
        title: 'last query (End)',
      }),
      this.slider,
    );
    this.queryLabel = el('span', { class: 'query-label', 'aria-live': 'polite' });
    const mk = el('label', { class: 'field markers' });
    mk.append(el('span', { class: 'tip-host', 'data-tip': GLOSSARY.markers }, 'Boundary tokens'));
    this.markerInput = el('input', {
      type: 'text',
      size: '8',
      'aria-describedby': '',
      title: 'pieces separated by spaces; \\n is the newline',
      'data-ctl': 'markers',
    });
    this.markerInput.addEventListener('change', () =>
      this.set({ markers: formatMarkers(parseMarkers(this.markerInput.value)) }),
    );
    mk.appendChild(this.markerInput);
    bar.append(this.tabs, this.layerSel.wrap, this.headSel.wrap, step, this.queryLabel, mk);

    this.body = el('div', { class: 'panel-body' });
    root.append(bar, this.body);
    this.queryView = new QueryView(this.body, this);
    this.sequenceView = new SequenceView(this.body, this);
    this.compareView = new CompareView(this.body, this);

    root.addEventListener('keydown', (e) => {
      if (!e.defaultPrevented) this.onKey(e);
    });
    this.mql = matchMedia('(prefers-color-scheme: dark)');
    this.mql.addEventListener?.('change', () => {
      this.theme = theme(this.root);
      this.render();
    });
    this.theme = theme(root);
    installTips(root);
  }

  isCurrent(run) {
    return run === this.run || run === this.baseRun;
  }

  /** Shows a traced input (and optionally the baseline's trace of the same input). */
  setRuns(run, baseRun = null, state = {}) {
    this.stop();
    this.run = run;
    this.baseRun = baseRun;
    const { n_layer: L, n_head: H } = run.model.config;
    setOptions(
      this.layerSel.select,
      Array.from({ length: L }, (_, l) => [l, String(l)]),
    );
    setOptions(
      this.headSel.select,
      Array.from({ length: H }, (_, h) => [h, String(h)]),
    );
    this.slider.max = String(run.T - 1);
    this.tabButtons[2].hidden = !baseRun;
    this.set(state);
  }

  /** The boundary tokens: the state's (as typed: pieces separated by spaces, \n the newline), else the task's. */
  markerPieces() {
    const m = this.state.markers;
    return typeof m === 'string' ? parseMarkers(m) : (TASK_MARKERS[this.run?.model.task] ?? []);
  }

  /** Token indices of the boundary markers in the current input. */
  markerIndices() {
    const want = new Set(this.markerPieces()),
      out = [];
    this.run?.pieces.forEach((p, k) => {
      if (want.has(p)) out.push(k);
    });
    return out;
  }

  /**
   * Calls fn(state) after every change of the state, whatever made it (a control, a key, a click in
   * a view, play, a new input); returns a function that unsubscribes.
   */
  subscribe(fn) {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  /** Changes the state (clamped to the input and model), tells the subscribers if it changed, and redraws. */
  set(partial) {
    const s = { ...this.state, ...partial };
    if (this.run) {
      const { n_layer: L, n_head: H } = this.run.model.config;
      s.layer = clampInt(s.layer, 0, L - 1);
      s.head = clampInt(s.head, 0, H - 1);
      s.query = clampInt(s.query, 0, this.run.T - 1);
    }
    if (!VIEWS.some(([v]) => v === s.view)) s.view = 'query';
    if (s.view === 'compare' && this.run && !this.baseRun) s.view = 'query';
    const changed = Object.keys(s).some((k) => s[k] !== this.state[k]);
    this.state = s;
    if (changed) for (const fn of this.subscribers) fn(this.state);
    this.render();
  }

  stepQuery(d) {
    this.set({ query: this.state.query + d });
  }

  onKey(e) {
    const t = e.composedPath?.()[0] || e.target; // the real target, also from inside a shadow root
    if (
      t &&
      ((t.tagName === 'INPUT' && t.type !== 'range') ||
        t.tagName === 'TEXTAREA' ||
        t.tagName === 'SELECT' ||
        t.isContentEditable)
    )
      return;
    if (t?.tagName === 'INPUT' && t.type === 'range' && (e.key === 'ArrowLeft' || e.key === 'ArrowRight')) return; // the slider steps itself
    const k = e.key;
    if (k === 'ArrowRight') this.stepQuery(1);
    else if (k === 'ArrowLeft') this.stepQuery(-1);
    else if (k === 'Home') this.set({ query: 0 });
    else if (k === 'End') this.set({ query: Infinity });
    else return;
    e.preventDefault();
  }

  togglePlay() {
    if (this.timer) this.stop();
    else this.play();
  }

  play() {
    if (!this.run) return;
    if (this.state.query >= this.run.T - 1) this.set({ query: 0 });
    this.timer = setInterval(
      () => {
        if (!this.run || this.state.query >= this.run.T - 1) {
          this.stop();
          return;
        }
        this.stepQuery(1);
      },
      Math.max(120, Math.min(600, 12000 / this.run.T)),
    );
    this.playBtn.textContent = '⏸ Pause';
    this.playBtn.setAttribute('aria-pressed', 'true');
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.playBtn.textContent = '▶ Play';
    this.playBtn.setAttribute('aria-pressed', 'false');
  }

  /** Redraws the current view; calls made while one draw runs collapse into one more draw. */
  render() {
    if (!this.run) return;
    if (this.drawing) {
      this.dirty = true;
      return this.drawing;
    }
    this.drawing = (async () => {
      do {
        this.dirty = false;
        await this.draw().catch((err) => this.opts.onError?.(err));
      } while (this.dirty);
      this.drawing = null;
      this.root.dispatchEvent(new CustomEvent('cope-rendered', { bubbles: true, composed: true }));
    })();
    return this.drawing;
  }

  async draw() {
    const { view, layer, head, query } = this.state,
      run = this.run;
    for (const b of this.tabButtons) b.setAttribute('aria-pressed', String(b.dataset.view === view));
    this.layerSel.select.value = String(layer);
    this.headSel.select.value = String(head);
    this.slider.value = String(query);
    // not while the user types in it (the root node: the document, or the widget's shadow root)
    if (this.root.getRootNode().activeElement !== this.markerInput)
      this.markerInput.value = formatMarkers(this.markerPieces());
    this.queryLabel.textContent = `query ${query}/${run.T - 1}: ${showPiece(run.pieces[query])}`;
    this.root.dataset.view = view;
    this.root.dataset.query = String(query);
    this.queryView.root.hidden = view !== 'query';
    this.sequenceView.root.hidden = view !== 'sequence';
    this.compareView.root.hidden = view !== 'compare';
    if (view === 'query') await this.queryView.show(run, layer, head, query);
    else if (view === 'sequence') await this.sequenceView.show(run, layer, head, query);
    else await this.compareView.show(run, this.baseRun, layer, head, query);
  }

  snapshot() {
    return { state: { ...this.state }, query: this.queryView.snapshot() };
  }

  /** What an exported figure shows: model, layer, head and query (token), as its title line. */
  figureTitle() {
    return figureTitle(this.run, this.state);
  }
}

function clampInt(v, lo, hi) {
  const n = Number.isFinite(v) ? Math.round(v) : v === Infinity ? hi : lo;
  return Math.max(lo, Math.min(hi, n));
}

/** Compare: the same input and query through a CoPE model and its baseline, side by side. */
class CompareView {
  constructor(container, panel) {
    this.panel = panel;
    this.root = el('section', { class: 'compare-view', 'aria-label': 'Compare with the baseline' });
    this.root.appendChild(el('p', { class: 'intro' }, VIEW_INTROS.compare));
    this.cols = [0, 1].map(() => {
      const col = el('div', { class: 'compare-col' });
      const title = el('h3');
      const pred = el('p', { class: 'caption compare-pred', 'aria-live': 'polite' });
      col.append(title, pred);
      const q = new QueryView(col, panel);
      const fig = pngFigure('map', 'Attention a_ij (all queries)', {
        draw: (h, th) => hm.drawAgain(h, th),
        titleLine: () => q.figureTitle(),
        fileName: () => 'cope-compare-attention',
      });
      col.appendChild(fig.box);
      const hm = new Heatmap(fig.holder, { title: 'attention', onClick: (i) => panel.set({ query: i }) });
      this.root.appendChild(col);
      return { col, title, pred, q, hm };
    });
    container.appendChild(this.root);
  }

  async show(run, base, layer, head, query) {
    await Promise.all(
      [run, base].map(async (r, k) => {
        const c = this.cols[k];
        const m = r.model,
          L = Math.min(layer, m.config.n_layer - 1),
          H = Math.min(head, m.config.n_head - 1);
        c.title.textContent = `${m.name} — ${m.peLabel}, layer ${L}, head ${H}`;
        c.col.dataset.model = m.name;
        const q = Math.min(query, r.T - 1),
          p = queryPrediction(r, q);
        c.pred.textContent = `After token ${q} ${JSON.stringify(showPiece(p.piece))}: predicts ${JSON.stringify(p.predicted)} (${Math.round(100 * p.prob)}%)`;
        if (p.expected !== undefined)
          c.pred.append(`; the answer is ${JSON.stringify(p.expected)}: `, verdict(p.right));
        await c.q.show(r, L, H, Math.min(query, r.T - 1));
        const h = await r.head(L, H);
        if (!this.panel.isCurrent(r)) return;
        c.hm.update({
          data: h.attn,
          T: r.T,
          range: mapRange('attn', h.attn, r.T),
          markers: this.panel.markerIndices(),
          query,
          th: this.panel.theme,
          pieces: r.pieces,
        });
      }),
    );
    this.alignRows();
  }

  /** The two columns' text blocks take the height of the taller one, so that their strips, charts
   * and maps start at the same height and read across. */
  alignRows() {
    for (const sel of ['h3', '.compare-pred', '.query-view > .caption', '.query-view > .strip-wrap']) {
      const els = this.cols.map((c) => c.col.querySelector(sel));
      for (const e of els) e.style.minHeight = '';
      const h = Math.max(...els.map((e) => e.getBoundingClientRect().height));
      for (const e of els) e.style.minHeight = `${h}px`;
    }
  }
}
