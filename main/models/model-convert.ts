import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { PerpetuaError, type ErrorCode } from '../shared/errors.js';
import { startWorker } from '../shared/start-worker.js';
import type { ConvertMessage } from './convert-worker.js';

export interface ConvertOptions {
  signal?: AbortSignal;
  /** bytes of weights converted of the total */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Converts a Hugging Face checkpoint folder into the ONNX model folder `out`, in a worker thread (the conversion
 * is one long synchronous run: the core keeps answering and progress arrives as it goes). It is written under
 * `.converting/` beside `out` and moved into place only when complete, so a cancel, a failure or a crash never
 * leaves half a model folder where models are imported from.
 */
export async function convertCheckpoint(src: string, out: string, opts: ConvertOptions = {}): Promise<void> {
  const partial = join(dirname(out), '.converting', basename(out));
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(dirname(partial), { recursive: true });
  const worker = startWorker(new URL('./convert-worker.js', import.meta.url), { src, out: partial });
  let onAbort = () => {};
  try {
    await new Promise<void>((resolve, reject) => {
      onAbort = () => reject(new PerpetuaError('The conversion was cancelled.', { code: 'cancelled' }));
      if (opts.signal?.aborted) onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      worker.on('message', (m: ConvertMessage) => {
        if (m.type === 'progress') opts.onProgress?.(m.done, m.total);
        else if (m.type === 'done') resolve();
        else reject(new PerpetuaError(m.message, { code: m.code as ErrorCode }));
      });
      worker.on('error', reject);
      worker.on('exit', (code) => reject(new PerpetuaError(`The converter stopped (exit code ${code}) before it finished.`)));
    });
    opts.signal?.throwIfAborted();
    if (existsSync(out)) throw new PerpetuaError(`${out} already exists; delete it to convert again.`, { code: 'already_exists' });
    renameSync(partial, out);
  } catch (err) {
    await worker.terminate(); // stopped before its files are removed
    rmSync(partial, { recursive: true, force: true });
    throw opts.signal?.aborted ? new PerpetuaError('The conversion was cancelled.', { code: 'cancelled' }) : err;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    void worker.terminate();
  }
}
