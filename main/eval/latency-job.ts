import type { PolicySpec } from '../policy/policy.js';
import type { ProviderRequest } from '../engine/execution-provider.js';
import { Model } from '../engine/model.js';
import { measureLatency, syntheticStream, type LatencyPoint, type PolicyLatencyResult } from './latency-bench.js';
import { readTextStream } from './text-stream.js';

/** One policy's latency run: plain data, so it can be sent to a worker process. */
export interface LatencyJob {
  modelDir: string;
  ep: ProviderRequest;
  label: string;
  spec: PolicySpec;
  tokens: number;
  points: number;
  samples: number;
  seed: number;
  /** stream this text instead of seeded ids */
  textFile?: string;
  isolated: boolean;
}

/** Worker → parent messages. */
export type LatencyMessage =
  | { type: 'point'; point: LatencyPoint; index: number; count: number }
  | { type: 'done'; result: PolicyLatencyResult }
  | { type: 'error'; message: string; user: boolean };

/** Loads the model, warms it up, and measures one policy. */
export async function runLatencyJob(
  job: LatencyJob,
  onPoint: (point: LatencyPoint, index: number, count: number) => void,
  signal?: AbortSignal,
  loaded?: Model,
): Promise<PolicyLatencyResult> {
  const model = loaded ?? (await Model.load(job.modelDir, { executionProvider: job.ep }));
  try {
    const stream = job.textFile ? readTextStream(job.textFile, model.tokenizer, job.tokens, model.streamPrefix).tokens : syntheticStream(model, job.tokens, job.seed);
    // one short run so the baseline includes the session's first-run allocations
    const warm = stream.slice(0, 8);
    await model.forward(warm, warm.map((_, i) => i), []);
    const rssAfterLoadBytes = process.memoryUsage().rss;
    return await measureLatency(model, job.spec, {
      tokens: job.tokens,
      points: job.points,
      samples: job.samples,
      stream,
      signal,
      label: job.label,
      isolated: job.isolated,
      rssAfterLoadBytes,
      onPoint,
    });
  } finally {
    if (!loaded) await model.dispose();
  }
}
