import type { PolicyLatencyResult } from './latency-bench.js';
import type { MachineInfo } from './machine-info.js';

/** What `perpetua bench latency --json` writes. */
export interface LatencyReport {
  kind: 'perpetua.bench.latency';
  version: 1;
  command: string;
  model: {
    dir: string;
    name: string;
    /** set for --shape models: the real model whose architecture was rebuilt with random weights */
    shape: { name: string; source: string; parameters: number } | null;
    fingerprint: string;
    provider: string;
    layers: number;
    hiddenSize: number;
    vocabSize: number;
  };
  settings: {
    tokens: number;
    window: number;
    sink: number;
    points: number;
    samples: number;
    evictChunk: number;
    /** "synthetic" (seeded ids) or the text file streamed */
    stream: string;
  };
  machine: MachineInfo;
  startedAt: string;
  finishedAt: string;
  /** load averages when the run finished (with machine.loadAverage: was the CPU shared during the run?) */
  loadAverageAtEnd: number[];
  interrupted: boolean;
  results: PolicyLatencyResult[];
  /** sink's per-token speedup over recompute (recompute time / sink time), when both ran */
  speedup: SinkSpeedup | null;
}

export interface SinkSpeedup {
  /** over all timed tokens at positions ≥ the cache size */
  p50: number | null;
  p90: number | null;
  /** the same from CPU time per token, which other programs sharing the CPU disturb far less */
  cpuP50: number | null;
  /** at each shared checkpoint, p50 over p50 */
  perPoint: { position: number; ratio: number }[];
}

export function sinkSpeedup(results: PolicyLatencyResult[]): SinkSpeedup | null {
  const sink = results.find((r) => r.spec.name === 'sink');
  const recompute = results.find((r) => r.spec.name === 'recompute');
  if (!sink || !recompute) return null;
  const perPoint = sink.points.flatMap((p) => {
    const q = recompute.points.find((x) => x.position === p.position);
    return q ? [{ position: p.position, ratio: round(q.p50Ms / p.p50Ms) }] : [];
  });
  const ratio = (a: number | undefined, b: number | undefined): number | null => (a && b ? round(a / b) : null);
  return {
    p50: ratio(recompute.steady?.p50Ms, sink.steady?.p50Ms),
    p90: ratio(recompute.steady?.p90Ms, sink.steady?.p90Ms),
    cpuP50: ratio(recompute.steady?.cpuP50Ms, sink.steady?.cpuP50Ms),
    perPoint,
  };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

const MiB = 2 ** 20;

/** A Markdown table: steady-state latency, memory, and the speedup of sink over recompute. */
export function latencyTable(report: LatencyReport): string {
  const rows = [
    '| policy | cache | p50 ms/token | p90 ms/token | CPU p50 ms/token | p50 at end | KV at end (MiB) | peak RSS (MiB) | RSS over loaded model (MiB) |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of report.results) {
    const last = r.points[r.points.length - 1];
    const cache = r.spec.name === 'dense' ? 'all' : r.spec.name === 'sink' ? `${r.spec.sink}+${r.spec.window}` : String(r.spec.window);
    rows.push(
      `| ${r.policy} | ${cache} | ${ms(r.steady?.p50Ms)} | ${ms(r.steady?.p90Ms)} | ${ms(r.steady?.cpuP50Ms)} | ${ms(last?.p50Ms)}${last ? ` @${last.position}` : ''} | ${last ? (last.kvBytes / MiB).toFixed(1) : '–'} | ${(r.peakRssBytes / MiB).toFixed(0)}${r.isolated ? '' : '*'} | ${r.rssAfterLoadBytes ? ((r.peakRssBytes - r.rssAfterLoadBytes) / MiB).toFixed(0) : '–'} |`,
    );
  }
  const s = report.speedup;
  if (s?.p50) {
    rows.push('', `sink over recompute: ${s.p50}× faster per token at p50 (${s.p90}× at p90; ${s.cpuP50}× in CPU time), positions ≥ ${report.settings.window}.`);
  }
  const load = [report.machine.loadAverage?.[0], report.loadAverageAtEnd?.[0]];
  if (load.some((x) => x !== undefined && x > report.machine.cores)) {
    rows.push('', `The CPU was shared during this run (1-minute load average ${load.join(' → ')} on ${report.machine.cores} cores): wall times are inflated; CPU times much less so.`);
  }
  if (report.results.some((r) => !r.isolated)) rows.push('', '* all policies ran in one process: peak RSS is the process-wide peak so far.');
  return rows.join('\n');
}

function ms(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '–';
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}
