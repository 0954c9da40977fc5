// cope-viz.js — the <cope-viz> custom element for blogs: one script tag, then
//   <cope-viz model="https://…/counting3-cope-s1.safetensors" text="a = 0 ; a ++; print a"
//             view="query" layer="0" head="1" query="5"></cope-viz>
// It shows a still frame (the input text, or a poster image) until it is scrolled into view, and
// only then starts the worker, loads the model and computes. Works from any static host: no
// special headers, the worker is started from a blob when this script is on another origin.
import { Model, traceText, queryPrediction, verdict } from './model.js';
import { VizPanel } from './panel.js';
import { defaultQuery, showPiece } from './tasks.js';
import { loadIndex, modelEntry, baselineEntry, checkState, MAX_LENGTH } from './state.js';

export { onThisSite } from './state.js'; // for embed.html's embed.js, which loads this module only
import { el, button } from './dom.js';
import css from './style.css';

class CopeViz extends HTMLElement {
  static get observedAttributes() {
    return ['model', 'text', 'view', 'layer', 'head', 'query', 'baseline', 'markers'];
  }

  connectedCallback() {
    if (this.reload) {
      this.reload = false;
      this.restart();
    }
    if (this.shadowRoot) return;
    const root = this.attachShadow({ mode: 'open' });
    // a constructed stylesheet, not a <style> element: the pages' Content-Security-Policy allows
    // no inline style, and a host page's CSS cannot reach into the shadow root either way
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    root.adoptedStyleSheets = [sheet];
    this.frame = el('div', { class: 'cope-viz' });
    root.appendChild(this.frame);
    this.still();
    this.io = new IntersectionObserver(
      (es) => {
        if (es.some((e) => e.isIntersecting)) {
          this.io.disconnect();
          this.start();
        }
      },
      { rootMargin: '200px' },
    );
    this.io.observe(this);
    // Focus anywhere in the widget (a click) lets ← → Home End step its query.
    if (!this.hasAttribute('tabindex')) this.tabIndex = 0;
    this.addEventListener('keydown', (e) => {
      if (!e.defaultPrevented) this.panel?.onKey(e);
    });
  }

  disconnectedCallback() {
    this.panel?.stop();
    // Removed from the page (not just moved: a move reconnects it in the same task), it lets go of
    // its models in the worker; put back, it loads them again.
    setTimeout(() => {
      if (this.isConnected || !this.started) return;
      this.gen = (this.gen || 0) + 1; // a load or input under way is dropped when it arrives
      this.computing = (this.computing || 0) + 1;
      this.release();
      this.reload = true;
    });
  }

  attributeChangedCallback(name, old, value) {
    if (!this.panel || old === value) return;
    if (name === 'model' || name === 'baseline') {
      this.restart();
      return;
    }
    if (name === 'text') {
      this.compute();
      return;
    }
    this.panel.set(this.attrState());
  }

  /** The still frame: the input as plain text (or a poster image) and a button to start now. */
  still() {
    this.frame.textContent = '';
    const box = el('div', { class: 'still' });
    const poster = this.getAttribute('poster');
    if (poster) box.appendChild(el('img', { src: poster, alt: 'CoPE visualizer (still frame)' }));
    box.appendChild(el('p', { class: 'still-title' }, 'CoPE visualizer — what each attention head counts'));
    const text = this.getAttribute('text');
    if (text) box.appendChild(el('pre', { class: 'still-text' }, text.length > 400 ? `${text.slice(0, 400)}…` : text));
    box.appendChild(
      button(
        'Load the model',
        () => {
          this.io?.disconnect();
          this.start();
        },
        { class: 'start' },
      ),
    );
    box.appendChild(el('p', { class: 'caption' }, 'It starts by itself when scrolled into view.'));
    this.frame.appendChild(box);
  }

  /** The attributes' view state, checked as a link's is (checkState); what was dropped, in attrNotes. */
  attrState() {
    const { st, notes } = checkState((k) => (k === 'model' || k === 'text' ? null : this.getAttribute(k)), 'The');
    this.attrNotes = notes.map((n) => n.replace(/^The (\w+)=/, 'The attribute $1='));
    return st;
  }

  /** The model URL: the attribute, else the first shipped model beside this script. */
  async modelSource() {
    const ref = this.getAttribute('model');
    const index = await loadIndex(new URL('models/index.json', import.meta.url).href).catch(() => []);
    const site = new URL('.', import.meta.url),
      file = (e) => new URL(e.file, site).href;
    // a shipped model named by its name or by its URL: its baseline comes with it
    const entry = ref
      ? modelEntry(index, ref) || index.find((e) => file(e) === new URL(ref, document.baseURI).href)
      : index[0];
    if (entry) {
      const pair = baselineEntry(index, entry);
      return { url: file(entry), name: entry.name, baseline: this.getAttribute('baseline') || (pair && file(pair)) };
    }
    if (!ref) throw new Error('no model attribute and no shipped models beside cope-viz.js');
    const url = new URL(ref, document.baseURI).href;
    return { url, name: decodeURIComponent(url.split('/').pop()), baseline: this.getAttribute('baseline') };
  }

