import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, openSync, readSync, closeSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import ort from 'onnxruntime-node';
import { ModelLoadError, TokenizerMismatchError, UnsupportedModelError } from './errors.js';
import { parseModelConfig, type ModelConfig } from './model-config.js';
import { TextTokenizer } from './text-tokenizer.js';
import { ChatTemplate } from './chat-template.js';
import { firstLine, openSession, type ExecutionProvider, type ProviderRequest } from './execution-provider.js';
import { kvLength, type CacheKv, type KvGeometry } from '../cache/layer-kv.js';
import { GraphKvEditor, HostKvEditor, type KvEditor } from '../cache/kv-editor.js';
import { resolveThreads, threadOptions, type ThreadPolicy } from './thread-policy.js';

export interface LoadOptions {
  /** default cpu; 'auto' picks the best GPU provider this machine has */
  executionProvider?: ProviderRequest;
  /** which file under onnx/ to load (default model.onnx, else the first model*.onnx) */
  onnxFile?: string;
  /**
   * Keep the KV cache as onnxruntime tensors between steps and edit it with ONNX graphs on the model's provider
   * (default: on for GPU providers, where it stays in GPU memory; on the CPU it exercises the same path).
   */
  kvOnDevice?: boolean;
  /** intra-op threads: a count, "decode,prefill" counts, or both (default: PERPETUA_THREADS, else per machine) */
  threads?: string | { decode: number; prefill?: number };
}

export interface ForwardResult {
  /** logits [tokens, vocab] */
  logits: Float32Array;
  present: CacheKv[];
}

/**
 * A loaded model folder: config.json, tokenizer.json, tokenizer_config.json (optional chat_template) and
 * onnx/model*.onnx. Folders that keep the HF files in `hf/` beside `onnx/` are accepted too.
 */
export class Model {
  private constructor(
    readonly dir: string,
    readonly name: string,
    readonly config: ModelConfig,
    readonly tokenizer: TextTokenizer,
    readonly template: ChatTemplate,
    readonly session: ort.InferenceSession,
    readonly provider: ExecutionProvider,
    readonly providerFallbackReason: string | null,
    readonly fingerprint: string,
    readonly onnxPath: string,
    /** KV stays as onnxruntime tensors (on the GPU for GPU providers) and is edited by graphs */
    readonly kvOnDevice: boolean,
    /** performs the window/sink evictions where the KV lives */
    readonly kvEditor: KvEditor,
    readonly threads: ThreadPolicy,
    /** runs multi-token feeds when prefill has its own thread count (else the decode session) */
    private readonly prefillSession: ort.InferenceSession,
  ) {}

  get geometry(): KvGeometry {
    return { layers: this.config.layers, kvHeads: this.config.kvHeads, headDim: this.config.headDim };
  }

  /** false for GroupQueryAttention graphs (onnxruntime-genai, Perpetua's fused graphs): positions = cache length */
  get takesPositions(): boolean {
    return this.session.inputNames.includes('position_ids');
  }

  get vocabSize(): number {
    return this.config.vocabSize;
  }

  /**
   * Tokens every stream starts with: the learnable sink token of models pre-trained with one (StreamingLLM §3.3),
   * which then stays in the cache as its attention sink.
   */
  get streamPrefix(): number[] {
    return this.config.sinkTokenId === null ? [] : [this.config.sinkTokenId];
  }

  /** Token ids that end a turn: config eos ids plus the tokenizer's eos token. */
  get eosIds(): Set<number> {
    const ids = new Set(this.config.eosTokenIds);
    const eos = this.tokenizer.tokenId(this.tokenizer.eosToken);
    if (eos !== null) ids.add(eos);
    return ids;
  }

