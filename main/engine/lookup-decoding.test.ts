import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, fixtureAvailable, testModelDir } from '../../native-models/test-models.js';
import { createPolicy } from '../cache/create-policy.js';
import { DEFAULT_POLICY, type PolicySpec } from '../policy/policy.js';
import { Engine, type GenerateOptions, type GenerationEvent, type LookupStats } from './engine.js';
import { toHostKv } from './layer-kv.js';
import { Model, type LoadOptions } from './model.js';
import { PromptLookup } from './prompt-lookup.js';

const POLICIES: PolicySpec[] = [
  { ...DEFAULT_POLICY, name: 'dense' },
  { ...DEFAULT_POLICY, name: 'window', sink: 0, window: 20, evictChunk: 6 },
  { ...DEFAULT_POLICY, name: 'sink', sink: 4, window: 24, evictChunk: 8 },
  { ...DEFAULT_POLICY, name: 'recompute', sink: 0, window: 48 },
];

/** graph layout × how the cache holds its KV (one in-place buffer, or each run's present arrays) */
const MODELS: [string, { graph: { layout: 'appending' | 'fused' | 'reference' } }, LoadOptions][] = [
  ['appending graph, KV buffer', { graph: { layout: 'appending' } }, {}],
  ['appending graph, host arrays', { graph: { layout: 'appending' } }, { kvInPlace: false }],
  ['GroupQueryAttention graph, in place', { graph: { layout: 'fused' } }, {}],
  ['reference graph, present arrays', { graph: { layout: 'reference' } }, {}],
];

const TEXT =
  'The river ran past the mill and the mill turned all day. The river ran past the mill and the children watched. ' +
  'One day the river ran dry, and the mill stopped, and the children asked why the river ran no more.';

