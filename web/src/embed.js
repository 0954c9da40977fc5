// embed.js — embed.html's script (a file, not inline, so the page's Content-Security-Policy can
// forbid inline script): the query string carries the widget's attributes (the page's "Embed…"
// box writes it); the widget validates each one.
import './cope-viz.js';

const p = new URLSearchParams(location.search),
  w = document.createElement('cope-viz');
// models from this site only: the Content-Security-Policy forbids other origins, and the worker
// that fetches the model is not covered by this page's policy, so the page refuses them itself
const offsite = ['model', 'baseline', 'poster'].filter((k) => {
  if (!p.has(k)) return false;
  try {
    return new URL(p.get(k), location.href).origin !== location.origin;
  } catch {
    return true;
  }
});
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