  static async load(dirArg: string, opts: LoadOptions = {}): Promise<Model> {
    const dir = resolve(dirArg);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      throw new ModelLoadError(`Model folder ${dirArg} does not exist.`);
    }
    const metaDir = existsSync(join(dir, 'config.json')) ? dir : join(dir, 'hf');
    const config = parseModelConfig(readJson(join(metaDir, 'config.json'), 'config.json', dirArg));
    const tokenizerJson = readJson(join(metaDir, 'tokenizer.json'), 'tokenizer.json', dirArg);
    const tokenizerConfig = existsSync(join(metaDir, 'tokenizer_config.json'))
      ? readJson(join(metaDir, 'tokenizer_config.json'), 'tokenizer_config.json', dirArg)
      : {};
    let tokenizer: TextTokenizer;
    try {
      tokenizer = new TextTokenizer(tokenizerJson, tokenizerConfig);
    } catch (err) {
      throw new ModelLoadError(`The tokenizer.json in ${dirArg} cannot be read (${firstLine(err)}).`);
    }
    // Embedding tables are often padded a little beyond the tokenizer (Qwen, Phi-3), never by 10%.
    if (tokenizer.vocabSize > config.vocabSize || tokenizer.vocabSize < 0.9 * config.vocabSize) {
      throw new TokenizerMismatchError(
        `The tokenizer has ${tokenizer.vocabSize} tokens but the model has ${config.vocabSize}, so they do not belong together.`,
      );
    }
    const onnxPath = findOnnx(dir, dirArg, opts.onnxFile);
    const threads = resolveThreads(opts.threads);
    const open = (n: number) =>
      openSession(onnxPath, opts.executionProvider ?? 'cpu', opts.kvOnDevice === false ? 0 : config.layers, threadOptions(n));
    let opened;
    let prefill;
    try {
      opened = await open(threads.decode);
      prefill = threads.prefill === threads.decode ? opened : await open(threads.prefill);
    } catch (err) {
      await opened?.session.release();
      throw new ModelLoadError(`${basename(onnxPath)} in ${dirArg} is not a valid ONNX model (${firstLine(err)}).`);
    }
    checkInterface(opened.session, config, tokenizer, dirArg);
    const template = new ChatTemplate(
      chatTemplateSource(metaDir, tokenizerConfig),
      { bos_token: tokenizer.bosToken ?? '', eos_token: tokenizer.eosToken ?? '' },
    );
    const kvOnDevice = opts.kvOnDevice ?? opened.provider !== 'cpu';
    const kvEditor = kvOnDevice
      ? await GraphKvEditor.create(config, config.rope, opened.provider, opened.provider !== 'cpu')
      : new HostKvEditor(config, config.rope);
    return new Model(
      dir,
      basename(dir),
      config,
      tokenizer,
      template,
      opened.session,
      opened.provider,
      opened.fallbackReason,
      fingerprint(onnxPath, join(metaDir, 'config.json'), join(metaDir, 'tokenizer.json')),
      onnxPath,
      kvOnDevice,
      kvEditor,
      threads,
      prefill.session,
    );
  }

  /**
   * One run of the decoder: `ids` at `positions`, attending to `past` (pastLength tokens) and to each other
   * causally. Returns logits for every input token and the present KV (past ++ new).
   */
  async forward(ids: number[], positions: number[], past: CacheKv[]): Promise<ForwardResult> {
    const { kvHeads, headDim, layers } = this.geometry;
    const n = ids.length;
    const pastLength = past.length ? kvLength(past[0], this.geometry) : 0;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, n]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(pastLength + n).fill(1n), [1, pastLength + n]),
    };
    if (this.takesPositions) {
      feeds.position_ids = new ort.Tensor('int64', BigInt64Array.from(positions, BigInt), [1, n]);
    } else if (positions.some((p, i) => p !== pastLength + i)) {
      // GroupQueryAttention graphs place new tokens at the cache length; every cache policy keeps index = position
      throw new RangeError(`This graph has no position_ids input, so tokens can only go at the cache length ${pastLength}.`);
    }
    const dims = [1, kvHeads, pastLength, headDim];
    const tensor = (d: CacheKv['key'] | undefined): ort.Tensor =>
      d === undefined || d instanceof Float32Array ? new ort.Tensor('float32', d ?? new Float32Array(0), dims) : d;
    for (let l = 0; l < layers; l++) {
      feeds[`past_key_values.${l}.key`] = tensor(past[l]?.key);
      feeds[`past_key_values.${l}.value`] = tensor(past[l]?.value);
    }
    const out = await (n > 1 ? this.prefillSession : this.session).run(feeds);
    const present: CacheKv[] = [];
    for (let l = 0; l < layers; l++) {
      const key = out[`present.${l}.key`];
      const value = out[`present.${l}.value`];
      // device mode feeds the present tensors back as they are: no copy, and on a GPU no download
      present.push(this.kvOnDevice ? { key, value } : { key: key.data as Float32Array, value: value.data as Float32Array });
    }
    return { logits: out.logits.data as Float32Array, present };
  }

  async dispose(): Promise<void> {
    if (this.prefillSession !== this.session) await this.prefillSession.release();
    await this.session.release();
  }
}

