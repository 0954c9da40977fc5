// app.js — the visualizer page: pick a shipped model or drop a .safetensors file, type or
// generate an input, see the model's prediction, and explore it in the panel (panel.js). The
// whole state lives in the URL, so a link reproduces the view.
import { Model, traceText, verdict } from './model.js';
import { VizPanel } from './panel.js';
import { TrainView, TRAIN_KEYS, trainNotes } from './train-view.js';
import { InterventionBox, parseForce, formatForce } from './interventions.js';
import { targets, defaultQuery, showPiece, isLanguageTask, lookFor, TASK_BLURBS } from './tasks.js';
import {
  readState,
  writeState,
  modelEntry,
  baselineEntry,
  loadIndex,
  embedSnippets,
  urlNotes,
  quoted,
  onThisSite,
} from './state.js';
import { el, button, setOptions } from './dom.js';
import { colour, textOn } from './scales.js';

const $ = (id) => document.getElementById(id);
const ui = {
  modelSel: $('model'),
  file: $('file'),
  progress: $('progress'),
  progressLabel: $('progress-label'),
  loadBox: $('loading'),
  info: $('model-info'),
  error: $('error'),
  errorMsg: $('error-msg'),
  text: $('text'),
  tokens: $('tokens'),
  sample: $('sample'),
  split: $('split'),
  notice: $('notice'),
  prediction: $('prediction'),
  share: $('share'),
  embed: $('embed'),
  embedBox: $('embed-box'),
  embedCode: $('embed-code'),
  embedCopy: $('embed-copy'),
  drop: $('drop'),
  tint: $('tint'),
};

const app = {
  index: [], // shipped models (models/index.json)
  model: null, // the Model shown
  base: null, // its baseline (same task, other pe), when shipped
  modelRef: null, // what the URL names: an index name or a URL; null for a dropped file
  seed: 1,
  edited: false, // the text box holds the user's text (typed or from a link), not a generated example
  offer: null, // the user's text an example replaced, offered back in the notice
  force: [], // gate interventions on the shown model: [{ layer, head (-1: all), key, value }]
  linkNote: null, // what the link asked for that the page did not take: said in the first notice
  linkShown: null, // what the notice now shown says of the link
};

const panel = new VizPanel($('panel'), { onError: (err) => showError('Could not draw the view', err) });
const interventions = new InterventionBox($('intervene'), {
  onChange: (list) => {
    app.force = list;
    update({ ...panel.state }).catch((err) => showError('Could not run the model', err));
  },
});
panel.subscribe((st) => interventions.show(panel.run, st));
const trainView = new TrainView($('train'), {
  onInspect: async (bytes, name) => {
    await openBytes(bytes, name);
    $('panel').scrollIntoView({ behavior: 'smooth' });
  },
  onError: (title, err) => showError(title, err),
});
if (trainView.opened) $('train-card').open = true;
panel.subscribe(() => saveURL()); // the address bar follows every change of the panel's state
panel.subscribe(() => tintTokens());
ui.tint.addEventListener('change', () => tintTokens());
panel.queryView.windowSel.select.addEventListener('change', () => tintTokens()); // the tint covers the charts' window
window.copeViz = { app, panel, trainView }; // for the browser tests and the curious (console)

// ---------------------------------------------------------------------------------------------
// Errors and progress

function showError(title, err) {
  ui.errorMsg.textContent = '';
  ui.errorMsg.append(el('strong', {}, `${title}: `), document.createTextNode(err?.message || String(err)));
  ui.error.hidden = false;
  console.warn(title, err); // a warning, not an error: a bad file is an expected event
}
function clearError() {
  ui.error.hidden = true;
}
$('error-close').addEventListener('click', clearError);

function progress(label, frac) {
  ui.loadBox.hidden = label === null;
  if (label === null) return;
  ui.progressLabel.textContent = label;
  if (frac === undefined) ui.progress.removeAttribute('value');
  else ui.progress.value = frac;
}

// ---------------------------------------------------------------------------------------------
// Models

async function loadModel(source, name, ref, entry) {
  progress(`Loading ${name}…`, 0);
  try {
    const m = await Model.load(source, name, (f) => progress(`Loading ${name}… ${Math.round(100 * f)}%`, f));
    app.model?.free();
    app.base?.free();
    app.model = m;
    app.base = null;
    app.force = []; // interventions belong to a model
    interventions.set([]);
    app.modelRef = ref;
    app.entry = entry || null;
    clearError();
    showInfo();
    return m;
  } finally {
    progress(null);
  }
}

