import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { genaiModelDir } from '../../native-models/layout-fixtures.js';
import { testModelDir } from '../../native-models/test-models.js';
import { decodeModel, encodeModel } from '../../native-models/graph/decoder-layouts.js';
import { ReliabilityTally } from '../eval/reliability-tally.js';
import { ChatTemplate } from '../engine/chat-template.js';
import { generationDefaults } from '../engine/generation-config.js';
import { Model } from '../engine/model.js';
import { folderVariants } from '../engine/model-files.js';
import { PerpetuaError } from '../shared/errors.js';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';
import { ModelLibrary } from './model-library.js';
import { failAtRunOf3Tokens } from '../../native-models/failing-run-graph.js';

/**
 * The model-folder suite: every file a model folder names is hostile until checked. Links to /dev/zero, FIFOs,
 * folders where files belong, links out of the folder, absurd config numbers, backtracking tokenizer patterns and
 * endless chat templates are each refused with one sentence naming the file (and field), quickly — never a hang,
 * gigabytes, or "unexpected error".
 */
const tally = new ReliabilityTally('model folders');
const root = mkdtempSync(join(tmpdir(), 'perpetua-hostile-folders-'));
const outside = join(root, 'outside.txt');
writeFileSync(outside, 'root:x:0:0:root:/root:/bin/bash\n');
let n = 0;

afterAll(() => {
  tally.print();
  rmSync(root, { recursive: true, force: true });
});
let reported = 0;
// each test answers for its own cases only
afterEach(() => expect(tally.bad.slice(reported, (reported = tally.bad.length))).toEqual([]));

/** A fresh copy of the test model to spoil (without a template in tokenizer_config.json, so chat_template.jinja is read). */
function folder(from = testModelDir()): string {
  const dir = join(root, `m${n++}`);
  cpSync(from, dir, { recursive: true });
  editJson(join(dir, 'tokenizer_config.json'), (t) => delete t.chat_template);
  writeFileSync(join(dir, 'chat_template.jinja'), '{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}');
  return dir;
}

function fifo(path: string): void {
  rmSync(path, { recursive: true, force: true });
  execFileSync('mkfifo', [path]);
}

function link(target: string, path: string): void {
  rmSync(path, { recursive: true, force: true });
  symlinkSync(target, path);
}

function editJson(file: string, edit: (j: Record<string, any>) => void): void {
  const j = JSON.parse(readFileSync(file, 'utf8'));
  edit(j);
  writeFileSync(file, JSON.stringify(j).replace(/"__INF__"/g, '1e999'));
}

/** `run` must refuse with a PerpetuaError (not `failed`) whose sentence matches every pattern, within `ms`. */
async function refused(run: () => unknown, patterns: RegExp[], ms = 10_000): Promise<PerpetuaError> {
  const start = Date.now();
  let err: unknown;
  try {
    const out = await run();
    if (out && typeof (out as Model).dispose === 'function') await (out as Model).dispose();
  } catch (e) {
    err = e;
  }
  const took = Date.now() - start;
  if (!(err instanceof PerpetuaError)) throw new Error(err ? `not a sentence: ${String(err)}` : 'accepted');
  if (err.code === 'failed') throw new Error(`code failed: ${err.message}`);
  if (/unexpected|E[A-Z]{3,}:|undefined|NaN/.test(err.message)) throw new Error(`raw message: ${err.message}`);
  for (const p of patterns) if (!p.test(err.message)) throw new Error(`"${err.message}" does not match ${p}`);
  if (took > ms) throw new Error(`took ${took} ms`);
  return err;
}

const OPTIONAL = ['tokenizer_config.json', 'chat_template.jinja'];