/**
 * The model's own chat template: tokenizer_config.json's chat_template (a string, or the "default" entry of a
 * list of named templates), or chat_template.jinja beside it as newer exports write it.
 */
function chatTemplateSource(metaDir: string, tokenizerConfig: Record<string, any>): string | null {
  const t = tokenizerConfig.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t.find((e) => e?.name === 'default') ?? t[0];
    if (typeof named?.template === 'string') return named.template;
  }
  const file = join(metaDir, 'chat_template.jinja');
  return existsSync(file) ? readFileSync(file, 'utf8') : null;
}

function readJson(file: string, what: string, dirArg: string): Record<string, any> {
  if (!existsSync(file)) throw new ModelLoadError(`Model folder ${dirArg} has no ${what}.`);
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new ModelLoadError(`${what} in ${dirArg} is not valid JSON.`);
  }
}

function findOnnx(dir: string, dirArg: string, preferred?: string): string {
  const onnxDir = join(dir, 'onnx');
  const files = existsSync(onnxDir) ? readdirSync(onnxDir).filter((f) => /^model.*\.onnx$/.test(f)).sort() : [];
  const pick = preferred ?? (files.includes('model.onnx') ? 'model.onnx' : files[0]);
  if (!pick || !existsSync(join(onnxDir, pick))) {
    throw new ModelLoadError(`Model folder ${dirArg} has no onnx/${preferred ?? 'model.onnx'}.`);
  }
  return join(onnxDir, pick);
}

/** The graph must have the standard decoder inputs and a KV layout that matches config.json. */
function checkInterface(session: ort.InferenceSession, c: ModelConfig, tok: TextTokenizer, dirArg: string): void {
  const inputs = new Set(session.inputNames);
  for (const name of ['input_ids', 'attention_mask', 'past_key_values.0.key']) {
    if (!inputs.has(name)) {
      throw new UnsupportedModelError(
        `The ONNX model in ${dirArg} lacks the standard decoder input "${name}", so Perpetua cannot manage its KV cache.`,
      );
    }
  }
  if (!inputs.has(`past_key_values.${c.layers - 1}.key`) || inputs.has(`past_key_values.${c.layers}.key`)) {
    throw new UnsupportedModelError(`The ONNX model in ${dirArg} does not have the ${c.layers} layers config.json describes.`);
  }
  const meta = session.inputMetadata.find((m) => m.name === 'past_key_values.0.key');
  if (meta && meta.isTensor) {
    if (meta.type !== 'float32') {
      throw new UnsupportedModelError(`The model keeps its KV cache in ${meta.type}; this version of Perpetua needs a float32 KV cache.`);
    }
    const [, heads, , dim] = meta.shape;
    if ((typeof heads === 'number' && heads !== c.kvHeads) || (typeof dim === 'number' && dim !== c.headDim)) {
      throw new UnsupportedModelError(`The ONNX KV cache shape does not match config.json (${c.kvHeads} KV heads of ${c.headDim}).`);
    }
  }
  const logits = session.outputMetadata.find((m) => m.name === 'logits');
  const logitsVocab = logits && logits.isTensor ? logits.shape[2] : undefined;
  if (typeof logitsVocab === 'number' && (logitsVocab !== c.vocabSize || tok.vocabSize > logitsVocab)) {
    throw new TokenizerMismatchError(
      `The model outputs ${logitsVocab} token scores but its tokenizer has ${tok.vocabSize} tokens, so they do not belong together.`,
    );
  }
}

/** Identifies the exact model for snapshot compatibility without hashing gigabytes: config, tokenizer, ONNX size and ends. */
function fingerprint(onnxPath: string, configPath: string, tokenizerPath: string): string {
  const h = createHash('sha256');
  h.update(readFileSync(configPath));
  h.update(readFileSync(tokenizerPath));
  const size = statSync(onnxPath).size;
  h.update(String(size));
  const fd = openSync(onnxPath, 'r');
  try {
    const chunk = Buffer.alloc(Math.min(size, 1 << 20));
    readSync(fd, chunk, 0, chunk.length, 0);
    h.update(chunk);
    readSync(fd, chunk, 0, chunk.length, Math.max(0, size - chunk.length));
    h.update(chunk);
  } finally {
    closeSync(fd);
  }
  return h.digest('hex').slice(0, 32);
}