/** The baseline of the shown shipped model, loaded beside it (for the compare view). */
async function loadBaseline() {
  const pair = baselineEntry(app.index, app.entry),
    forModel = app.model;
  if (!pair) return null;
  try {
    const m = await Model.load(new URL(pair.file, location.href).href, pair.name);
    if (app.model !== forModel) {
      m.free(); // another model was opened meanwhile: this baseline is not its
      return null;
    }
    app.base?.free();
    app.base = m;
    return m;
  } catch (err) {
    showError(`Could not load the baseline ${pair.name}`, err);
    return null;
  }
}

/** Loads the baseline beside the shown model without waiting for it; when it arrives, the input is
 * traced again with it (the compare view), the notice still saying what it said of the link. */
function addBaseline() {
  loadBaseline()
    .then((b) => {
      if (!b) return;
      app.linkNote = app.linkShown;
      return update({ ...panel.state });
    })
    .catch((err) => showError('Could not run the model', err));
}

function showInfo() {
  const task = app.model.task;
  ui.info.textContent = '';
  ui.info.append(el('span', {}, app.model.summary()));
  if (task && TASK_BLURBS[task]) ui.info.append(el('span', { class: 'blurb' }, ` ${TASK_BLURBS[task]}`));
  const look = lookFor(task);
  if (look) ui.info.append(el('span', { class: 'look-for' }, ` What to look for: ${look.text}`));
  for (const h of app.model.heads)
    ui.info.append(
      el('span', { class: 'blurb' }, ` Worth looking at: layer ${h.layer} head ${h.head} — ${h.why}. `),
      button(
        `Show layer ${h.layer} head ${h.head}`,
        () => panel.set({ layer: h.layer, head: h.head, ...(look ? { view: look.view } : {}) }),
        { class: 'go-head', 'data-layer': h.layer, 'data-head': h.head },
      ),
    );
  const splits = app.model.tasks.find((t) => t.name === task)?.splits || [];
  setOptions(
    ui.split,
    splits.map((s) => [s, s]),
    splits[0],
  );
  ui.sample.disabled = !splits.length;
  ui.split.disabled = !splits.length;
  if (app.modelRef && ui.modelSel.querySelector(`option[value="${CSS.escape(app.modelRef)}"]`))
    ui.modelSel.value = app.modelRef;
  else ui.modelSel.value = '';
}

// ---------------------------------------------------------------------------------------------
// Input, prediction and tracing

/** The head the page opens a model on: the first of its provenance's heads worth looking at. */
function firstHead() {
  const h = app.model.heads[0];
  return h ? { layer: h.layer, head: h.head } : { layer: 0, head: 0 };
}

/** Puts a generated input of the model's task in the text box and shows it with state. */
async function newExample(state = { query: null }) {
  if (!app.model.hasExamples) return;
  const mine = app.edited ? ui.text.value : null;
  ui.text.value = await app.model.exampleText(app.seed++, ui.split.value || 'train');
  app.edited = false;
  // the user's text replaced by the example: the notice offers it back until something else replaces it
  app.offer = mine !== null && mine !== ui.text.value ? mine : null;
  await update(state);
}

/** The notice: what the reader should know about the input, and the offer of a replaced text. */
function showNotice(text) {
  ui.notice.textContent = text;
  if (app.offer !== null) {
    const mine = app.offer;
    ui.notice.append(
      text ? ' ' : '',
      'Your text was replaced by an example of this model’s task. ',
      button(
        'Put my text back',
        () => {
          app.offer = null;
          ui.text.value = mine;
          app.edited = true;
          ui.text.focus(); // the button goes away with the notice: focus where the text is
          update({ query: Infinity }).catch((err) => showError('Could not run the model', err));
        },
        { class: 'link', id: 'restore-text' },
      ),
    );
  }
  ui.notice.hidden = !ui.notice.textContent;
}

