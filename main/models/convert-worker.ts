/** Converts one checkpoint in a worker thread (see model-convert.ts): progress, then done or failed, to the parent. */
import { parentPort, workerData } from 'node:worker_threads';
import { convertHfModel } from '../../native-models/convert-hf.js';
import { errorCode } from '../shared/errors.js';

export type ConvertMessage =
  | { type: 'progress'; done: number; total: number }
  | { type: 'done' }
  | { type: 'failed'; code: string; message: string };

const { src, out } = workerData as { src: string; out: string };
const send = (m: ConvertMessage) => parentPort!.postMessage(m);
try {
  convertHfModel(src, out, {}, { onProgress: (done, total) => send({ type: 'progress', done, total }) });
  send({ type: 'done' });
} catch (err) {
  send({ type: 'failed', code: errorCode(err), message: (err as Error)?.message || 'The conversion failed.' });
}
