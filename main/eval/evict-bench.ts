import { loadavg } from 'node:os';
import { createPolicy } from '../cache/create-policy.js';
import { turnKeyRows } from '../cache/kv-editor.js';
import type { KvBuffer } from '../engine/kv-buffer.js';
import { allocKv } from '../engine/kv-dtype.js';
import type { CachePolicy } from '../engine/cache-policy.js';
import { Engine } from '../engine/engine.js';
import type { Model } from '../engine/model.js';
import type { PolicySpec } from '../policy/policy.js';
import { syntheticStream } from './latency-bench.js';
import { percentile } from './percentile.js';

/** in-place: the model's KV buffer (where its graph allows one); copies: new KV arrays every step and eviction */
export const KV_MODES = ['in-place', 'copies'] as const;
export type KvMode = (typeof KV_MODES)[number];

export interface StepStats {
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  cpuP50Ms: number;
  cpuP99Ms: number;
}

export interface EvictModeResult {
  mode: KvMode;
  /** false when the model offers no in-place buffer, so "in-place" ran the copying path too */
  inPlace: boolean;
  normal: StepStats;
  /** whole steps whose feed evicted first */
  eviction: StepStats;
  /** the eviction alone (the policy's plan: drop, move, re-rotate) inside those steps */
  edit: StepStats;
  /** eviction step p50 over normal step p50, wall and CPU */
  ratioP50: number;
  cpuRatioP50: number;
}

export interface EvictBenchResult {
  spec: PolicySpec;
  steps: number;
  load1m: [number, number];
  modes: EvictModeResult[];
  /**
   * the in-place eviction of a full buffer of the same shape alone (the policy's plan on a full cache), back to
   * back with no model run between (no cold caches from the weights, no collection of the binding's output
   * copies): what the edit itself costs
   */
  backToBack: StepStats | null;
  /**
   * where the graph takes position ids: turning every key of a full buffer back to its cache index, which the
   * cache does once every `everyTokens` tokens instead of turning the kept keys on each eviction
   */
  rebase: (StepStats & { everyTokens: number }) | null;
}

interface Samples {
  wall: number[];
  cpu: number[];
}

const cpuMs = (since: NodeJS.CpuUsage): number => {
  const c = process.cpuUsage(since);
  return (c.user + c.system) / 1000;
};