let updating = null;
/** Tokenizes the text box, traces it (and the baseline), and redraws. state: panel state to apply. */
async function update(state = {}) {
  const text = ui.text.value;
  const my = (updating = Symbol('update'));
  const force = app.model.hasCope ? app.force : [];
  let traced;
  try {
    traced = await traceText(app.model, app.base, text, force);
  } catch (err) {
    if (my !== updating) return; // a newer update replaced this one (its model may be gone)
    if (!force.length || !/^gate override/.test(err.message)) throw err;
    // an intervention list the core refuses (a link's layer or head this model does not have):
    // dropped whole, with the core's message naming the item
    app.force = [];
    interventions.set([]);
    showError('The gate interventions could not be applied and were removed', err);
    return update(state);
  }
  const { tok, run, baseRun, notes } = traced;
  if (my !== updating) return;
  if (app.linkNote) notes.unshift(app.linkNote);
  app.linkShown = app.linkNote; // said again if only the baseline's arrival traces this input again
  app.linkNote = null;
  if (!run) notes.unshift('Type some text: the input has no tokens.');
  showNotice(notes.join(' '));
  showTokens(text, tok, run ? run.T : 0);
  if (!run) return;
  showPrediction(run);
  const st = { ...state };
  if (st.query === null || st.query === undefined) st.query = defaultQuery(app.model.task, run.pieces);
  panel.setRuns(run, baseRun, st);
  interventions.show(run, panel.state);
  for (const g of run.force) ui.tokens.children[g.key]?.classList.add('forced');
  tintTokens();
  saveURL(); // for the text; the panel's subscription covers its own state
}

/**
 * The input's tokens tinted by a row of the panel's head (CircuitsVis-style): for the selected query
 * i, key j's gate, attention or position-only attention (the same colour scale as the strip), for
 * the keys the query view's charts show (all of a short input; the window before the query of a
 * long one); other keys stay plain. Scheduled after the step is drawn, as its own task.
 */
function tintTokens() {
  clearTimeout(tintTokens.timer);
  tintTokens.timer = setTimeout(() => tint().catch(() => {}), 0);
}
async function tint() {
  const run = panel.run,
    kind = ui.tint.value,
    chips = ui.tokens.children;
  const clear = (c) => {
    c.classList.remove('q');
    c.style.background = '';
    c.style.color = '';
    delete c.dataset.v;
  };
  if (!run || kind === 'none' || (kind === 'gates' && !run.model.hasCope)) {
    for (const c of chips) clear(c);
    return;
  }
  const { layer, head, query: i } = panel.state;
  const h = await run.head(layer, head);
  if (run !== panel.run || layer !== panel.state.layer || head !== panel.state.head || i !== panel.state.query) return;
  const T = run.T,
    row = h[kind].subarray(i * T, i * T + T),
    lo = i - panel.queryView.windowKeys(T, i) + 1;
  let hi = 1e-9;
  if (kind === 'attn') for (let j = lo; j <= i; j++) hi = Math.max(hi, row[j]);
  else hi = 1;
  // clear what the last tint painted outside this window, then paint the window
  for (const j of tint.painted || []) if (chips[j] && (j < lo || j > i)) clear(chips[j]);
  tint.painted = [];
  for (let j = lo; j <= i && j < chips.length; j++) {
    const c = chips[j];
    c.classList.toggle('q', j === i);
    tint.painted.push(j);
    c.style.background = colour(row[j], 0, hi);
    c.style.color = textOn(row[j], 0, hi);
    c.dataset.v = String(row[j]);
  }
}

function showTokens(text, tok, used) {
  ui.tokens.textContent = '';
  tok.spans.forEach(([a, b], k) => {
    const unk = app.model.vocab[tok.ids[k]] === '<unk>' && text.slice(a, b) !== '<unk>';
    const chip = el('button', {
      type: 'button',
      class: `tok${unk ? ' unk' : ''}${k >= used ? ' cut' : ''}`,
      title: unk ? `${JSON.stringify(text.slice(a, b))} is not in the vocabulary: read as <unk>` : `token ${k}`,
      tabindex: '-1',
    });
    chip.textContent = unk ? `${text.slice(a, b)} → <unk>` : showPiece(text.slice(a, b));
    if (k < used) chip.addEventListener('click', () => panel.set({ query: k }));
    ui.tokens.appendChild(chip);
  });
  ui.tokens.setAttribute('aria-label', `${tok.ids.length} tokens`);
}

