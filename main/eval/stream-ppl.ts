import { createPolicy } from '../cache/create-policy.js';
import type { PolicySpec } from '../policy/policy.js';
import { Engine } from '../engine/engine.js';
import type { Model } from '../engine/model.js';
import { tokenNll } from './nll.js';

/** The running log-perplexity after `position` scored tokens. */
export interface PplCurvePoint {
  /** tokens scored so far (the last one scored is stream token `position`, predicted from tokens 0…position−1) */
  position: number;
  /** mean NLL of tokens 1…position: log of the running perplexity */
  logPpl: number;
  /** mean NLL of the tokens scored since the previous point (the local log-perplexity there) */
  blockLogPpl: number;
}

export interface PolicyPplResult {
  /** the series name: the policy name, or its full spec string when the same name appears twice */
  policy: string;
  spec: PolicySpec;
  /** exp(mean NLL) over the scored tokens */
  ppl: number;
  logPpl: number;
  /** tokens scored */
  tokens: number;
  /** tokens fed per model run */
  chunk: number;
  /** true when every token's logits are exactly the policy's (recompute is exact only token by token) */
  exact: boolean;
  /** false when the run was interrupted before `tokens` reached the requested count */
  complete: boolean;
  seconds: number;
  tokensPerSecond: number;
  /** the cache's KV bytes at the end (recompute: its transient per-token cache) */
  kvBytes: number;
  curve: PplCurvePoint[];
}

export interface StreamPplOptions {
  /** tokens per model run (default 1: token by token, the paper's eval_long_ppl) */
  chunk?: number;
  /** a curve point every `interval` scored tokens (default: about 200 points) */
  interval?: number;
  signal?: AbortSignal;
  onProgress?: (scored: number, total: number) => void;
  /** series name (default: the policy name) */
  label?: string;
  /** keep every token's NLL in `nll` (tests) */
  keepNll?: boolean;
}

/**
 * Streaming perplexity of `stream` under one cache policy, as StreamingLLM's eval_long_ppl: the tokens are fed in
 * order and token t+1 is scored from the logits after token t, so `stream.length − 1` tokens are scored. Dense,
 * window and sink give exact per-token logits in any chunk size (chunks never cross an eviction); recompute
 * re-prefills its last `window` tokens per run, so with chunk C > 1 a token sees between window−C+1 and window
 * tokens instead of exactly window (reported as `exact: false`). An aborted `signal` ends the run early and
 * returns what was measured (`complete: false`).
 */
export async function streamPerplexity(
  model: Model,
  spec: PolicySpec,
  stream: number[],
  opts: StreamPplOptions = {},
): Promise<PolicyPplResult & { nll?: Float64Array }> {
  const total = stream.length - 1;
  if (total < 1) throw new RangeError('Perplexity needs at least two tokens.');
  const V = model.vocabSize;
  const requested = Math.max(1, Math.floor(opts.chunk ?? 1));
  // A recompute run yields logits for at most `window` tokens.
  const chunk = spec.name === 'recompute' ? Math.min(requested, spec.window) : requested;
  const interval = Math.max(1, Math.floor(opts.interval ?? Math.ceil(total / 200)));
  const engine = new Engine(model, createPolicy(spec, model.config, model.kvEditor, { beyondContext: true }));
  const nll = opts.keepNll ? new Float64Array(total) : undefined;
  const curve: PplCurvePoint[] = [];
  let scored = 0;
  let sum = 0;
  let blockSum = 0;
  let blockCount = 0;
  const point = (): void => {
    if (blockCount === 0) return;
    curve.push({ position: scored, logPpl: sum / scored, blockLogPpl: blockSum / blockCount });
    blockSum = 0;
    blockCount = 0;
  };

  const started = performance.now();
  try {
    await engine.feed(stream.slice(0, total), {
      chunk,
      signal: opts.signal,
      onLogits: (rows, slice) => {
        for (let i = 0; i < slice.length; i++) {
          const loss = tokenNll(rows.subarray(i * V, (i + 1) * V), stream[scored + 1]);
          if (nll) nll[scored] = loss;
          sum += loss;
          blockSum += loss;
          blockCount++;
          scored++;
          if (scored % interval === 0) point();
        }
      },
      onProgress: () => opts.onProgress?.(scored, total),
    });
  } catch (err) {
    if (!opts.signal?.aborted) throw err;
  }
  point();
  const seconds = (performance.now() - started) / 1000;
  const logPpl = scored ? sum / scored : NaN;
  return {
    policy: opts.label ?? spec.name,
    spec,
    ppl: Math.exp(logPpl),
    logPpl,
    tokens: scored,
    chunk,
    exact: spec.name !== 'recompute' || chunk === 1,
    complete: scored === total,
    seconds,
    tokensPerSecond: scored / Math.max(seconds, 1e-9),
    kvBytes: engine.policy.kvBytes(),
    curve,
    ...(nll ? { nll: nll.subarray(0, scored) } : {}),
  };
}