describe('model folder suite', () => {
  const files: [string, (dir: string) => string][] = [
    ['config.json', (d) => join(d, 'config.json')],
    ['tokenizer.json', (d) => join(d, 'tokenizer.json')],
    ['tokenizer_config.json', (d) => join(d, 'tokenizer_config.json')],
    ['chat_template.jinja', (d) => join(d, 'chat_template.jinja')],
    ['onnx/model.onnx', (d) => join(d, 'onnx', 'model.onnx')],
  ];
  const spoilers: [string, (path: string) => void][] = [
    ['a FIFO', fifo],
    ['a link to /dev/zero', (p) => link('/dev/zero', p)],
    ['a folder', (p) => (rmSync(p, { force: true }), mkdirSync(p))],
    ['a link out of the folder', (p) => link(outside, p)],
    ['a dangling link', (p) => link(join(root, 'nothing-here'), p)],
  ];
  for (const [name, pathOf] of files) {
    for (const [what, spoil] of spoilers) {
      it(`refuses ${name} as ${what}`, async () => {
        await tally.check(`${name} as ${what}`, async () => {
          const dir = folder();
          spoil(pathOf(dir));
          const base = name.split('/').pop()!.replace('.', '\\.');
          // an optional file that is a link to nothing is a file that is not there
          if (what === 'a dangling link' && OPTIONAL.includes(name)) return (await Model.load(dir)).dispose();
          await refused(() => Model.load(dir), [new RegExp(base)]);
        });
      });
    }
  }

  for (const [what, spoil] of spoilers.filter(([w]) => w !== 'a dangling link')) {
    it(`generation_config.json as ${what} is refused naming it, not read forever`, async () => {
      await tally.check(`generation_config.json as ${what}`, async () => {
        const dir = folder();
        spoil(join(dir, 'generation_config.json'));
        await refused(() => generationDefaults(dir), [/generation_config\.json/]);
      });
    });
  }

  it('a fractional top_k in generation_config.json is left out, not passed to the sampler', async () => {
    await tally.check('top_k 0.5', () => {
      const dir = folder();
      writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ do_sample: true, top_k: 0.5, temperature: 0.7 }));
      expect(generationDefaults(dir)).toEqual({ temperature: 0.7 });
    });
  });

  for (const [what, spoil] of spoilers.slice(0, 3)) {
    it(`a second variant (onnx/model_fp16.onnx) as ${what}: describeVariants answers with a sentence, at once`, async () => {
      await tally.check(`variant as ${what}`, async () => {
        const dir = folder();
        spoil(join(dir, 'onnx', 'model_fp16.onnx'));
        await refused(() => folderVariants(dir), [/model_fp16\.onnx/]);
      });
    });
  }

  const configCases: [string, (c: Record<string, any>) => void, RegExp][] = [
    ['head_dim 1e9', (c) => (c.head_dim = 1e9), /"head_dim"/],
    ['num_hidden_layers 1e9', (c) => (c.num_hidden_layers = 1e9), /"num_hidden_layers"/],
    ['num_attention_heads 0', (c) => (c.num_attention_heads = 0), /"num_attention_heads"/],
    ['hidden_size infinite', (c) => (c.hidden_size = '__INF__'), /"hidden_size"/],
    ['vocab_size 4M', (c) => (c.vocab_size = 4_000_000), /"vocab_size"/],
    ['vocab_size 1.5', (c) => (c.vocab_size = 1.5), /"vocab_size"/],
    ['rope_theta 0', (c) => (c.rope_theta = 0), /"rope_theta"/],
    ['rope_theta "x"', (c) => (c.rope_theta = 'x'), /"rope_theta"/],
    ['linear RoPE factor "x"', (c) => (c.rope_scaling = { rope_type: 'linear', factor: 'x' }), /rope_scaling\.factor/],
    ['linear RoPE factor 0', (c) => (c.rope_scaling = { rope_type: 'linear', factor: 0 }), /rope_scaling\.factor/],
    ['llama3 RoPE factor -1', (c) => (c.rope_scaling = { rope_type: 'llama3', factor: -1 }), /rope_scaling\.factor/],
    ['rope_scaling a string', (c) => (c.rope_scaling = 'linear'), /rope_scaling/],
    ['context length 0', (c) => (c.max_position_embeddings = 0), /"max_position_embeddings"/],
    ['context length -100', (c) => (c.max_position_embeddings = -100), /"max_position_embeddings"/],
    ['kv heads 3 of 4', (c) => ((c.num_attention_heads = 4), (c.num_key_value_heads = 3)), /key\/value heads/],
    ['partial_rotary_factor 0', (c) => (c.partial_rotary_factor = 0), /"partial_rotary_factor"/],
    ['rms_norm_eps -1', (c) => (c.rms_norm_eps = -1), /"rms_norm_eps"/],
  ];
  for (const [what, edit, field] of configCases) {
    it(`config.json with ${what} is refused naming the file and field before anything is allocated`, async () => {
      await tally.check(`config ${what}`, async () => {
        const dir = folder();
        editJson(join(dir, 'config.json'), edit);
        await refused(() => Model.load(dir), [/config\.json/, field], 5000);
      });
    });
  }

  for (const [what, text] of [
    ['null', 'null'],
    ['an array', '[1,2]'],
    ['not JSON', '{"model_type": '],
  ] as const) {
    it(`config.json holding ${what} is a sentence`, async () => {
      await tally.check(`config ${what}`, async () => {
        const dir = folder();
        writeFileSync(join(dir, 'config.json'), text);
        await refused(() => Model.load(dir), [/config\.json/]);
      });
    });
  }

  for (const pattern of ['(a+)+$', '(\\s*\\w+)*$', '(a|a)*b', 'a*a*a*a*b', '(x|y)\\1']) {
    it(`a tokenizer.json pre-tokenizer pattern ${pattern} is refused at load, before any prompt meets it`, async () => {
      await tally.check(`tokenizer regex ${pattern}`, async () => {
        const dir = folder();
        editJson(join(dir, 'tokenizer.json'), (t) => {
          t.pre_tokenizer = { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false }, t.pre_tokenizer].filter(Boolean) };
        });
        await refused(() => Model.load(dir), [/tokenizer\.json/, /pattern/]);
      });
    });
  }

  it('real pre-tokenizer patterns (GPT-2, Llama 3, o200k) load', async () => {
    await tally.check('real tokenizer regexes', async () => {
      for (const pattern of [
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
      ]) {
        const dir = folder();
        editJson(join(dir, 'tokenizer.json'), (t) => {
          t.pre_tokenizer = { type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false };
        });
        await (await Model.load(dir)).dispose();
      }
    });
  });

  const templates: [string, string, RegExp][] = [
    ['nested range loops', '{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}', /did not finish/],
    ['range(1e9)', '{% for i in range(1000000000) %}{% endfor %}', /range\(\)/],
    ['range(1e8)|join', "{{ range(100000000)|join(',') }}", /range\(\)/],
    ['a growing string', "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}", /stopped|did not finish|characters/],
    ['raise_exception', "{{ raise_exception('Conversation roles must alternate') }}", /roles must alternate/],
  ];
  for (const [what, source, message] of templates) {
    it(`a chat template with ${what} is stopped with a sentence, and the next render works`, async () => {
      await tally.check(`template ${what}`, async () => {
        const t = new ChatTemplate(source, { bos_token: '', eos_token: '' }, { ms: 1500, maxChars: 1 << 20, maxRange: 100_000, heapMb: 128 });
        try {
          await refused(() => t.render([{ role: 'user', content: 'hi' }], true), [message], 30_000);
          await refused(() => t.render([{ role: 'user', content: 'again' }], true), [message], 30_000);
        } finally {
          t.dispose();
        }
      });
    });
  }

  for (const [what, source] of [
    ['a syntax error', '{% for m in messages %}'],
    ['an unknown statement', '{% frobnicate %}'],
  ] as const) {
    it(`a chat template with ${what} is refused at load with a sentence`, async () => {
      await tally.check(`template ${what}`, async () => {
        const dir = folder();
        writeFileSync(join(dir, 'chat_template.jinja'), source);
        await refused(() => Model.load(dir), [/chat template/]);
      });
    });
  }

  it('a model with a chat template renders through the bounded renderer', async () => {
    await tally.check('template renders', async () => {
      const dir = folder();
      const model = await Model.load(dir);
      try {
        expect(model.template.render([{ role: 'user', content: 'hi' }], true)).toBe('<|user|>hi<|assistant|>');
      } finally {
        await model.dispose();
      }
    });
  });

  /** The genai graph with its cos_cache moved to external data at `location`. */
  function genaiWithTableAt(location: string): string {
    const dir = folder(genaiModelDir());
    const graph = join(dir, 'model.onnx');
    const m = decodeModel(readFileSync(graph));
    const cos = m.graph!.initializer!.find((t) => t.name === 'cos_cache')!;
    const bytes = cos.rawData!;
    writeFileSync(join(root, 'table.bin'), bytes);
    cos.rawData = new Uint8Array(0);
    cos.dataLocation = 1; // EXTERNAL
    cos.externalData = [
      { key: 'location', value: location },
      { key: 'offset', value: '0' },
      { key: 'length', value: String(bytes.length) },
    ];
    writeFileSync(graph, encodeModel(m));
    return dir;
  }

  for (const [what, location] of [
    ['a file outside the folder', '../table.bin'],
    ['/etc/passwd', '../../../../../../../../etc/passwd'],
    ['a FIFO', 'cos.bin'],
    ['a folder', 'cos.bin'],
  ] as const) {
    it(`an onnxruntime-genai cos_cache kept in ${what} is refused before a byte of it is read`, async () => {
      await tally.check(`genai cos_cache in ${what}`, async () => {
        const dir = genaiWithTableAt(location);
        if (what === 'a FIFO') fifo(join(dir, 'cos.bin'));
        if (what === 'a folder') mkdirSync(join(dir, 'cos.bin'));
        await refused(() => Model.load(dir), [/cos_cache|RoPE table/]);
      });
    });
  }

  it('a Hugging Face cache snapshot (files linked into the repo\'s blobs/) loads; a link past the blobs is refused', async () => {
    await tally.check('HF cache snapshot', async () => {
      const repo = join(root, 'hub', 'models--org--tiny');
      const snapshot = join(repo, 'snapshots', 'abc123');
      mkdirSync(join(snapshot, 'onnx'), { recursive: true });
      mkdirSync(join(repo, 'blobs'));
      const src = testModelDir({ externalData: true }); // its weights in onnx/model.onnx_data, a link into blobs/ too
      for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx', 'onnx/model.onnx_data']) {
        const blob = join(repo, 'blobs', f.replace('/', '_'));
        cpSync(join(src, f), blob);
        symlinkSync(join('..', ...(f.includes('/') ? ['..'] : []), '..', 'blobs', f.replace('/', '_')), join(snapshot, f));
      }
      await (await Model.load(snapshot)).dispose();
      expect(folderVariants(snapshot).map((v) => v.name)).toEqual(['fp32']);
      link(outside, join(snapshot, 'generation_config.json'));
      await refused(() => generationDefaults(snapshot), [/generation_config\.json/, /leads outside/]);
    });
  });

  it('a graph that loads but fails at run (a shape error inside onnxruntime) is a sentence naming the model, and nothing raw on stderr', async () => {
    await tally.check('graph failing at run', async () => {
      const dir = folder();
      failAtRunOf3Tokens(dir);
      const model = await Model.load(dir);
      try {
        expect((await model.forward([1, 2, 3, 4, 5], [0, 1, 2, 3, 4], [])).logits.length).toBe(5 * model.vocabSize); // it loads and runs
        const err = await refused(() => model.forward([1, 2, 3], [0, 1, 2], []), [
          new RegExp(`^${model.name} failed while computing in onnxruntime \\(Add node hostile/add: .*3 by 5\\); the model's graph does not run here\\.$`),
        ]);
        expect(err.name).toBe('ModelRunError');
        expect(err.code).toBe('model_unusable');
        expect(err.message).not.toMatch(/\x1b|\.h:\d+/); // onnxruntime's terminal colours and source lines stay out
      } finally {
        await model.dispose();
      }
      // in a process of its own, as the CLI and the core run it: onnxruntime writes no coloured log line of its own
      const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `
        const { Model } = await import(${JSON.stringify(join(process.cwd(), 'main/engine/model.ts'))});
        const model = await Model.load(${JSON.stringify(dir)});
        await model.forward([1, 2, 3], [0, 1, 2], []).catch((e) => console.log(e.code));
        await model.dispose();`], { encoding: 'utf8', timeout: 120_000 });
      expect(child.stdout.trim()).toBe('model_unusable');
      expect(child.stderr).not.toMatch(/\x1b|onnxruntime/);
    });
  });

  it('a models folder with a dangling link, a Latin-1 name and a FIFO still lists its good model', async () => {
    await tally.check('odd models-folder entries', async () => {
      const models = join(root, 'models-folder');
      mkdirSync(models);
      cpSync(testModelDir(), join(models, 'good'), { recursive: true });
      symlinkSync(join(root, 'gone'), join(models, 'dangling'));
      mkdirSync(Buffer.concat([Buffer.from(`${models}/`), Buffer.from([0x6d, 0xe9, 0x6c, 0x61, 0x6e, 0x67, 0x65])])); // "mélange" in Latin-1
      execFileSync('mkfifo', [join(models, 'pipe')]);
      const bad = join(models, 'bad');
      cpSync(testModelDir(), bad, { recursive: true });
      fifo(join(bad, 'onnx', 'model_fp16.onnx'));
      const store = new Store(openDatabase(join(root, 'library.db')));
      const library = new ModelLibrary(store, [models]);
      try {
        const listed = await library.list();
        expect(listed.map((m) => m.name)).toContain('good');
      } finally {
        await library.close();
        store.db.close();
      }
    });
  });
});
