import { createPolicy } from '../cache/create-policy.js';
import { Engine } from '../engine/engine.js';
import type { ExecutionProvider } from '../engine/execution-provider.js';
import { Model } from '../engine/model.js';
import { DEFAULT_POLICY, type PolicySpec } from '../policy/policy.js';
import { measureDeviceTraffic, type DeviceTraffic } from './device-traffic.js';
import { percentile } from './percentile.js';

export interface GpuBenchRow {
  provider: ExecutionProvider;
  /** what runs it: "cpu", "webgpu on NVIDIA hopper (…)", "webgpu on a software adapter: …" */
  runsOn: string;
  policy: string;
  /** new tokens per second of a prefill of `prefillTokens` */
  prefillTokensPerSecond: number;
  /** median decode step with a full cache (ms), wall and CPU time of this process */
  decodeMs: number;
  decodeCpuMs: number;
  decodeTokensPerSecond: number;
  /** median of the steps that evicted (ms): the eviction's cost on top of a step */
  evictionStepMs: number | null;
  traffic: DeviceTraffic | null;
}

export interface GpuBenchOptions {
  providers: ExecutionProvider[];
  policies: PolicySpec[];
  prefillTokens: number;
  decodeTokens: number;
  onStatus?: (line: string) => void;
}

/**
 * Decode and prefill speed per provider and policy, with the structure behind them (node placement, bytes moved
 * per step and per eviction). A provider that falls back to the CPU is reported as not available, not timed twice.
 */
export async function benchGpu(dir: string, o: GpuBenchOptions): Promise<GpuBenchRow[]> {
  const rows: GpuBenchRow[] = [];
  for (const provider of o.providers) {
    const model = await Model.load(dir, { executionProvider: provider });
    try {
      if (model.provider !== provider) {
        o.onStatus?.(`${provider}: not available (${model.providerFallbackReason ?? 'fell back to the CPU'})`);
        continue;
      }
      const traffic = provider === 'cpu' ? null : await measureDeviceTraffic(model);
      for (const spec of o.policies) {
        rows.push({ ...(await timePolicy(model, spec, o)), traffic });
        o.onStatus?.(`${model.runsOn}, ${spec.name}: done`);
      }
    } finally {
      await model.dispose();
    }
  }
  return rows;
}

async function timePolicy(model: Model, spec: PolicySpec, o: GpuBenchOptions): Promise<Omit<GpuBenchRow, 'traffic'>> {
  const engine = new Engine(model, createPolicy(spec, model.config, model.kvEditor, { beyondContext: true }));
  const V = model.vocabSize;
  const prompt = Array.from({ length: o.prefillTokens }, (_, i) => 5 + ((i * 37) % (V - 10)));
  const t0 = performance.now();
  await engine.feed(prompt);
  const prefillMs = performance.now() - t0;
  const steps: number[] = [];
  const cpu: number[] = [];
  const evicting: number[] = [];
  for (let i = 0; i < o.decodeTokens; i++) {
    const seen = engine.policy.totalTokensSeen - engine.policy.length;
    const c0 = process.cpuUsage();
    const s0 = performance.now();
    await engine.feed([5 + ((i * 13) % (V - 10))]);
    const ms = performance.now() - s0;
    const used = process.cpuUsage(c0);
    steps.push(ms);
    cpu.push((used.user + used.system) / 1000);
    if (engine.policy.totalTokensSeen - engine.policy.length > seen + 1) evicting.push(ms);
  }
  engine.policy.dispose();
  const decodeMs = percentile(steps, 0.5);
  return {
    provider: model.provider,
    runsOn: model.runsOn,
    policy: `${spec.name}${spec.name === 'dense' ? '' : ` ${spec.sink}+${spec.window}`}`,
    prefillTokensPerSecond: o.prefillTokens / (prefillMs / 1000),
    decodeMs,
    decodeCpuMs: percentile(cpu, 0.5),
    decodeTokensPerSecond: 1000 / decodeMs,
    evictionStepMs: evicting.length ? percentile(evicting, 0.5) : null,
  };
}

export const GPU_BENCH_POLICIES = (window: number): PolicySpec[] => [
  { ...DEFAULT_POLICY, name: 'sink', sink: 4, window: window - 4 },
  { ...DEFAULT_POLICY, name: 'window', sink: 0, window },
  { ...DEFAULT_POLICY, name: 'recompute', window },
];

/** The table the command prints: one line per provider and policy, ratios against the CPU's row. */
export function gpuBenchTable(rows: GpuBenchRow[]): string {
  const cpu = (policy: string) => rows.find((r) => r.provider === 'cpu' && r.policy === policy);
  const lines = ['provider   policy            prefill tok/s  decode tok/s (p50 ms, cpu ms)  vs cpu  eviction step ms  up B/step  down B/step  CPU nodes/step'];
  for (const r of rows) {
    const base = cpu(r.policy);
    const d = r.traffic?.decode;
    lines.push(
      [
        r.provider.padEnd(10),
        r.policy.padEnd(17),
        r.prefillTokensPerSecond.toFixed(0).padStart(13),
        `${r.decodeTokensPerSecond.toFixed(1)} (${r.decodeMs.toFixed(2)}, ${r.decodeCpuMs.toFixed(2)})`.padStart(30),
        (base ? `${(r.decodeTokensPerSecond / base.decodeTokensPerSecond).toFixed(2)}x` : '-').padStart(7),
        (r.evictionStepMs === null ? '-' : r.evictionStepMs.toFixed(2)).padStart(17),
        String(d?.upBytes ?? '-').padStart(10),
        String(d?.downBytes ?? '-').padStart(12),
        (d ? `${d.placement.CPUExecutionProvider ?? 0} (${d.cpuOps.join(' ')})` : '-').padStart(15),
      ].join(' '),
    );
  }
  return lines.join('\n');
}
