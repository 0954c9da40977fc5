// state.js — the view's state in the URL (?model=&text=&view=&layer=&head=&query=&markers=), the shipped
// models' index, and the embed snippets. The same parameters are the <cope-viz> attributes and
// embed.html's query string, so a link, an iframe and a widget all say the same thing.

export const STATE_KEYS = ['model', 'text', 'view', 'layer', 'head', 'query', 'markers'];
export const VIEW_NAMES = ['query', 'sequence', 'compare'];
const NUMERIC = new Set(['layer', 'head', 'query']);
const MAX_INDEX = 1e6; // layers, heads and queries are far fewer; larger numbers are mistakes
/** the longest value each text setting takes: a text is shortened to it, the others ignored */
export const MAX_LENGTH = { model: 2048, text: 100000, view: 16, markers: 1000 };

/** A value as a notice quotes it: short, on one line. */
export function quoted(v) {
  const s = String(v).replace(/\s+/g, ' ');
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);
}

/**
 * The view's state from named values (a query string's or a widget's attributes): get(k) is the
 * value or null. Returns { st, notes }: st holds the valid values only (numbers parsed, the text
 * at most MAX_LENGTH.text); notes, one plain sentence per value dropped or shortened, for a
 * notice (shown as text). Nothing here throws.
 */
export function checkState(get, where = "The link's") {
  const st = {},
    notes = [];
  for (const k of STATE_KEYS) {
    const v = get(k);
    if (v === null || v === undefined) continue;
    if (NUMERIC.has(k)) {
      const n = v.trim() === '' ? NaN : Number(v);
      if (Number.isInteger(n) && n >= 0 && n <= MAX_INDEX) st[k] = n;
      else notes.push(`${where} ${k}=${quoted(v)} is not a whole number from 0 to ${MAX_INDEX}: ignored.`);
    } else if (k === 'text') {
      st.text = v.length > MAX_LENGTH.text ? v.slice(0, MAX_LENGTH.text) : v;
      if (v.length > MAX_LENGTH.text)
        notes.push(`${where} text has ${v.length} characters: the first ${MAX_LENGTH.text} are used.`);
    } else if (v.length > MAX_LENGTH[k]) notes.push(`${where} ${k} is ${v.length} characters long: ignored.`);
    else if (k === 'view' && !VIEW_NAMES.includes(v))
      notes.push(`${where} view=${quoted(v)} is not one of ${VIEW_NAMES.join(', ')}: ignored.`);
    else st[k] = v;
  }
  return { st, notes };
}

/** ref (a URL, absolute or relative to base) is on base's origin: the page and embed.html open
 * models from their own site only (their Content-Security-Policy does not reach the worker that
 * fetches them, so they check themselves). */
export function onThisSite(ref, base = location.href) {
  try {
    return new URL(ref, base).origin === new URL(base).origin;
  } catch {
    return false;
  }
}

/** State from a query string (missing and invalid keys are absent; numbers parsed). */
export function parseState(search) {
  const p = new URLSearchParams(search);
  return checkState((k) => p.get(k)).st;
}

/**
 * Notes on a query string: its invalid view settings (checkState) and the parameters the page
 * does not read at all (known: the other ones it does, e.g. the Train view's and force).
 */
export function urlNotes(search, known = []) {
  const p = new URLSearchParams(search);
  const { notes } = checkState((k) => p.get(k));
  const unknown = [...new Set(p.keys())].filter((k) => !STATE_KEYS.includes(k) && !known.includes(k));
  if (unknown.length)
    notes.push(
      `The link's ${unknown.length === 1 ? 'parameter' : 'parameters'} ${unknown.slice(0, 5).map(quoted).join(', ')}${unknown.length > 5 ? ', …' : ''} ${unknown.length === 1 ? 'is' : 'are'} not read by this page: ignored.`,
    );
  return notes;
}

export function stateQuery(st) {
  const p = new URLSearchParams();
  for (const k of STATE_KEYS) if (st[k] !== undefined && st[k] !== null && st[k] !== '') p.set(k, String(st[k]));
  return p.toString();
}

export function readState() {
  return parseState(location.search);
}

/**
 * Writes keys (default: the view's) of st into the address bar's query string, keeping the other
 * parameters there (the Train view's); no new history entry per key press.
 */
export function writeState(st, keys = STATE_KEYS) {
  const p = new URLSearchParams(location.search);
  for (const k of keys) {
    p.delete(k);
    if (st[k] !== undefined && st[k] !== null && st[k] !== '') p.set(k, String(st[k]));
  }
  const q = p.toString();
  const url = `${location.pathname}${q ? `?${q}` : ''}${location.hash}`;
  if (url !== `${location.pathname}${location.search}${location.hash}`) history.replaceState(null, '', url);
}

/** The shipped models: [{ name, file, task, pe, sep_keys, baseline, ... }] (models/index.json). */
export async function loadIndex(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`cannot fetch ${url}: HTTP ${r.status}`);
  const list = await r.json();
  if (!Array.isArray(list)) throw new Error(`${url} is not a list`);
  return list;
}

/** The index entry a URL's model= names (by name), or null (then it is a URL). */
export function modelEntry(index, ref) {
  return index.find((e) => e.name === ref) || null;
}

/** The index entry of a shipped model's baseline (same task, the other kind of pe), or null. */
export function baselineEntry(index, entry) {
  return (entry?.baseline && index.find((e) => e.name === entry.baseline)) || null;
}

/** Copy-paste code for a blog: the widget and the iframe, for the page's current state (ref: the
 * model as the URL names it, for a model that is not shipped). */
export function embedSnippets(pageURL, entry, text, st, ref) {
  const base = new URL('.', pageURL);
  // a shipped model by its file; a model opened by address (ref, not in the index) by that address
  const model = entry ? new URL(entry.file, base).href : ref ? new URL(ref, pageURL).href : '';
  const attrs = { model, text, view: st.view, layer: st.layer, head: st.head, query: st.query, markers: st.markers };
  const esc = (s) =>
    String(s).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/\n/g, '&#10;');
  const a = Object.entries(attrs)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `  ${k}="${esc(v)}"`)
    .join('\n');
  const iframe = new URL('embed.html', base);
  iframe.search = stateQuery({ ...attrs, model: entry ? entry.name : model });
  return `<!-- CoPE visualizer widget -->\n<script type="module" src="${new URL('cope-viz.js', base).href}"></script>\n<cope-viz\n${a}>\n</cope-viz>\n\n<!-- or as an iframe -->\n<iframe src="${esc(iframe.href)}" width="100%" height="720" loading="lazy" title="CoPE visualizer" style="border:0"></iframe>`;
}
