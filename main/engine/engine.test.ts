import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, cpSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, type PolicySpec } from '../policy/policy.js';
import { createPolicy } from '../cache/create-policy.js';
import { FIXTURES, fixtureAvailable, testModelDir } from '../../native-models/test-models.js';
import { Engine, type GenerationEvent } from './engine.js';
import { ModelLoadError, TokenizerMismatchError, UnsupportedModelError } from './errors.js';
import { Model } from './model.js';
import { argmax } from './sampler.js';
import { StreamingDetokenizer } from './text-tokenizer.js';

const run = promisify(execFile);
const dense: PolicySpec = { ...DEFAULT_POLICY, name: 'dense' };

async function collect(gen: AsyncGenerator<GenerationEvent>) {
  let text = '';
  let done: Extract<GenerationEvent, { type: 'done' }> | null = null;
  for await (const ev of gen) {
    if (ev.type === 'token') text += ev.text;
    else done = ev;
  }
  return { text, done: done! };
}

/** Greedy decoding with no KV cache at all: every step re-runs the whole sequence (an independent path). */
async function greedyWithoutCache(model: Model, prompt: number[], n: number): Promise<number[]> {
  const seq = [...prompt];
  const V = model.vocabSize;
  for (let i = 0; i < n; i++) {
    const { logits } = await model.forward(seq, seq.map((_, j) => j), []);
    seq.push(argmax(logits.subarray((seq.length - 1) * V)));
  }
  return seq.slice(prompt.length);
}

const REAL = [
  ['tinystories-656k', FIXTURES.tinystories, 'Once upon a time, there was a little girl named Lily',
    '. She was three years old. She loved to explore and play with her friends. One day, she saw a small bird flying high in the sky. The bird was big and strong and loud.\nLily asked her mom, "Mom, can'],
  ['stories260k', FIXTURES.stories260k, 'Once upon a time, there was a little boy named Tom',
    '. Tom loved to play with his toys. One day, Tom saw a big box in the ground. He wanted to play with it, but'],
] as const;

describe('Engine on real models', () => {
  for (const [name, dir, prompt, reference] of REAL) {
    it.runIf(fixtureAvailable(dir))(`${name}: greedy text equals the reference ONNX decoded without a cache`, async () => {
      const model = await Model.load(dir);
      const ids = model.tokenizer.encode(prompt, true);
      const engine = new Engine(model, createPolicy(dense, model.config));
      await engine.feed(ids, { chunk: 4 });
      const { text, done } = await collect(engine.generate({ maxTokens: 40 }));
      expect(done.tokens).toEqual(await greedyWithoutCache(model, ids, done.tokens.length));
      expect(text.startsWith(reference.slice(0, Math.min(reference.length, text.length)))).toBe(true);
      expect(text.length).toBeGreaterThan(60);
      await model.dispose();
    });
  }
});

describe('Engine', () => {
  it('streams text deltas that add up to the decoded tokens, and stops on max tokens', async () => {
    const model = await Model.load(testModelDir());
    const engine = new Engine(model, createPolicy(DEFAULT_POLICY, model.config));
    await engine.feed(model.tokenizer.encode('Hello there', true));
    const { text, done } = await collect(engine.generate({ maxTokens: 25, sampling: { temperature: 0.9, seed: 1 } }));
    expect(done.reason).toBe('length');
    expect(done.tokens).toHaveLength(25);
    expect(text).toBe(model.tokenizer.decode(done.tokens));
    await model.dispose();
  });

  it('stops on EOS, on a stop string, and on cancel', async () => {
    const model = await Model.load(testModelDir());
    const fresh = async () => {
      const e = new Engine(model, createPolicy(DEFAULT_POLICY, model.config));
      await e.feed(model.tokenizer.encode('Once upon a time', true));
      return e;
    };
    const first = await collect((await fresh()).generate({ maxTokens: 8 }));
    // Make the first greedy token the EOS: the engine must stop before emitting it.
    const e1 = await fresh();
    e1.logits!.fill(-100);
    e1.logits![2] = 100;
    expect((await collect(e1.generate({ maxTokens: 8 }))).done.reason).toBe('eos');
    const stopAt = first.text.slice(2, 5);
    const stopped = await collect((await fresh()).generate({ maxTokens: 8, stop: [stopAt] }));
    expect(stopped.done.reason).toBe('stop');
    expect(stopped.text).toBe(first.text.slice(0, first.text.indexOf(stopAt)));
    const ac = new AbortController();
    ac.abort();
    expect((await collect((await fresh()).generate({ maxTokens: 8, signal: ac.signal }))).done.reason).toBe('cancelled');
    await model.dispose();
  });

  it('detokenizes multi-byte characters split across byte-fallback tokens exactly', async () => {
    const model = await Model.load(testModelDir());
    const text = 'Grüße, 東京 🎉 and ascii.';
    const ids = model.tokenizer.encode(text, false);
    const detok = new StreamingDetokenizer(model.tokenizer);
    const out = ids.map((id) => detok.push(id)).join('') + detok.flush();
    expect(out).toBe(model.tokenizer.decode(ids));
    expect(out.trim()).toBe(text);
    await model.dispose();
  });

  it('falls back to the CPU with the reason when a GPU provider is missing', async () => {
    const model = await Model.load(testModelDir(), { executionProvider: 'cuda' });
    expect(model.provider).toBe('cpu');
    expect(model.providerFallbackReason).toMatch(/^cuda is not available here .*runs on the CPU\.$/);
    await model.dispose();
  });
});

