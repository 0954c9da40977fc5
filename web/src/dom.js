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

/** Resolves in a task of its own: the browser handles input and draws a frame before the work
 * that follows (long work split with it never freezes scrolling or a key held down). */
export function yieldTask() {
  return new Promise((r) => setTimeout(r, 0));
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

/**
 * The glossary box: any element under root with a data-tip attribute shows that text (as text) in
 * one floating box while hovered or focused. Works inside a shadow root (the widget).
 */
export function installTips(root) {
  const tip = el('div', { class: 'gloss-tip', role: 'tooltip', hidden: true });
  (root.shadowRoot || root).appendChild(tip);
  const host = (e) => e.composedPath?.().find((n) => n.dataset?.tip) ?? e.target.closest?.('[data-tip]');
  const show = (e) => {
    const h = host(e);
    if (!h) return;
    tip.textContent = h.dataset.tip;
    tip.hidden = false;
    const r = h.getBoundingClientRect(),
      w = Math.min(380, innerWidth - 16);
    tip.style.maxWidth = `${w}px`;
    tip.style.left = `${Math.max(8, Math.min(r.left, innerWidth - w - 8))}px`;
    const below = r.bottom + 6,
      hgt = tip.offsetHeight;
    tip.style.top = `${below + hgt < innerHeight ? below : Math.max(8, r.top - hgt - 6)}px`;
  };
  const hide = (e) => {
    if (host(e)) tip.hidden = true;
  };
  root.addEventListener('pointerover', show);
  root.addEventListener('pointerout', hide);
  root.addEventListener('focusin', show);
  root.addEventListener('focusout', hide);
  return tip;
}
