// embed.js — embed.html's script (a file, not inline, so the page's Content-Security-Policy can
// forbid inline script): the query string carries the widget's attributes (the page's "Embed…"
// box writes it); the widget validates each one.
import './cope-viz.js';

const p = new URLSearchParams(location.search),
  w = document.createElement('cope-viz');
for (const k of ['model', 'text', 'view', 'layer', 'head', 'query', 'baseline', 'poster'])
  if (p.has(k)) w.setAttribute(k, p.get(k));
document.body.appendChild(w);
