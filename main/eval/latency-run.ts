import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PerpetuaError } from '../shared/errors.js';
import type { Model } from '../engine/model.js';
import type { PolicyLatencyResult } from './latency-bench.js';
import { runLatencyJob, type LatencyJob, type LatencyMessage } from './latency-job.js';

export class BenchWorkerError extends PerpetuaError {}

/**
 * The worker script beside this file: the compiled .js, or the .ts source when this process runs TypeScript
 * through tsx (a forked child inherits `--import tsx`). Null when neither can run: policies then share a process.
 */
export function latencyWorkerPath(): string | null {
  const js = fileURLToPath(new URL('./latency-worker.js', import.meta.url));
  if (existsSync(js)) return js;
  const ts = fileURLToPath(new URL('./latency-worker.ts', import.meta.url));
  const tsx = process.execArgv.some((a, i, all) => a.includes('tsx') && (a.startsWith('--import') || all[i - 1] === '--import'));
  return tsx && existsSync(ts) ? ts : null;
}

export interface JobRunOptions {
  signal?: AbortSignal;
  onPoint?: (point: PolicyLatencyResult['points'][number], index: number, count: number) => void;
}

/**
 * Runs one latency job in a forked worker process (its own peak RSS). An abort kills the worker and returns the
 * points it had reported, marked incomplete.
 */
export function runJobIsolated(job: LatencyJob, worker: string, o: JobRunOptions = {}): Promise<PolicyLatencyResult> {
  return new Promise((resolve, reject) => {
    const child = fork(worker, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const points: PolicyLatencyResult['points'] = [];
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      o.signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const partial = (): PolicyLatencyResult => ({
      policy: job.label,
      spec: job.spec,
      points,
      steady: null,
      peakRssBytes: 0,
      rssAfterLoadBytes: 0,
      isolated: true,
      fillSeconds: 0,
      complete: false,
    });
    const onAbort = (): void => {
      child.kill('SIGTERM');
      finish(() => resolve(partial()));
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('message', (m: LatencyMessage) => {
      if (m.type === 'point') {
        points.push(m.point);
        o.onPoint?.(m.point, m.index, m.count);
      } else if (m.type === 'done') {
        finish(() => resolve(m.result));
      } else {
        finish(() => reject(m.user ? new BenchWorkerError(m.message) : new Error(m.message)));
      }
    });
    child.on('error', (err) => finish(() => reject(err)));
    child.on('exit', (code, sig) => {
      finish(() =>
        reject(new BenchWorkerError(`The benchmark process for ${job.label} stopped (${sig ?? `exit code ${code}`}) before it reported a result; it may have run out of memory.`)),
      );
    });
    child.send(job);
  });
}

/** Runs a job in this process (peak RSS is then the process-wide peak so far). */
export function runJobInProcess(job: LatencyJob, o: JobRunOptions = {}, model?: Model): Promise<PolicyLatencyResult> {
  return runLatencyJob({ ...job, isolated: false }, o.onPoint ?? (() => {}), o.signal, model);
}
