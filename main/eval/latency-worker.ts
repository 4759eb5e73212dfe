/**
 * Runs one policy's latency measurement in its own process (forked by `perpetua bench latency`), so its peak RSS
 * is that policy's alone. Receives a LatencyJob, sends LatencyMessages. Ctrl-C is left to the parent, which
 * stops this process and keeps the points already reported.
 */
import { PerpetuaError } from '../shared/errors.js';
import { runLatencyJob, type LatencyJob, type LatencyMessage } from './latency-job.js';

process.on('SIGINT', () => {});

const send = (m: LatencyMessage): Promise<void> =>
  new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(m, undefined, {}, () => resolve());
  });

process.once('message', async (job: LatencyJob) => {
  try {
    const result = await runLatencyJob(job, (point, index, count) => void send({ type: 'point', point, index, count }));
    await send({ type: 'done', result });
  } catch (err) {
    const user = err instanceof PerpetuaError || err instanceof RangeError;
    await send({ type: 'error', message: err instanceof Error ? err.message : String(err), user });
  }
  process.disconnect?.();
});
