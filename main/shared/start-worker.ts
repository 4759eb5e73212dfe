import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { PerpetuaError } from './errors.js';

/**
 * A worker thread running the module at `jsUrl` (a file beside the caller): the compiled .js, or, where the
 * sources run untranspiled (tests), its .ts through tsx. Threads, not processes: the packaged app's Electron
 * binary cannot be forked as Node.
 */
export function startWorker(jsUrl: URL, workerData: unknown): Worker {
  const js = fileURLToPath(jsUrl);
  if (existsSync(js)) return new Worker(js, { workerData });
  const ts = js.replace(/\.js$/, '.ts');
  if (!existsSync(ts)) throw new PerpetuaError(`${js} is missing: run "npm run build".`);
  const boot = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(pathToFileURL(ts).href)}); })`;
  return new Worker(boot, { eval: true, workerData });
}
