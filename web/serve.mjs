// serve.mjs — a small static file server for the built page (no special headers are needed:
// the page runs from any static host). Usage: node web/serve.mjs [DIR] [--port N] [--host H]
// Port 0 picks a free port. Prints the URL on its first line of output.
import { createServer } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { join, normalize, extname, resolve } from 'node:path';

const args = process.argv.slice(2);
let dir = 'build/web',
  port = Number(process.env.PORT ?? 8000),
  host = process.env.HOST || '127.0.0.1';
for (let k = 0; k < args.length; k++) {
  if (args[k] === '--port') port = Number(args[++k]);
  else if (args[k] === '--host') host = args[++k];
  else dir = args[k];
}
const root = resolve(dir);
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.safetensors': 'application/octet-stream',
};

const server = createServer((req, res) => {
  let path;
  try {
    path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  } catch {
    res.writeHead(400).end();
    return;
  }
  let file = normalize(join(root, path));
  if (!file.startsWith(root)) {
    res.writeHead(403).end('forbidden');
    return;
  }
  let st;
  try {
    st = statSync(file);
    if (st.isDirectory()) {
      file = join(file, 'index.html');
      st = statSync(file);
    }
  } catch {
    res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}`);
    return;
  }
  // CORS as static hosts such as GitHub Pages send it: a blog on another origin may load the
  // widget, its worker and the models from here.
  res.writeHead(200, {
    'content-type': TYPES[extname(file)] || 'application/octet-stream',
    'content-length': st.size,
    'cache-control': 'no-cache',
    'access-control-allow-origin': '*',
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  createReadStream(file).pipe(res);
});
server.on('error', (e) => {
  // a clear line instead of a stack trace (a busy port is the usual case)
  console.error(
    e.code === 'EADDRINUSE'
      ? `serve.mjs: port ${port} on ${host} is in use; stop the other server or choose another: make serve PORT=8001`
      : `serve.mjs: cannot serve on ${host}:${port}: ${e.message}`,
  );
  process.exit(1);
});
server.listen(port, host, () => {
  const a = server.address();
  console.log(`CoPE visualizer: http://${host === '0.0.0.0' ? 'localhost' : a.address}:${a.port}/`);
});
