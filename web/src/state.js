// state.js — the view's state in the URL (?model=&text=&view=&layer=&head=&query=&markers=), the shipped
// models' index, and the embed snippets. The same parameters are the <cope-viz> attributes and
// embed.html's query string, so a link, an iframe and a widget all say the same thing.

export const STATE_KEYS = ['model', 'text', 'view', 'layer', 'head', 'query', 'markers'];
const NUMERIC = new Set(['layer', 'head', 'query']);

/** State from a query string (missing keys are absent; numbers parsed). */
export function parseState(search) {
  const p = new URLSearchParams(search),
    st = {};
  for (const k of STATE_KEYS) {
    if (!p.has(k)) continue;
    const v = p.get(k);
    if (NUMERIC.has(k)) {
      const n = Number(v);
      if (Number.isInteger(n) && n >= 0) st[k] = n;
    } else st[k] = v;
  }
  return st;
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
