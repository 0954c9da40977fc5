// client.js — the page's side of worker.js: one promise per request, progress callbacks, and the
// worker started in a way that also works when this script is served from another origin than
// the page that embeds it (a blog): cross-origin workers are refused, blob workers are not.

let workerPromise = null;

async function startWorker() {
  const url = new URL('worker.js', import.meta.url);
  if (url.origin === location.origin) return new Worker(url);
  // Another origin: fetch the (self-contained) script and start it from a blob URL.
  const r = await fetch(url);
  if (!r.ok) throw new Error(`cannot fetch ${url}: HTTP ${r.status}`);
  const blob = new Blob([await r.text()], { type: 'text/javascript' });
  return new Worker(URL.createObjectURL(blob));
}

/** The one worker of this page; every model lives in it under a key. */
export class CopeClient {
  constructor() {
    this.next = 1;
    this.pending = new Map();
    if (!workerPromise) workerPromise = startWorker();
    this.ready = workerPromise.then((w) => {
      this.worker = w;
      w.addEventListener('message', (e) => this.onmessage(e.data));
      w.addEventListener('error', (e) => {
        const err = new Error(`the model worker failed: ${e.message || 'script error'}`);
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
      });
      return w;
    });
  }

  onmessage(msg) {
    const p = this.pending.get(msg.id);
    if (!p) return;
    if ('progress' in msg) {
      p.onProgress?.(msg.progress);
      return;
    }
    this.pending.delete(msg.id);
    if (msg.ok) p.resolve(msg.result);
    else {
      const err = new Error(msg.error.message);
      err.name = msg.error.name;
      err.status = msg.error.status;
      p.reject(err);
    }
  }

  async call(op, args, { transfer = [], onProgress } = {}) {
    const w = await this.ready;
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress });
      w.postMessage({ id, op, args }, transfer);
    });
  }

  /** source: a URL string, or an ArrayBuffer (moved to the worker). The worker fetches the .wasm
   * from wasm/ beside this script (an absolute URL: it may run from a blob on another origin). */
  load(key, source, onProgress) {
    const wasmBase = new URL('wasm/', import.meta.url).href;
    if (source instanceof ArrayBuffer)
      return this.call('load', { key, bytes: source, wasmBase }, { transfer: [source], onProgress });
    return this.call('load', { key, url: new URL(source, document.baseURI).href, wasmBase }, { onProgress });
  }
}

// Workers share one client: several widgets on a page use one worker.
let shared = null;
export function sharedClient() {
  return shared || (shared = new CopeClient());
}
