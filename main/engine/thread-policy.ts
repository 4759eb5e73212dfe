import { availableParallelism } from 'node:os';
import type ort from 'onnxruntime-node';
import { ModelLoadError } from './errors.js';

/**
 * onnxruntime intra-op threads for single-token decode runs and for multi-token (prefill) runs. Decode of a small
 * model is memory-bound: one thread streams the weights about as fast as two, and a second pool thread that
 * spin-waits between ops steals the core the main thread needs (issue 15 measured 2× slower decode on 2 shared
 * cores). When the two counts differ, prefill gets its own session: onnxruntime cannot change a session's pool
 * per run, and a second session holds a second copy of the weights, so that is only done when asked for.
 */
export interface ThreadPolicy {
  decode: number;
  prefill: number;
  /** where the numbers came from: this machine's default, PERPETUA_THREADS, or the caller */
  source: 'default' | 'environment' | 'option';
}

/**
 * Default: 1 thread on machines with up to 2 cores (measured fastest here for decode and, per CPU-second, for
 * prefill), else half the logical cores (physical cores on SMT machines), at most 4, for both.
 */
export function defaultThreads(cores = availableParallelism()): number {
  return cores <= 2 ? 1 : Math.min(4, Math.floor(cores / 2));
}

/** Parses "N" (both) or "D,P" (decode, prefill). */
export function parseThreads(text: string): { decode: number; prefill: number } {
  const parts = text.split(',').map((s) => Number(s.trim()));
  if (parts.length < 1 || parts.length > 2 || parts.some((n) => !Number.isInteger(n) || n < 1 || n > 256)) {
    throw new ModelLoadError(`Threads must be a count or "decode,prefill" counts such as 1 or 1,2, not "${text}".`);
  }
  return { decode: parts[0], prefill: parts[1] ?? parts[0] };
}

export function resolveThreads(requested?: string | { decode: number; prefill?: number }, env = process.env): ThreadPolicy {
  if (requested !== undefined) {
    const t = typeof requested === 'string' ? parseThreads(requested) : { decode: requested.decode, prefill: requested.prefill ?? requested.decode };
    return { ...t, source: 'option' };
  }
  if (env.PERPETUA_THREADS) return { ...parseThreads(env.PERPETUA_THREADS), source: 'environment' };
  const n = defaultThreads();
  return { decode: n, prefill: n, source: 'default' };
}

/** Session options for a pool of `threads`: no inter-op pool, and pool threads sleep instead of spinning. */
export function threadOptions(threads: number): ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
}

export function describeThreads(t: ThreadPolicy): string {
  const sessions = t.decode === t.prefill ? 'one session' : 'a second session for prefill';
  return `${t.decode} thread${t.decode > 1 ? 's' : ''} for decode, ${t.prefill} for prefill (${sessions}; ${t.source})`;
}