function showPrediction(run) {
  const task = app.model.task,
    pieces = run.pieces,
    T = run.T,
    vocab = app.model.vocab;
  const ts = targets(task, pieces).filter((t) => t.t <= T);
  ui.prediction.textContent = '';
  const say = (...parts) =>
    ui.prediction.append(...parts.map((p) => (typeof p === 'string' ? document.createTextNode(p) : p)));
  if (run.force.length)
    say(
      el(
        'strong',
        { class: 'intervened' },
        `With ${run.force.length} gate intervention${run.force.length === 1 ? '' : 's'} (listed below): `,
      ),
    );

  const tokenBtn = (q, label) => button(label, () => panel.set({ query: q }), { class: 'link' });
  const pct = (p) => `${Math.round(100 * p)}%`;
  if (isLanguageTask(task)) {
    const ok = ts.filter((t) => t.t < T && vocab[run.pred[t.t - 1]] === t.expected).length,
      n = ts.filter((t) => t.t < T).length;
    say(`Next-word accuracy on this input: ${n ? pct(ok / n) : '–'} (${ok} of ${n}). `);
  } else if (ts.length === 1) {
    const { t, expected } = ts[0],
      q = t - 1,
      got = vocab[run.pred[q]];
    say(
      'After ',
      tokenBtn(q, `token ${q} ${JSON.stringify(pieces[q])}`),
      ` the model predicts ${JSON.stringify(got)} (${pct(run.prob[q])}); the answer is ${JSON.stringify(expected)}: `,
      verdict(got === expected),
      '. ',
    );
  } else if (ts.length > 1) {
    const wrong = ts.filter(({ t, expected }) => vocab[run.pred[t - 1]] !== expected);
    say(`${ts.length - wrong.length} of ${ts.length} answers right. `);
    if (wrong.length) {
      say('Wrong at: ');
      wrong
        .slice(0, 6)
        .forEach(({ t, expected }, k) =>
          say(
            k ? ', ' : '',
            tokenBtn(
              t - 1,
              `${t - 1} (says ${JSON.stringify(vocab[run.pred[t - 1]])}, not ${JSON.stringify(expected)})`,
            ),
          ),
        );
      if (wrong.length > 6) say(', …');
      say('. ');
    }
  }
  const last = T - 1;
  say(`After the last token the model predicts ${JSON.stringify(vocab[run.pred[last]])} (${pct(run.prob[last])}).`);
  ui.prediction.dataset.task = task || '';
}

// ---------------------------------------------------------------------------------------------
// URL state, share and embed

let saveTimer = null;
function saveURL() {
  clearTimeout(saveTimer);
  saveTimer = setTimeout(() => {
    writeState({ model: app.modelRef, text: ui.text.value, ...panel.state });
    writeState({ force: formatForce(app.force) }, ['force']);
    showEmbed();
  }, 150);
}

/** The embed snippet, whole: the box grows to its height. */
function showEmbed() {
  ui.embedCode.value = app.modelRef
    ? embedSnippets(location.href, app.entry, ui.text.value, panel.state, app.modelRef)
    : NO_LINK;
  if (ui.embedBox.hidden) return;
  ui.embedCode.style.height = 'auto';
  ui.embedCode.style.height = `${ui.embedCode.scrollHeight + 4}px`;
}

/** Copies text to the clipboard, saying so on the button for two seconds. */
async function copyWith(btn, text, done, idle) {
  try {
    await navigator.clipboard.writeText(text);
    btn.textContent = done;
  } catch {
    btn.textContent = 'Select and copy by hand';
  }
  setTimeout(() => {
    btn.textContent = idle;
  }, 2000);
}

/** A model opened from a file has no address: a link or a snippet would show another model. */
const NO_LINK =
  'This model was opened from a file on your computer: a link or an embed snippet cannot carry it. Put the file on a web server and open it by its address (?model=URL) to share it.';

ui.share.addEventListener('click', () => {
  if (!app.modelRef) {
    showNotice(NO_LINK);
    return;
  }
  writeState({ model: app.modelRef, text: ui.text.value, ...panel.state });
  copyWith(ui.share, location.href, 'Link copied', 'Copy link');
});
ui.embed.addEventListener('click', () => {
  ui.embedBox.hidden = !ui.embedBox.hidden;
  ui.embed.setAttribute('aria-expanded', String(!ui.embedBox.hidden));
  showEmbed();
});
ui.embedCopy.addEventListener('click', () => copyWith(ui.embedCopy, ui.embedCode.value, 'Copied', 'Copy the snippet'));

// ---------------------------------------------------------------------------------------------
// Controls

ui.modelSel.addEventListener('change', async () => {
  const e = app.index.find((x) => x.name === ui.modelSel.value);
  if (!e) return;
  try {
    await loadModel(new URL(e.file, location.href).href, e.name, e.name, e);
    await newExample({ query: null, markers: undefined, ...firstHead() });
    addBaseline();
  } catch (err) {
    showError(`Could not load ${e.name}`, err);
    showInfo();
  }
});

async function openFile(f) {
  if (f) await openBytes(await f.arrayBuffer(), f.name);
}

