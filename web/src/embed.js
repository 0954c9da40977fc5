// embed.js — embed.html's script (a file, not inline, so the page's Content-Security-Policy can
// forbid inline script): the query string carries the widget's attributes (the page's "Embed…"
// box writes it); the widget validates each one.
import { onThisSite } from './cope-viz.js';

const p = new URLSearchParams(location.search),
  w = document.createElement('cope-viz');
// models and images from this site only (onThisSite: the page's policy does not reach the worker)
const offsite = ['model', 'baseline', 'poster'].filter((k) => p.has(k) && !onThisSite(p.get(k)));
if (offsite.length) {
  const msg = document.createElement('p');
  msg.setAttribute('role', 'alert');
  msg.textContent = `embed.html opens models and images from its own site only; ${offsite.join(' and ')} is elsewhere.`;
  document.body.appendChild(msg);
} else {
  for (const k of ['model', 'text', 'view', 'layer', 'head', 'query', 'markers', 'baseline', 'poster'])
    if (p.has(k)) w.setAttribute(k, p.get(k));
  document.body.appendChild(w);
}