async function answer(engine: Engine, opts: GenerateOptions) {
  let done: Extract<GenerationEvent, { type: 'done' }> | null = null;
  let text = '';
  for await (const ev of engine.generate(opts)) {
    if (ev.type === 'done') done = ev;
    else text += ev.text;
  }
  return { ...done!, streamed: text };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Same tokens held, and their KV within float rounding of a many-row run. */
async function expectSameCache(a: Engine, b: Engine): Promise<void> {
  const [ca, cb] = [a.policy.contents(), b.policy.contents()];
  expect(ca.tokens).toEqual(cb.tokens);
  expect(ca.history).toEqual(cb.history);
  expect(ca.originalPositions).toEqual(cb.originalPositions);
  expect(ca.totalTokensSeen).toBe(cb.totalTokensSeen);
  const [ha, hb] = [await toHostKv(ca.kv), await toHostKv(cb.kv)];
  for (let l = 0; l < ha.length; l++) {
    expect(maxAbsDiff(ha[l].key, hb[l].key)).toBeLessThan(1e-5);
    expect(maxAbsDiff(ha[l].value, hb[l].value)).toBeLessThan(1e-5);
  }
}

describe('PromptLookup', () => {
  it('drafts what followed the latest earlier occurrence of the last three tokens, and nothing without one', () => {
    const l = new PromptLookup({ maxDraft: 8 });
    for (let i = 0; i < 10; i++) l.feedback(4, 4); // a chat whose drafts are kept: long drafts pay
    l.push([1, 2, 3, 4, 5, 6, 9, 9, 1, 2, 3]);
    expect(l.draft(3)).toEqual([4, 5, 6]);
    expect(l.draft(10)).toEqual([4, 5, 6, 9, 9, 1, 2, 3]); // up to the end of the history
    const none = new PromptLookup();
    none.push([1, 2, 3, 4, 7, 2, 3]); // only two tokens match
    expect(none.draft(4)).toEqual([]);
  });

  it('prefers the occurrence whose match reaches further back', () => {
    const l = new PromptLookup({ maxDraft: 8 });
    for (let i = 0; i < 10; i++) l.feedback(4, 4);
    l.push([7, 1, 2, 3, 40, 41, 8, 1, 2, 3, 50, 51, 7, 1, 2, 3]);
    expect(l.draft(2)).toEqual([40, 41]); // 7 1 2 3 matches four tokens; the newer 8 1 2 3 only three
  });

  it('drafts as much as the acceptance so far and the cost of a longer run make worth it, and nothing where it would lose', () => {
    const l = new PromptLookup({ maxDraft: 8, tokenCost: 0.25 });
    expect(l.draftLength(8)).toBe(1); // the prior: half the drafted tokens kept
    for (let i = 0; i < 20; i++) l.feedback(4, 4);
    expect(l.acceptance).toBeGreaterThan(0.9);
    expect(l.draftLength(8)).toBeGreaterThanOrEqual(5);
    expect(l.draftLength(2)).toBe(2);
    for (let i = 0; i < 40; i++) l.feedback(1, 0);
    expect(l.acceptance).toBeLessThan(0.25);
    expect(l.draftLength(8)).toBe(0); // each drafted token costs more than it is expected to bring
    l.push([1, 2, 3, 4, 1, 2, 3]);
    let tries = 0;
    while (l.draft(8).length === 0 && tries < 500) tries++; // skipped matches let the estimate drift back
    expect(tries).toBeGreaterThan(10);
    expect(tries).toBeLessThan(500);
  });

  it('learns what a longer run costs from the runs it times', () => {
    const l = new PromptLookup({ tokenCost: 0.25 });
    for (let i = 0; i < 20; i++) {
      l.observeRun(1, 10);
      l.observeRun(3, 11); // +0.5 ms per token: 5 % of a one-token run
    }
    expect(l.tokenCost).toBeCloseTo(0.05, 2);
    expect(l.draftLength(8)).toBeGreaterThan(1); // cheap runs: even a coin-flip acceptance pays for more than one
  });
});

describe.each(MODELS)('lookup decoding (%s)', (_name, modelOpts, loadOpts) => {
  let model: Model;
  let prompt: number[];
  beforeAll(async () => {
    model = await Model.load(testModelDir(modelOpts), loadOpts);
    prompt = model.tokenizer.encode(TEXT, true).slice(0, 40);
  });
  afterAll(() => model.dispose());

  for (const spec of POLICIES) {
    const modes = [['greedy', {}], ['greedy with a repetition penalty', { repetitionPenalty: 1.3 }], ['sampled', { temperature: 0.7, topK: 8, seed: 7 }]] as const;
    for (const [mode, sampling] of modes) {
      it(`${spec.name}, ${mode}: the plain decode's tokens and KV over a long run with evictions`, async () => {
        const run = async (lookup: boolean) => {
          const engine = new Engine(model, createPolicy(spec, model.config, model.kvEditor), { lookup: { maxDraft: 6, tokenCost: 0.05, timed: false } });
          await engine.feed(prompt, { chunk: 16 });
          const out = await answer(engine, { maxTokens: 160, ignoreEos: true, sampling, lookup });
          return { engine, out };
        };
        const [plain, drafted] = [await run(false), await run(true)];
        expect(drafted.out.tokens).toEqual(plain.out.tokens);
        expect(drafted.out.text).toBe(plain.out.text);
        expect(plain.out.lookup).toEqual({ runs: 0, drafted: 0, accepted: 0 } satisfies LookupStats);
        const s = drafted.out.lookup;
        expect(s.drafted).toBeGreaterThan(0);
        // some drafts were taken back (recompute drafts only until its window is full: a few)
        if (mode === 'sampled' && spec.name !== 'recompute') expect(s.accepted).toBeLessThan(s.drafted);
        await expectSameCache(drafted.engine, plain.engine);
        // and it goes on identically: the next fed token's logits agree
        const [a, b] = [await drafted.engine.feed([5]), await plain.engine.feed([5])];
        expect(maxAbsDiff(a, b)).toBeLessThan(1e-4);
        if (spec.name === 'window' || spec.name === 'sink') expect(plain.engine.policy.totalTokensSeen).toBeGreaterThan(plain.engine.policy.capacity);
      });
    }
  }
});

describe('rolling back a verify run', () => {
  let model: Model;
  let tokens: number[];
  beforeAll(async () => {
    model = await Model.load(testModelDir({ graph: { layout: 'appending' } }));
    tokens = model.tokenizer.encode(TEXT + TEXT, true);
  });
  afterAll(() => model.dispose());

  for (const spec of POLICIES.filter((p) => p.name === 'sink' || p.name === 'window')) {
    it(`${spec.name}: a run that evicts and is then cut leaves the cache of feeding its kept tokens one by one`, async () => {
      for (const fill of [spec.window + spec.sink, spec.window + spec.sink - 3]) {
        const [a, b] = [0, 1].map(() => new Engine(model, createPolicy(spec, model.config, model.kvEditor), { lookup: false }));
        await a.feed(tokens.slice(0, fill));
        await b.feed(tokens.slice(0, fill));
        const room = a.policy.draftRoom();
        expect(room).toBeGreaterThan(2);
        const run = tokens.slice(fill, fill + room);
        const plan = await a.policy.plan(run);
        const { present } = await model.forward(plan.ids, plan.positions, plan.past, { allLogits: true });
        a.policy.commit(present, run);
        a.policy.rollback(room - 2);
        for (const t of run.slice(0, 2)) await b.feed([t]);
        await expectSameCache(a, b);
        // the next eviction lands where it would have
        for (const t of tokens.slice(fill + 2, fill + 40)) expect(maxAbsDiff(await a.feed([t]), await b.feed([t]))).toBeLessThan(1e-4);
        await expectSameCache(a, b);
      }
    });
  }
});

describe.runIf(fixtureAvailable(FIXTURES.tinystories))('lookup decoding on a real model (tinystories)', () => {
  it('sink cache, greedy: the same story, with drafts accepted from its own text', async () => {
    const model = await Model.load(FIXTURES.tinystories);
    const spec: PolicySpec = { ...DEFAULT_POLICY, name: 'sink', sink: 4, window: 96, evictChunk: 16 };
    const prompt = model.tokenizer.encode('Once upon a time, there was a little girl named Lily. She loved to play with her ball. One day, Lily', true);
    const run = async (lookup: boolean) => {
      const engine = new Engine(model, createPolicy(spec, model.config, model.kvEditor), { lookup: { timed: false } });
      await engine.feed(prompt);
      return { engine, out: await answer(engine, { maxTokens: 300, ignoreEos: true, lookup }) };
    };
    const [plain, drafted] = [await run(false), await run(true)];
    expect(drafted.out.tokens).toEqual(plain.out.tokens);
    expect(drafted.out.lookup.accepted).toBeGreaterThan(0);
    await expectSameCache(drafted.engine, plain.engine);
    await model.dispose();
  });
});
