import { loadavg } from 'node:os';
import { createPolicy } from '../cache/create-policy.js';
import type { PolicySpec } from '../policy/policy.js';
import { Engine } from '../engine/engine.js';
import type { Model } from '../engine/model.js';
import { mulberry32 } from '../../native-models/seeded-random.js';
import { percentile } from './percentile.js';

/** Decode latency measured around one stream position. */
export interface LatencyPoint {
  /** stream position after the timed tokens */
  position: number;
  samples: number;
  p50Ms: number;
  p90Ms: number;
  meanMs: number;
  /**
   * median CPU time per token of this whole process (all onnxruntime threads, spin-waiting included): unlike wall
   * time it barely grows when other programs share the CPU
   */
  cpuP50Ms: number;
  /** 1-minute load average when the point was measured */
  load1m: number;
  /** tokens the policy attends to there */
  cacheTokens: number;
  kvBytes: number;
}

export interface PolicyLatencyResult {
  policy: string;
  spec: PolicySpec;
  points: LatencyPoint[];
  /** over every timed token at positions ≥ the cache size (every bounded policy is full and evicting there) */
  steady: { fromPosition: number; samples: number; p50Ms: number; p90Ms: number; cpuP50Ms: number } | null;
  /**
   * window and sink: the timed tokens whose feed evicted (dropped a chunk and re-rotated the kept keys) against
   * those that did not, so the cost of an eviction shows on its own
   */
  evictions?: { samples: number; p50Ms: number; p99Ms: number; maxMs: number; normalP50Ms: number; normalSamples: number } | null;
  /** the process's peak resident memory (model, cache, activations); comparable only when `isolated` */
  peakRssBytes: number;
  /** resident memory right after the model loaded and ran once: what the policy adds is peak − this */
  rssAfterLoadBytes: number;
  /** true when this policy ran alone in its own process */
  isolated: boolean;
  /** seconds spent filling the stream between timed tokens (not timed) */
  fillSeconds: number;
  complete: boolean;
}

export interface LatencyOptions {
  /** stream length */
  tokens: number;
  /** timed stretches along the stream (default 8) */
  points?: number;
  /** single-token decodes timed at each point (default 16) */
  samples?: number;
  /** tokens to stream (default: seeded pseudo-random ids; latency does not depend on the text) */
  stream?: number[];
  seed?: number;
  signal?: AbortSignal;
  label?: string;
  isolated?: boolean;
  rssAfterLoadBytes?: number;
  onPoint?: (point: LatencyPoint, index: number, count: number) => void;
}

/** Positions at which a stretch of timed decodes ends: evenly spread over the stream. */
export function checkpoints(tokens: number, points: number): number[] {
  const n = Math.max(1, Math.min(points, tokens));
  const out: number[] = [];
  for (let k = 1; k <= n; k++) {
    const p = Math.round((tokens * k) / n);
    if (p > (out[out.length - 1] ?? 0)) out.push(p);
  }
  return out;
}

/** Deterministic token ids for a latency stream (BOS first). */
export function syntheticStream(model: Model, tokens: number, seed = 1): number[] {
  const rand = mulberry32(seed);
  const range = Math.max(3, Math.min(model.tokenizer.vocabSize, model.vocabSize));
  const bos = model.config.bosTokenId ?? 0;
  return Array.from({ length: tokens }, (_, i) => (i === 0 ? bos : 3 + Math.floor(rand() * (range - 3))));
}

/**
 * Per-token decode latency of one policy along a stream of `tokens` tokens. The stream is filled quickly (in
 * chunks; recompute in one run, since it keeps only its last L tokens) up to each checkpoint, and the last
 * `samples` tokens before it are fed one at a time and timed: each timed feed is what a chat pays per generated
 * token (the policy's eviction and RoPE re-rotation when they fall there, plus the model run).
 */
export async function measureLatency(model: Model, spec: PolicySpec, o: LatencyOptions): Promise<PolicyLatencyResult> {
  const stream = o.stream ?? syntheticStream(model, o.tokens, o.seed);
  if (stream.length < o.tokens) throw new RangeError(`The stream has ${stream.length} tokens, fewer than ${o.tokens}.`);
  const samples = Math.max(1, o.samples ?? 16);
  const marks = checkpoints(o.tokens, o.points ?? 8);
  const engine = new Engine(model, createPolicy(spec, model.config, model.kvEditor, { beyondContext: true }));
  const fillChunk = spec.name === 'recompute' ? Number.MAX_SAFE_INTEGER : 256;
  const points: LatencyPoint[] = [];
  const steadyTimes: number[] = [];
  const steadyCpu: number[] = [];
  const evictTimes: number[] = [];
  const normalTimes: number[] = [];
  const capacity = engine.policy.capacity;
  const steadyFrom = Number.isFinite(capacity) ? capacity : spec.window;
  let fed = 0;
  let fillMs = 0;
  let complete = true;
  try {
    for (const [index, mark] of marks.entries()) {
      o.signal?.throwIfAborted();
      const start = Math.max(fed, mark - samples);
      if (start > fed) {
        const t0 = performance.now();
        await engine.feed(stream.slice(fed, start), { chunk: fillChunk, signal: o.signal });
        fillMs += performance.now() - t0;
      }
      const times: number[] = [];
      const cpu: number[] = [];
      for (let t = start; t < mark; t++) {
        o.signal?.throwIfAborted();
        const before = engine.policy.length;
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        await engine.feed([stream[t]], { chunk: 1 });
        const ms = performance.now() - t0;
        if (spec.name === 'window' || spec.name === 'sink') (engine.policy.length <= before ? evictTimes : normalTimes).push(ms);
        const c = process.cpuUsage(c0);
        const cpuMs = (c.user + c.system) / 1000;
        times.push(ms);
        cpu.push(cpuMs);
        if (t >= steadyFrom) {
          steadyTimes.push(ms);
          steadyCpu.push(cpuMs);
        }
      }
      fed = mark;
      const point: LatencyPoint = {
        position: mark,
        samples: times.length,
        p50Ms: percentile(times, 0.5),
        p90Ms: percentile(times, 0.9),
        meanMs: times.reduce((a, b) => a + b, 0) / Math.max(1, times.length),
        cpuP50Ms: percentile(cpu, 0.5),
        load1m: Math.round(loadavg()[0] * 100) / 100,
        cacheTokens: engine.policy.length,
        kvBytes: engine.policy.kvBytes(),
      };
      points.push(point);
      o.onPoint?.(point, index, marks.length);
    }
  } catch (err) {
    if (!o.signal?.aborted) throw err;
    complete = false;
  }
  return {
    policy: o.label ?? spec.name,
    spec,
    points,
    steady: steadyTimes.length
      ? {
          fromPosition: steadyFrom,
          samples: steadyTimes.length,
          p50Ms: percentile(steadyTimes, 0.5),
          p90Ms: percentile(steadyTimes, 0.9),
          cpuP50Ms: percentile(steadyCpu, 0.5),
        }
      : null,
    evictions: evictTimes.length
      ? {
          samples: evictTimes.length,
          p50Ms: percentile(evictTimes, 0.5),
          p99Ms: percentile(evictTimes, 0.99),
          maxMs: Math.max(...evictTimes),
          normalP50Ms: percentile(normalTimes, 0.5),
          normalSamples: normalTimes.length,
        }
      : null,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    rssAfterLoadBytes: o.rssAfterLoadBytes ?? 0,
    isolated: o.isolated ?? false,
    fillSeconds: fillMs / 1000,
    complete,
  };
}