/** A model from bytes (a dropped or opened file, a model trained in the page). */
async function openBytes(bytes, name) {
  try {
    await loadModel(bytes, name, null, null);
    if (app.model.hasExamples) await newExample({ query: null, markers: undefined, ...firstHead() });
    else await update({ query: null, markers: undefined, ...firstHead() });
  } catch (err) {
    showError(
      `Could not load “${name}”`,
      new Error(
        `${err.message}. A model file is safetensors with a cope_config (see the README); ${app.model ? `${app.model.name} is still loaded` : 'no model is loaded'}.`,
      ),
    );
    if (app.model) showInfo();
  }
}
ui.file.addEventListener('change', () => {
  openFile(ui.file.files[0]);
  ui.file.value = '';
});
document.addEventListener('dragover', (e) => {
  e.preventDefault();
  ui.drop.classList.add('over');
});
document.addEventListener('dragleave', (e) => {
  if (!e.relatedTarget) ui.drop.classList.remove('over');
});
document.addEventListener('drop', (e) => {
  e.preventDefault();
  ui.drop.classList.remove('over');
  openFile(e.dataTransfer?.files?.[0]);
});

ui.sample.addEventListener('click', () => newExample().catch((err) => showError('Could not make an example', err)));
let typing = null;
ui.text.addEventListener('input', () => {
  app.edited = true; // the text is the user's: switching model offers it back
  app.offer = null;
  clearTimeout(typing);
  typing = setTimeout(() => update({ query: Infinity }).catch((err) => showError('Could not run the model', err)), 250);
});
// ← → Home End step the query anywhere on the page except in text fields (panel.onKey decides).
document.addEventListener('keydown', (e) => {
  if (!e.defaultPrevented) panel.onKey(e);
});

// ---------------------------------------------------------------------------------------------
// Start

async function start() {
  const st = readState();
  app.index = await loadIndex(new URL('models/index.json', location.href).href).catch(() => []);
  setOptions(ui.modelSel, [
    ['', app.index.length ? 'choose a model…' : 'no shipped models: drop a file'],
    ...app.index.map((e) => [e.name, `${e.name} (${e.task}, ${e.pe}${e.sep_keys ? ' sep-keys' : ''})`]),
  ]);
  if (!st.model && !app.index.length) {
    showError(
      'No shipped models',
      new Error('models/index.json lists no models. Open or drop a .safetensors model file.'),
    );
    return;
  }
  const ref = st.model || app.index[0].name;
  const entry = modelEntry(app.index, ref);
  if (!entry && !onThisSite(ref)) {
    showError(
      'The link names a model on another site',
      new Error(
        `${ref} is not on this site: the page opens models from its own site only. Download the file and drop it on the page.`,
      ),
    );
    return;
  }
  try {
    await loadModel(
      entry ? new URL(entry.file, location.href).href : new URL(ref, location.href).href,
      entry ? entry.name : ref.split('/').pop(),
      ref,
      entry,
    );
  } catch (err) {
    showError(`Could not load the model ${ref}`, err);
    return;
  }
  if (st.view === 'compare') await loadBaseline();
  const forced = parseForce(new URLSearchParams(location.search).get('force'));
  if (forced.list.length && app.model.hasCope) {
    app.force = forced.list;
    interventions.set(forced.list);
  }
  // what the link asks for that the page does not take: said once, in the first notice
  const linkNotes = [...urlNotes(location.search, [...TRAIN_KEYS, 'force']), ...trainNotes(location.search)];
  const { n_layer: L, n_head: H } = app.model.config;
  if (st.layer >= L)
    linkNotes.push(`The link's layer=${st.layer} is past ${app.model.name}'s ${L} layers: the last is shown.`);
  if (st.head >= H)
    linkNotes.push(`The link's head=${st.head} is past ${app.model.name}'s ${H} heads: the last is shown.`);
  if (forced.bad.length || (forced.list.length && !app.model.hasCope))
    linkNotes.push(
      forced.bad.length
        ? `The link's interventions ${forced.bad.map(quoted).join(', ')} do not read as LAYER:HEAD:KEY=VALUE and were ignored.`
        : `The link's interventions were ignored: ${app.model.name} has no CoPE gates.`,
    );
  app.linkNote = linkNotes.join(' ') || null;
  // without layer and head in the URL, the model's head worth looking at (as the widget does)
  const first = st.layer === undefined && st.head === undefined ? firstHead() : {};
  const pstate = {
    view: st.view,
    layer: st.layer ?? first.layer,
    head: st.head ?? first.head,
    query: st.query ?? null,
    markers: st.markers,
  };
  if (st.text !== undefined) {
    ui.text.value = st.text;
    app.edited = true; // a text from a link is someone's own
    await update(pstate);
  } else await newExample(pstate);
  if (!app.base) addBaseline();
}

start().catch((err) => showError('The page could not start', err));
