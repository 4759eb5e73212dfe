import { loadavg } from 'node:os';
import { percentile } from './percentile.js';
import type { PeerRunner } from './peer-runners.js';

export interface PeerSettings {
  /** prompt tokens prefilled in one run per round */
  prompt: number;
  /** tokens decoded one at a time per round */
  decode: number;
  /** rounds; each runs every engine once, in turn, so slow spells of a shared machine hit all of them */
  rounds: number;
  /** first decode steps of each round left out of the statistics (caches warming) */
  warmup: number;
}

export interface PeerResult {
  name: string;
  weights: string;
  /** bytes of weights one decode step reads (every matrix once) */
  bytesPerToken: number;
  decode: { tokensPerSecond: number; p50Ms: number; p99Ms: number; cpuMsPerToken: number; samples: number };
  prefill: { tokensPerSecond: number; cpuMsPerToken: number; samples: number };
  /** decode speed over the bound that memory bandwidth sets (bandwidth / bytes per token) */
  ofBandwidthBound: number;
  /** the greedy tokens of the first round (identical weights and greedy decoding give identical text) */
  tokens: number[];
  /** 1-minute load average after each round */
  load: number[];
}

interface Samples {
  steps: number[];
  stepCpu: number[];
  prefillMs: number[];
  prefillCpu: number[];
  tokens: number[];
  load: number[];
}

const cpuMs = (c: NodeJS.CpuUsage): number => (c.user + c.system) / 1000;

/**
 * Runs every engine on the same prompt, round-robin: in each round each engine prefills `prompt` tokens, then
 * decodes `decode` tokens greedily, one at a time, timed on the wall clock and in CPU time of this process (all
 * threads, spin-waits included). Medians and p99 over every round.
 */
export async function runPeers(
  runners: { runner: PeerRunner; bytesPerToken: number }[],
  prompt: number[],
  s: PeerSettings,
  bandwidthBytesPerSecond: number,
  onRound?: (round: number, name: string, stepMs: number) => void,
): Promise<PeerResult[]> {
  const samples: Samples[] = runners.map(() => ({ steps: [], stepCpu: [], prefillMs: [], prefillCpu: [], tokens: [], load: [] }));
  for (let round = 0; round < s.rounds; round++) {
    // alternate the order so no engine always runs right after the same neighbour
    const order = runners.map((_, i) => i);
    if (round % 2) order.reverse();
    for (const i of order) {
      const { runner } = runners[i];
      const out = samples[i];
      await runner.reset();
      let c0 = process.cpuUsage();
      let t0 = performance.now();
      let token = await runner.prefill(prompt);
      out.prefillMs.push(performance.now() - t0);
      out.prefillCpu.push(cpuMs(process.cpuUsage(c0)));
      const generated = [token];
      const steps: number[] = [];
      for (let k = 0; k < s.decode; k++) {
        c0 = process.cpuUsage();
        t0 = performance.now();
        token = await runner.step();
        const ms = performance.now() - t0;
        generated.push(token);
        if (k < s.warmup) continue;
        steps.push(ms);
        out.steps.push(ms);
        out.stepCpu.push(cpuMs(process.cpuUsage(c0)));
      }
      if (round === 0) out.tokens = generated;
      out.load.push(Math.round(loadavg()[0] * 100) / 100);
      onRound?.(round, `${runner.name} ${runner.weights}`, percentile(steps, 0.5));
    }
  }
  return runners.map(({ runner, bytesPerToken }, i) => {
    const x = samples[i];
    const p50 = percentile(x.steps, 0.5);
    const prefillMs = percentile(x.prefillMs, 0.5);
    return {
      name: runner.name,
      weights: runner.weights,
      bytesPerToken,
      decode: {
        tokensPerSecond: 1000 / p50,
        p50Ms: p50,
        p99Ms: percentile(x.steps, 0.99),
        cpuMsPerToken: percentile(x.stepCpu, 0.5),
        samples: x.steps.length,
      },
      // the prefill run also produces the first token: that is in its time, as it is in a chat's
      prefill: { tokensPerSecond: (prompt.length * 1000) / prefillMs, cpuMsPerToken: percentile(x.prefillCpu, 0.5) / prompt.length, samples: x.prefillMs.length },
      ofBandwidthBound: 1000 / p50 / (bandwidthBytesPerSecond / bytesPerToken),
      tokens: x.tokens,
      load: x.load,
    };
  });
}

/**
 * Single-thread read bandwidth of main memory: the best of several passes of memcmp over two equal 256 MiB
 * buffers (glibc's vectorized compare reads both to the end), far larger than any cache.
 */
export function measureReadBandwidth(passes = 5, bytes = 256 * 2 ** 20): number {
  const a = Buffer.alloc(bytes, 1);
  const b = Buffer.alloc(bytes, 1);
  let best = Infinity;
  for (let i = 0; i < passes; i++) {
    const t0 = performance.now();
    if (Buffer.compare(a, b) !== 0) throw new Error('unreachable');
    best = Math.min(best, performance.now() - t0);
  }
  return (2 * bytes) / (best / 1000);
}
