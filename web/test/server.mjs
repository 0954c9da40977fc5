// server.mjs — web/serve.mjs as a child process on a free port, for the browser tests and the
// page benchmarks: serve(dir) resolves to { proc, base } (base ends in /); proc.kill() stops it.
import { spawn } from 'node:child_process';

export function serve(dir = 'build/web') {
  const proc = spawn(process.execPath, ['web/serve.mjs', dir, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    proc.stdout.on('data', (d) => {
      const m = String(d).match(/http:\/\/\S+\//);
      if (m) resolve({ proc, base: m[0] });
    });
    proc.on('exit', (c) => reject(new Error(`server exited (${c})`)));
    setTimeout(() => reject(new Error('server did not start')), 10000);
  });
}
