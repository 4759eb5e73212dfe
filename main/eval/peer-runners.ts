import { dirname, basename } from 'node:path';
import { createPolicy } from '../cache/create-policy.js';
import { DEFAULT_POLICY } from '../policy/policy.js';
import { Engine } from '../engine/engine.js';
import { Model } from '../engine/model.js';

/**
 * One engine under test, driven token by token with greedy decoding so every engine does the same work:
 * `prefill` runs the prompt and returns the first generated token, `step` feeds the last token and returns the
 * next. Times are taken around these calls by the bench.
 */
export interface PeerRunner {
  readonly name: string;
  /** weights as stored: fp32, F16, Q4_0 … */
  readonly weights: string;
  prefill(tokens: number[]): Promise<number>;
  step(): Promise<number>;
  reset(): Promise<void>;
  dispose(): Promise<void>;
}

/** A peer that could not be loaded here, and why (not installed, no prebuilt binary for this machine …). */
export interface MissingPeer {
  name: string;
  reason: string;
}

/** Optional dev dependencies are imported by a name the type checker does not resolve. */
function importOptional(name: string): Promise<any> {
  return import(name);
}

function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** Perpetua's engine and decode loop (dense cache: the context never fills in the bench). */
export async function perpetuaRunner(dir: string, weights: string, threads?: string, name = 'Perpetua'): Promise<PeerRunner> {
  const model = await Model.load(dir, { threads });
  const engine = new Engine(model, createPolicy({ ...DEFAULT_POLICY, name: 'dense' }, model.config, model.kvEditor));
  let last = 0;
  return {
    name,
    weights,
    async prefill(tokens) {
      return (last = argmax(await engine.feed(tokens, { chunk: tokens.length })));
    },
    async step() {
      return (last = argmax(await engine.feed([last])));
    },
    async reset() {
      engine.policy.reset();
    },
    dispose: () => model.dispose(),
  };
}

/**
 * llama.cpp through node-llama-cpp's prebuilt CPU binary (an optional dev dependency): `build: 'never'`, so
 * nothing is compiled or downloaded while the bench runs.
 */
export async function llamaCppRunner(gguf: string, weights: string, threads: number, contextSize: number): Promise<PeerRunner | MissingPeer> {
  let lib: any;
  try {
    lib = await importOptional('node-llama-cpp');
  } catch (err) {
    return { name: 'llama.cpp', reason: `node-llama-cpp is not installed (${(err as Error).message.split('\n')[0]})` };
  }
  let llama: any;
  try {
    llama = await lib.getLlama({ gpu: false, build: 'never', logLevel: lib.LlamaLogLevel.error });
  } catch (err) {
    return { name: 'llama.cpp', reason: `node-llama-cpp has no prebuilt CPU binary for this machine (${(err as Error).message.split('\n')[0]})` };
  }
  const model = await llama.loadModel({ modelPath: gguf, gpuLayers: 0 });
  const context = await model.createContext({ contextSize, threads, batchSize: 512, sequences: 1 });
  let sequence = context.getSequence();
  let gen: AsyncGenerator<number> | null = null;
  const next = async (): Promise<number> => {
    const r = await gen!.next();
    if (r.done) throw new Error('llama.cpp stopped generating.');
    return r.value;
  };
  return {
    name: 'llama.cpp',
    weights,
    async prefill(tokens) {
      await sequence.evaluateWithoutGeneratingNewTokens(tokens.slice(0, -1));
      gen = sequence.evaluate(tokens.slice(-1), { temperature: 0, yieldEogToken: true });
      return next();
    },
    step: next,
    async reset() {
      await gen?.return(undefined);
      gen = null;
      await sequence.clearHistory();
    },
    async dispose() {
      await gen?.return(undefined);
      sequence.dispose?.();
      sequence = null;
      await context.dispose();
      await model.dispose();
      await llama.dispose?.();
    },
  };
}

/**
 * transformers.js (@huggingface/transformers, on the same onnxruntime-node) running a model folder through its
 * own generate loop; a streamer records when each token arrives. Its graph is Perpetua's reference layout (the
 * plain decoder an optimum export has).
 */
export async function transformersJsRunner(dir: string, weights: string): Promise<PeerRunner | MissingPeer> {
  let tf: any;
  try {
    tf = await importOptional('@huggingface/transformers');
  } catch (err) {
    return { name: 'transformers.js', reason: `@huggingface/transformers is not installed (${(err as Error).message.split('\n')[0]})` };
  }
  tf.env.allowRemoteModels = false;
  tf.env.localModelPath = dirname(dir);
  const model = await tf.AutoModelForCausalLM.from_pretrained(basename(dir), { dtype: 'fp32', device: 'cpu', use_external_data_format: true });
  // generate() drives the loop; the streamer hands each new token to whoever awaits it
  let waiting: ((t: number) => void)[] = [];
  let queued: number[] = [];
  let running: Promise<unknown> | null = null;
  let stop = false;
  class Streamer extends tf.BaseStreamer {
    prompt = true;
    put(value: bigint[][]) {
      if (this.prompt) return void (this.prompt = false);
      const t = Number(value[0][0] ?? value[0]);
      const w = waiting.shift();
      if (w) w(t);
      else queued.push(t);
    }
    end() {}
  }
  const take = (): Promise<number> => (queued.length ? Promise.resolve(queued.shift()!) : new Promise((r) => waiting.push(r)));
  class StopWhenReset extends tf.StoppingCriteria {
    _call(ids: unknown[]) {
      return ids.map(() => stop);
    }
  }
  const criteria = new StopWhenReset();
  return {
    name: 'transformers.js',
    weights,
    async prefill(tokens) {
      stop = false;
      const input_ids = new tf.Tensor('int64', BigInt64Array.from(tokens, BigInt), [1, tokens.length]);
      running = model.generate({
        input_ids,
        max_new_tokens: 100_000,
        do_sample: false,
        streamer: new Streamer(),
        stopping_criteria: [criteria],
      });
      return take();
    },
    step: take,
    async reset() {
      stop = true;
      const drain = waiting;
      waiting = [];
      queued = [];
      drain.forEach((w) => w(-1));
      await running?.catch(() => undefined);
      running = null;
    },
    async dispose() {
      stop = true;
      await running?.catch(() => undefined);
      await model.dispose();
    },
  };
}