  async start() {
    if (this.started) return;
    this.started = true;
    this.frame.textContent = '';
    this.status = el('div', { class: 'loading', role: 'status' });
    this.bar = el('progress', { max: '1' });
    this.statusText = el('span', {}, 'Loading…');
    this.status.append(this.statusText, this.bar);
    this.err = el('div', { class: 'error', role: 'alert', hidden: true });
    this.info = el('p', { class: 'caption widget-info' });
    this.pred = el('p', { class: 'caption widget-pred', 'aria-live': 'polite' });
    const host = el('div');
    this.setAttribute('aria-label', 'CoPE visualizer: ← → step the query');
    this.frame.append(this.status, this.err, this.info, host);
    this.panel = new VizPanel(host, { onError: (e) => this.fail(e) });
    await this.restart();
  }

  fail(err) {
    this.status.hidden = true;
    this.err.textContent = `CoPE visualizer: ${err.message || err}`;
    this.err.hidden = false;
    this.dispatchEvent(new CustomEvent('cope-error', { detail: { message: err.message } }));
  }

  /** Frees the widget's models in the worker. */
  release() {
    this.model?.free();
    this.base?.free();
    this.model = this.base = null;
  }

  async restart() {
    const gen = (this.gen = (this.gen || 0) + 1); // a later restart (a new model attribute) supersedes this one
    try {
      this.status.hidden = false;
      const src = await this.modelSource();
      if (gen !== this.gen) return;
      this.release();
      const model = await Model.load(src.url, src.name, (f) => {
        this.bar.value = f;
        this.statusText.textContent = `Loading ${src.name}… ${Math.round(100 * f)}%`;
      });
      const base = src.baseline
        ? await Model.load(
            src.baseline,
            src.baseline
              .split('/')
              .pop()
              .replace(/\.safetensors$/, ''),
          ).catch(() => null)
        : null;
      if (gen !== this.gen || !this.isConnected) {
        model.free();
        base?.free();
        if (gen === this.gen) this.reload = true; // taken off the page while loading: load when back
        return;
      }
      Object.assign(this, { model, base });
      this.info.textContent = this.model.summary();
      await this.compute();
    } catch (err) {
      if (gen === this.gen) this.fail(err);
    }
  }

  async compute() {
    const model = this.model,
      gen = (this.computing = (this.computing || 0) + 1); // a newer text supersedes this one
    if (!model) return; // still loading: the load computes
    try {
      let text = this.getAttribute('text');
      if (text === null && model.hasExamples) text = await model.exampleText(1);
      const long = text && text.length > MAX_LENGTH.text;
      if (long) text = text.slice(0, MAX_LENGTH.text);
      const { run, baseRun, notes } = await traceText(model, this.base, text || '');
      if (gen !== this.computing || model !== this.model) return;
      if (long)
        notes.unshift(`The text attribute is longer than ${MAX_LENGTH.text} characters: the first ones are used.`);
      if (!run) throw new Error('the text has no tokens');
      const st = this.attrState();
      if (st.query === undefined) st.query = defaultQuery(this.model.task, run.pieces);
      const first = this.model.heads[0]; /* without layer/head attributes: the head worth looking at */
      if (st.layer === undefined && st.head === undefined && first)
        Object.assign(st, { layer: first.layer, head: first.head });
      this.status.hidden = true;
      this.err.hidden = true;
      this.notes = [...this.attrNotes, ...notes].join(' ');
      if (!this.pred.isConnected) this.info.after(this.pred);
      this.unsubscribe?.();
      this.unsubscribe = this.panel.subscribe(() => this.sayPrediction());
      this.panel.setRuns(run, baseRun, st);
      this.sayPrediction();
      await this.panel.drawing;
      this.dispatchEvent(new CustomEvent('cope-ready'));
    } catch (err) {
      if (gen === this.computing && model === this.model) this.fail(err);
    }
  }

  /** The sentence under the model line: what the model predicts after the selected query, and,
   * where the task defines the next token there, the answer and whether the model is right. */
  sayPrediction() {
    const run = this.panel.run;
    if (!run) return;
    const q = this.panel.state.query,
      p = queryPrediction(run, q);
    this.pred.textContent = this.notes ? `${this.notes} ` : '';
    this.pred.append(
      `After token ${q} ${JSON.stringify(showPiece(p.piece))} the model predicts ${JSON.stringify(p.predicted)} (${Math.round(100 * p.prob)}%)`,
    );
    if (p.expected === undefined) this.pred.append('.');
    else this.pred.append(`; the answer is ${JSON.stringify(p.expected)}: `, verdict(p.right), '.');
    const base = this.panel.baseRun;
    if (base && q < base.T) {
      const b = queryPrediction(base, q);
      this.pred.append(
        ` The baseline ${base.model.name} (${base.model.peLabel}) predicts ${JSON.stringify(b.predicted)} (${Math.round(100 * b.prob)}%)`,
        ...(b.expected === undefined ? ['.'] : [': ', verdict(b.right), '.']),
      );
    }
  }

  /** For tests: what the panel shows. */
  snapshot() {
    return this.panel?.snapshot() ?? null;
  }
}

if (!customElements.get('cope-viz')) customElements.define('cope-viz', CopeViz);
