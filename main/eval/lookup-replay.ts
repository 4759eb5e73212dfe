import { createPolicy } from '../cache/create-policy.js';
import type { CachePolicy } from '../engine/cache-policy.js';
import type { Model } from '../engine/model.js';
import { argmax } from '../engine/sampler.js';
import { DEFAULT_POLICY } from '../policy/policy.js';

/** One model run of a lookup decode: tokens drafted with it and how many of them were kept (0, 0: a plain step). */
export interface LookupRun {
  drafted: number;
  accepted: number;
}

export interface DecodeTiming {
  tokens: number;
  runs: number;
  ms: number;
  cpuMs: number;
}

const cpuMs = (c: NodeJS.CpuUsage): number => (c.user + c.system) / 1000;

/**
 * The cost of a lookup decode on another model: the runs a real model made on real text (`trace`, drafted and kept
 * per run), replayed on `model` after a prefill of `prompt` — each run feeds 1 + drafted tokens in one verify run,
 * reads the rows a sampler would (kept + 1), and takes the rejected tokens back — against the same number of tokens
 * decoded one at a time (`plain`). Random weights cannot say what would be accepted; they can say what it costs.
 */
export async function replayLookup(model: Model, prompt: number[], trace: LookupRun[], plainFirst = false): Promise<{ lookup: DecodeTiming; plain: DecodeTiming }> {
  const V = model.vocabSize;
  const tokens = trace.reduce((n, r) => n + r.accepted + 1, 0);
  const fresh = async (): Promise<CachePolicy> => {
    const policy = createPolicy({ ...DEFAULT_POLICY, name: 'dense' }, model.config, model.kvEditor);
    const plan = await policy.plan(prompt);
    const out = await model.forward(plan.ids, plan.positions, plan.past, { allLogits: false });
    policy.commit(out.present, prompt);
    return policy;
  };
  const run = async (policy: CachePolicy, ids: number[]): Promise<Float32Array> => {
    const plan = await policy.plan(ids);
    const out = await model.forward(plan.ids, plan.positions, plan.past, { allLogits: true });
    policy.commit(out.present, ids);
    return out.logits;
  };
  const time = async (body: (policy: CachePolicy) => Promise<number>): Promise<DecodeTiming> => {
    const policy = await fresh();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const runs = await body(policy);
    const timing = { tokens, runs, ms: performance.now() - t0, cpuMs: cpuMs(process.cpuUsage(c0)) };
    policy.dispose();
    return timing;
  };
  let next = prompt[prompt.length - 1];
  const withLookup = () =>
    time(async (policy) => {
      for (const r of trace) {
        const ids = [next, ...prompt.slice(0, r.drafted)]; // any ids: only the work counts
        const logits = await run(policy, ids);
        for (let j = 0; j <= r.accepted; j++) next = argmax(logits.subarray(j * V, (j + 1) * V));
        policy.rollback(r.drafted - r.accepted);
      }
      return trace.length;
    });
  const withoutLookup = () =>
    time(async (policy) => {
      for (let t = 0; t < tokens; t++) next = argmax(await run(policy, [next]));
      return tokens;
    });
  const plain = plainFirst ? await withoutLookup() : null;
  const lookup = await withLookup();
  return { lookup, plain: plain ?? (await withoutLookup()) };
}