/** Times every plan() of a policy (where the eviction happens), leaving everything else as it is. */
function timedPlans(policy: CachePolicy, last: { wall: number; cpu: number }): CachePolicy {
  return new Proxy(policy, {
    get(target, prop) {
      if (prop === 'plan') {
        return async (tokens: number[]) => {
          const c0 = process.cpuUsage();
          const t0 = performance.now();
          const plan = await target.plan(tokens);
          last.wall = performance.now() - t0;
          last.cpu = cpuMs(c0);
          return plan;
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

function stats(s: Samples): StepStats {
  return {
    samples: s.wall.length,
    p50Ms: percentile(s.wall, 0.5),
    p99Ms: percentile(s.wall, 0.99),
    maxMs: s.wall.length ? Math.max(...s.wall) : NaN,
    cpuP50Ms: percentile(s.cpu, 0.5),
    cpuP99Ms: percentile(s.cpu, 0.99),
  };
}

/**
 * Normal and eviction steps of a full window or sink cache, each mode in its own cache on the same model session,
 * taking turns token by token (the order flips every step), so both see the same machine load. Every step feeds
 * one token; a step whose cache got shorter evicted first.
 */
export async function measureEvictions(
  model: Model,
  spec: PolicySpec,
  o: { steps: number; seed?: number; modes?: readonly KvMode[]; onProgress?: (done: number, total: number) => void },
): Promise<EvictBenchResult> {
  if (spec.name !== 'window' && spec.name !== 'sink') throw new RangeError('Only the window and sink caches evict.');
  const modes = o.modes ?? KV_MODES;
  const lastPlan = { wall: 0, cpu: 0 };
  const runs = modes.map((mode) => {
    const policy = createPolicy(spec, model.config, mode === 'in-place' ? model.kvEditor : undefined);
    return { mode, engine: new Engine(model, timedPlans(policy, lastPlan)), normal: { wall: [], cpu: [] } as Samples, eviction: { wall: [], cpu: [] } as Samples, edit: { wall: [], cpu: [] } as Samples };
  });
  const capacity = runs[0].engine.policy.capacity;
  const stream = syntheticStream(model, capacity + o.steps, o.seed ?? 1);
  const load0 = loadavg()[0];
  for (const r of runs) await r.engine.feed(stream.slice(0, capacity), { chunk: 256 });
  for (let t = 0; t < o.steps; t++) {
    const order = t % 2 === 0 ? runs : [...runs].reverse();
    for (const r of order) {
      const before = r.engine.policy.length;
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await r.engine.feed([stream[capacity + t]], { chunk: 1 });
      const wall = performance.now() - t0;
      const cpu = cpuMs(c0);
      const evicted = r.engine.policy.length <= before;
      const into = evicted ? r.eviction : r.normal;
      into.wall.push(wall);
      into.cpu.push(cpu);
      if (evicted) {
        r.edit.wall.push(lastPlan.wall);
        r.edit.cpu.push(lastPlan.cpu);
      }
    }
    o.onProgress?.(t + 1, o.steps);
  }
  for (const r of runs) r.engine.policy.dispose();
  const alone = Math.max(8, o.steps / 8);
  const backToBack = model.kvEditor?.createBuffer ? await evictionsAlone(model, spec, capacity, alone) : null;
  const limit = model.kvEditor?.positionLimit;
  const rebase = limit && backToBack ? { ...rebasesAlone(model, capacity, alone), everyTokens: limit - capacity } : null;
  return {
    spec,
    steps: o.steps,
    load1m: [Math.round(load0 * 100) / 100, Math.round(loadavg()[0] * 100) / 100],
    modes: runs.map((r) => {
      const [normal, eviction, edit] = [stats(r.normal), stats(r.eviction), stats(r.edit)];
      return {
        mode: r.mode,
        inPlace: r.mode === 'in-place' && model.kvEditor?.createBuffer !== undefined,
        normal,
        eviction,
        edit,
        ratioP50: eviction.p50Ms / normal.p50Ms,
        cpuRatioP50: eviction.cpuP50Ms / normal.cpuP50Ms,
      };
    }),
    backToBack,
    rebase,
  };
}

async function evictionsAlone(model: Model, spec: PolicySpec, capacity: number, count: number): Promise<StepStats> {
  const policy = createPolicy(spec, model.config, model.kvEditor);
  const { layers, kvHeads, headDim } = model.config;
  const rows = (n: number) => Array.from({ length: layers }, () => ({ key: allocKv(model.kvDtype, kvHeads * n * headDim), value: allocKv(model.kvDtype, kvHeads * n * headDim) }));
  policy.restore({
    tokens: new Array(capacity).fill(0),
    originalPositions: Array.from({ length: capacity }, (_, i) => i),
    cachePositions: Array.from({ length: capacity }, (_, i) => i),
    kv: rows(capacity),
    totalTokensSeen: capacity,
    history: [],
    sinks: spec.name === 'sink' ? spec.sink : 0,
  });
  const s: Samples = { wall: [], cpu: [] };
  try {
    for (let i = 0; i < count; i++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const { past } = await policy.plan([0]);
      s.wall.push(performance.now() - t0);
      s.cpu.push(cpuMs(c0));
      // fill the cache again as decoding would (zeros for the model's rows), so the next plan evicts too
      const buffer = past as KvBuffer;
      const refill = capacity - policy.length;
      buffer.append(rows(refill), refill);
      policy.commit(buffer, new Array(refill).fill(0));
    }
  } finally {
    policy.dispose();
  }
  return stats(s);
}

function rebasesAlone(model: Model, capacity: number, count: number): StepStats {
  const buffer = model.kvEditor!.createBuffer!(capacity);
  buffer.setLength(capacity);
  const s: Samples = { wall: [], cpu: [] };
  for (let i = 0; i < count; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    turnKeyRows(buffer, 0, capacity, -(i + 1), model.config.rope);
    s.wall.push(performance.now() - t0);
    s.cpu.push(cpuMs(c0));
  }
  return stats(s);
}

/** The result as a markdown table, one row per mode and step kind. */
export function evictionTable(r: EvictBenchResult): string {
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '–');
  const lines = [
    '| KV | step | samples | p50 ms | p99 ms | max ms | CPU p50 ms | CPU p99 ms |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const m of r.modes) {
    for (const [kind, s] of [['normal', m.normal], ['eviction', m.eviction], ['the eviction alone', m.edit]] as const) {
      lines.push(`| ${m.mode}${m.inPlace || m.mode !== 'in-place' ? '' : ' (not offered: copies)'} | ${kind} | ${s.samples} | ${f(s.p50Ms)} | ${f(s.p99Ms)} | ${f(s.maxMs)} | ${f(s.cpuP50Ms)} | ${f(s.cpuP99Ms)} |`);
    }
  }
  return lines.join('\n');
}
