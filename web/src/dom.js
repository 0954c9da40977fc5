// dom.js — element creation. Data (token pieces, file names, error messages) only ever reaches
// the page through textContent or attributes, never innerHTML, so a vocabulary cannot inject HTML.

/** An element with attributes (strings) and optional text. */
export function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs))
    if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A <button type=button> with text and a click handler. */
export function button(text, onClick, attrs = {}) {
  const b = el('button', { type: 'button', ...attrs }, text);
  b.addEventListener('click', onClick);
  return b;
}

/** A labelled <select> of [value, text] options. */
export function select(label, options, value, onChange, attrs = {}) {
  const wrap = el('label', { class: 'field' });
  wrap.append(el('span', {}, label));
  const s = el('select', attrs);
  setOptions(s, options, value);
  s.addEventListener('change', () => onChange(s.value));
  wrap.appendChild(s);
  return { wrap, select: s };
}

export function setOptions(s, options, value) {
  s.textContent = '';
  for (const [v, t] of options) s.appendChild(el('option', { value: v }, t));
  if (value !== undefined) s.value = String(value);
}
