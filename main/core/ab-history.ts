/**
 * A/B history as the API shows it: stored runs turned into plain, validated records, and the summary per
 * policy (votes won, lost and tied; median latency, speed, memory and conversation perplexity).
 */
import { z } from 'zod';
import type { AbHistoryResult, AbMetrics, AbPolicySummary, AbRun, AbSummary } from '../api/ab-schemas.js';
import type { PolicyConfig } from '../policy/policy.js';
import { LenientPolicyConfigSchema } from '../policy/policy-schema.js';
import { policyKey } from '../policy/policy-text.js';
import { toConfig } from '../policy/policy.js';
import { percentile } from '../eval/percentile.js';
import type { Store } from '../store/store.js';
import type { AbRun as StoredAbRun } from '../store/types.js';
import { chatIsAtBase } from './ab-base.js';
import type { AbBranchMetrics } from './ab-run.js';

/** What `runAb` measured, as the API carries it (non-finite numbers become null or 0: they travel as JSON). */
export function toApiMetrics(m: AbBranchMetrics): AbMetrics {
  return {
    policy: toConfig(m.policy),
    answer: m.answer,
    tokens: m.tokens,
    latencyP50Ms: finite(m.latencyP50Ms),
    latencyP90Ms: finite(m.latencyP90Ms),
    tokensPerSecond: finite(m.tokensPerSecond),
    cacheFill: m.cacheFill,
    cacheCapacity: m.cacheCapacity,
    kvBytes: m.kvBytes,
    transcriptPpl: Number.isFinite(m.transcriptPpl) && m.transcriptPpl >= 0 ? m.transcriptPpl : null,
    transcriptTokens: m.transcriptTokens,
    fork: m.fork,
  };
}

const num = z.preprocess((v) => (typeof v === 'number' && Number.isFinite(v) ? v : 0), z.number().nonnegative().catch(0));
/** Tolerant reader of the metrics the store holds (written by the app or by `perpetua ab`). */
const StoredMetrics = z.object({
  policy: LenientPolicyConfigSchema,
  answer: z.string().catch(''),
  tokens: num,
  latencyP50Ms: num,
  latencyP90Ms: num,
  tokensPerSecond: num,
  cacheFill: num,
  cacheCapacity: num,
  kvBytes: num,
  transcriptPpl: z.preprocess((v) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null), z.number().nullable()),
  transcriptTokens: num,
  fork: z.enum(['forked', 'rebuilt']).catch('forked'),
});
const StoredRunMetrics = z.object({ a: StoredMetrics, b: StoredMetrics });

/**
 * A stored run for the API; null when its metrics are unreadable (it is left out of the history). `continuable`: its
 * chat has not moved on since (chatIsAtBase).
 */
export function toApiAbRun(r: StoredAbRun, continuable = false): AbRun | null {
  const m = StoredRunMetrics.safeParse(r.metrics);
  if (!m.success) return null;
  const whole = (x: number) => Math.round(x);
  const fix = (x: z.infer<typeof StoredMetrics>): AbMetrics => ({
    ...x,
    tokens: whole(x.tokens),
    cacheFill: whole(x.cacheFill),
    cacheCapacity: whole(x.cacheCapacity),
    transcriptTokens: whole(x.transcriptTokens),
  });
  return {
    id: String(r.id),
    sessionId: r.sessionId === null ? null : String(r.sessionId),
    createdAt: r.createdAt,
    prompt: r.prompt,
    a: fix(m.data.a),
    b: fix(m.data.b),
    vote: r.vote,
    continuable,
  };
}

/** The stored runs (newest first; one session's or all) that this version can read, and their summary. */
export function abHistory(store: Store, sessionId?: number): AbHistoryResult {
  const runs = store.listAbRuns(sessionId).map((r) => toApiAbRun(r, chatIsAtBase(store, r))).filter((r) => r !== null);
  return { runs, summary: summarizeAbRuns(runs) };
}

/** Wins per policy and median measurements per policy, most wins first (then fewest losses, then most runs). */
export function summarizeAbRuns(runs: readonly AbRun[]): AbSummary {
  interface Acc {
    policy: PolicyConfig;
    runs: number;
    wins: number;
    losses: number;
    ties: number;
    p50: number[];
    p90: number[];
    tps: number[];
    ppl: number[];
    kv: number[];
  }
  const by = new Map<string, Acc>();
  const acc = (p: PolicyConfig): Acc => {
    const key = policyKey(p);
    let a = by.get(key);
    if (!a) by.set(key, (a = { policy: p, runs: 0, wins: 0, losses: 0, ties: 0, p50: [], p90: [], tps: [], ppl: [], kv: [] }));
    return a;
  };
  let voted = 0;
  let ties = 0;
  for (const run of runs) {
    if (run.vote) voted++;
    if (run.vote === 'tie') ties++;
    for (const label of ['a', 'b'] as const) {
      const m = run[label];
      const a = acc(m.policy);
      a.runs++;
      if (run.vote === 'tie') a.ties++;
      else if (run.vote === label) a.wins++;
      else if (run.vote) a.losses++;
      a.p50.push(m.latencyP50Ms);
      a.p90.push(m.latencyP90Ms);
      a.tps.push(m.tokensPerSecond);
      a.kv.push(m.kvBytes);
      if (m.transcriptPpl !== null) a.ppl.push(m.transcriptPpl);
    }
  }
  const median = (xs: number[]) => (xs.length ? percentile(xs, 0.5) : 0);
  const policies: AbPolicySummary[] = [...by.entries()].map(([key, a]) => ({
    key,
    policy: a.policy,
    runs: a.runs,
    wins: a.wins,
    losses: a.losses,
    ties: a.ties,
    medianLatencyP50Ms: median(a.p50),
    medianLatencyP90Ms: median(a.p90),
    medianTokensPerSecond: median(a.tps),
    medianTranscriptPpl: a.ppl.length ? percentile(a.ppl, 0.5) : null,
    medianKvBytes: median(a.kv),
  }));
  policies.sort((x, y) => y.wins - x.wins || x.losses - y.losses || y.runs - x.runs || x.key.localeCompare(y.key));
  return { runs: runs.length, voted, ties, policies };
}

function finite(x: number): number {
  return Number.isFinite(x) && x >= 0 ? x : 0;
}