describe('bad model folders', () => {
  const scratch = () => mkdtempSync(join(tmpdir(), 'perpetua-bad-'));
  const copyTiny = () => {
    const dir = scratch();
    cpSync(testModelDir(), dir, { recursive: true });
    return dir;
  };

  it('refuses a missing folder, a corrupt ONNX file, a mismatched tokenizer and an unsupported architecture', async () => {
    await expect(Model.load('/no/such/model')).rejects.toThrow(new ModelLoadError('Model folder /no/such/model does not exist.'));

    const corrupt = copyTiny();
    const bytes = readFileSync(join(corrupt, 'onnx', 'model.onnx'));
    writeFileSync(join(corrupt, 'onnx', 'model.onnx'), bytes.subarray(0, bytes.length / 3));
    await expect(Model.load(corrupt)).rejects.toThrow(/^model\.onnx in .* is not a valid ONNX model/);
    await expect(Model.load(corrupt)).rejects.toBeInstanceOf(ModelLoadError);

    const mismatch = copyTiny();
    const config = JSON.parse(readFileSync(join(mismatch, 'config.json'), 'utf8'));
    writeFileSync(join(mismatch, 'config.json'), JSON.stringify({ ...config, vocab_size: 4096 }));
    await expect(Model.load(mismatch)).rejects.toBeInstanceOf(TokenizerMismatchError);

    const gpt2 = copyTiny();
    writeFileSync(join(gpt2, 'config.json'), JSON.stringify({ ...config, model_type: 'gpt2' }));
    await expect(Model.load(gpt2)).rejects.toBeInstanceOf(UnsupportedModelError);

    const noOnnx = scratch();
    mkdirSync(join(noOnnx, 'onnx'));
    writeFileSync(join(noOnnx, 'config.json'), JSON.stringify(config));
    cpSync(join(testModelDir(), 'tokenizer.json'), join(noOnnx, 'tokenizer.json'));
    await expect(Model.load(noOnnx)).rejects.toThrow(/has no onnx\/model\.onnx/);
  });

  it.runIf(fixtureAvailable(FIXTURES.tinystories) && fixtureAvailable(FIXTURES.stories260k))(
    "refuses another model's tokenizer",
    async () => {
      const dir = scratch();
      cpSync(FIXTURES.tinystories, dir, { recursive: true });
      cpSync(join(FIXTURES.stories260k, 'hf', 'tokenizer.json'), join(dir, 'hf', 'tokenizer.json'));
      await expect(Model.load(dir)).rejects.toThrow(/tokenizer has 512 tokens but the model has 2048/);
    },
  );

  it('the CLI prints one sentence, no stack trace, and exits non-zero', async () => {
    const corrupt = copyTiny();
    writeFileSync(join(corrupt, 'onnx', 'model.onnx'), 'not a model');
    const cases = [
      ['generate', '--model', '/no/such/model', '--prompt', 'hi'],
      ['generate', '--model', corrupt, '--prompt', 'hi'],
      ['generate', '--prompt', 'hi', '--policy', 'lru'],
      ['generate', '--prompt', 'hi', '--max-tokens', 'many'],
    ];
    for (const args of cases) {
      const err = await run(process.execPath, ['--import', 'tsx', 'main/cli/run.ts', ...args]).then(
        () => null,
        (e) => e as { code: number; stderr: string },
      );
      expect(err, args.join(' ')).not.toBeNull();
      expect(err!.code).toBe(1);
      const lines = err!.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^perpetua: \S.*\.$/);
      expect(err!.stderr).not.toMatch(/\n\s+at /);
    }
  });
});

describe('automatic provider choice', () => {
  it("tries this platform's GPU providers in order and says why each was passed over", async () => {
    const model = await Model.load(testModelDir(), { executionProvider: 'auto' });
    // no GPU on CI machines: CUDA's libraries are missing, and WebGPU has only Mesa's software adapter (or none)
    if (model.provider === 'cpu') {
      expect(model.providerFallbackReason).toMatch(
        /^cuda is not available here \(.*\); webgpu (would run on a software adapter: .*, slower than the CPU|found no GPU adapter here .*), so the model runs on the CPU\.$/,
      );
    } else {
      expect(['cuda', 'webgpu']).toContain(model.provider);
    }
    await model.dispose();
  });
});

describe('large vocabularies', () => {
  it('reads a 151,936-token vocabulary (Qwen2.5 size) without overflowing the stack', async () => {
    const { TextTokenizer } = await import('./text-tokenizer.js');
    const base = JSON.parse(readFileSync(join(testModelDir(), 'tokenizer.json'), 'utf8'));
    const vocab: Record<string, number> = { ...base.model.vocab };
    const start = Object.keys(vocab).length;
    for (let i = start; i < 151_936; i++) vocab[`<pad_${i}>`] = i;
    const tok = new TextTokenizer({ ...base, model: { ...base.model, vocab } }, {});
    expect(tok.vocabSize).toBe(151_936);
  });
});
