import { createPolicy } from '../cache/create-policy.js';
import type { Model } from '../engine/model.js';
import { argmax } from '../engine/sampler.js';
import { PromptLookup } from '../engine/prompt-lookup.js';
import { DEFAULT_POLICY } from '../policy/policy.js';

/** A real model's answer on real text: what a lookup decode of it on another model is measured with. */
export interface LookupText {
  /** the prompt's tokens */
  prompt: number[];
  /** the answer's tokens, as that model decoded them */
  answer: number[];
}

export interface DecodeTiming {
  tokens: number;
  runs: number;
  drafted: number;
  accepted: number;
  ms: number;
  cpuMs: number;
}

const cpuMs = (c: NodeJS.CpuUsage): number => (c.user + c.system) / 1000;

/**
 * Lookup decoding of a known answer on `model`: the engine's drafter (PromptLookup, timing `model`'s own runs)
 * drafts from the prompt and the answer so far, a drafted token counts as kept where it is the answer's next token
 * (what greedy decoding would pick were `model` the model that wrote the answer), and each run feeds the token and
 * its draft in one verify run, reads the rows a sampler would and takes the rest back — against the answer decoded
 * one token at a time. The cache is first filled with `filler` tokens and the prompt. Random weights cannot say what
 * would be accepted; real text can, and the random-weight model of a real shape says what it costs there.
 */
export async function replayLookup(model: Model, filler: number[], text: LookupText, plainFirst = false): Promise<{ lookup: DecodeTiming; plain: DecodeTiming }> {
  const V = model.vocabSize;
  const context = [...filler, ...text.prompt];
  // one cache for both decodes: each starts from the same prefilled context and is taken back after, so neither pays
  // for allocating (or collecting) a cache the other left
  const policy = createPolicy({ ...DEFAULT_POLICY, name: 'dense' }, model.config, model.kvEditor);
  const prefill = await policy.plan(context);
  const filled = await model.forward(prefill.ids, prefill.positions, prefill.past, { allLogits: false });
  policy.commit(filled.present, context);
  await policy.plan(new Array(text.answer.length + 16).fill(0)); // room for the whole answer now, not mid-decode
  const run = async (ids: number[]): Promise<Float32Array> => {
    const plan = await policy.plan(ids);
    const out = await model.forward(plan.ids, plan.positions, plan.past, { allLogits: true });
    policy.commit(out.present, ids);
    return out.logits;
  };
  const time = async (body: () => Promise<Omit<DecodeTiming, 'ms' | 'cpuMs'>>): Promise<DecodeTiming> => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const counts = await body();
    const timing = { ...counts, ms: performance.now() - t0, cpuMs: cpuMs(process.cpuUsage(c0)) };
    policy.rollback(policy.length - context.length);
    return timing;
  };
  const { answer } = text;
  const withLookup = () =>
    time(async () => {
      const lookup = new PromptLookup();
      lookup.push(text.prompt);
      let [runs, drafted, accepted] = [0, 0, 0];
      for (let at = 0; at < answer.length; ) {
        const id = answer[at];
        lookup.push([id]);
        const draft = lookup.draft(Math.min(answer.length - at - 1, policy.draftRoom() - 1));
        let kept = 0;
        while (kept < draft.length && draft[kept] === answer[at + 1 + kept]) kept++;
        const t0 = performance.now();
        const logits = await run([id, ...draft]);
        for (let j = 0; j <= kept; j++) argmax(logits.subarray(j * V, (j + 1) * V));
        policy.rollback(draft.length - kept);
        lookup.observeRun(1 + draft.length, performance.now() - t0);
        lookup.feedback(draft.length, kept);
        lookup.push(answer.slice(at + 1, at + 1 + kept));
        runs++;
        drafted += draft.length;
        accepted += kept;
        at += 1 + kept;
      }
      return { tokens: answer.length, runs, drafted, accepted };
    });
  const withoutLookup = () =>
    time(async () => {
      for (const id of answer) argmax(await run([id]));
      return { tokens: answer.length, runs: answer.length, drafted: 0, accepted: 0 };
    });
  const plain = plainFirst ? await withoutLookup() : null;
  const lookup = await withLookup();
  const result = { lookup, plain: plain ?? (await withoutLookup()) };
  policy.dispose();
  return result;
}
