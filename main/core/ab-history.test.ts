import { describe, expect, it } from 'vitest';
import type { AbMetrics, AbRun } from '../api/schemas.js';
import { summarizeAbRuns, toApiAbRun } from './ab-history.js';

const m = (policy: AbMetrics['policy'], p50: number, ppl: number | null): AbMetrics => ({
  policy, answer: 'x', tokens: 3, latencyP50Ms: p50, latencyP90Ms: p50 * 2, tokensPerSecond: 1000 / p50, cacheFill: 10, cacheCapacity: 36,
  kvBytes: p50 * 100, transcriptPpl: ppl, transcriptTokens: 40, fork: 'forked',
});
const sink = { name: 'sink', sink: 4, window: 32, pinSystem: false } as const;
const win = { name: 'window', sink: 7, window: 24, pinSystem: false } as const;
const run = (id: number, vote: AbRun['vote'], a: AbMetrics, b: AbMetrics): AbRun => ({ id: String(id), sessionId: '1', createdAt: id, prompt: 'p', a, b, vote, continuable: false });

describe('A/B history', () => {
  it('counts wins, losses and ties per policy and takes medians per policy', () => {
    const s = summarizeAbRuns([
      run(1, 'a', m(sink, 2, 10), m(win, 1, 30)),
      run(2, 'tie', m(sink, 4, 12), m(win, 3, 50)),
      run(3, null, m(sink, 6, null), m(win, 5, 70)),
      run(4, 'b', m(sink, 8, 14), m(win, 7, 90)),
    ]);
    expect(s).toMatchObject({ runs: 4, voted: 3, ties: 1 });
    // a window policy's ignored sink count does not make it another policy
    expect(s.policies.map((p) => [p.key, p.runs, p.wins, p.losses, p.ties])).toEqual([
      ['sink:4:32', 4, 1, 1, 1],
      ['window:0:24', 4, 1, 1, 1],
    ]);
    const [ps, pw] = s.policies;
    expect(ps.medianLatencyP50Ms).toBe(5);
    expect(ps.medianLatencyP90Ms).toBe(10);
    expect(ps.medianTranscriptPpl).toBe(12); // the unmeasured run is left out
    expect(ps.medianKvBytes).toBe(500);
    expect(pw.medianTranscriptPpl).toBe(60);
    expect(summarizeAbRuns([])).toEqual({ runs: 0, voted: 0, ties: 0, policies: [] });
  });

  it('reads runs stored by `perpetua ab` (full policy specs, NaN perplexity as null)', () => {
    const cli = { ...m(sink, 2, null), policy: { ...sink, evictChunk: 64 }, transcriptPpl: null };
    const r = toApiAbRun({ id: 7, sessionId: null, createdAt: 1, prompt: 'p', branchA: {}, branchB: {}, metrics: { a: cli, b: m(win, 1, 3) }, vote: null, base: null });
    expect(r).toMatchObject({ id: '7', sessionId: null, a: { policy: sink, transcriptPpl: null }, b: { transcriptPpl: 3 } });
    expect(toApiAbRun({ id: 8, sessionId: 1, createdAt: 1, prompt: 'p', branchA: {}, branchB: {}, metrics: { nope: 1 }, vote: null, base: null })).toBeNull();
  });
});
