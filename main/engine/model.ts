import { existsSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import ort from 'onnxruntime-node';
import { ModelLoadError, ModelRunError, TokenizerMismatchError } from './errors.js';
import { parseModelConfig, type ModelConfig } from './model-config.js';
import { TextTokenizer } from './text-tokenizer.js';
import { MODEL_FILE_LIMITS } from './model-file-limits.js';
import { ChatTemplate } from './chat-template.js';
import { firstLine, openSession, type ExecutionProvider, type ProviderRequest } from './execution-provider.js';
import { decoderFeeds, decoderFetches, logitsOf, newKvName, readLayout, type DecoderLayout } from './decoder-layout.js';
import { checkModelFile, readJson, readModelFile, readModelFiles } from './model-files.js';
import { modelFingerprint, WeightHashes, type HashProgress } from './model-fingerprint.js';
import { pickVariant, type Variant } from './variants.js';
import { GraphKvEditor } from './graph-kv-editor.js';
import { allocKv, allocLike, type HostKvArray, type KvDtype } from './kv-dtype.js';
import { disposeKv, kvLength, type CacheKv, type KvEditor, type KvGeometry, type LayerKv, type PastKv } from './layer-kv.js';
import { KvBuffer } from './kv-buffer.js';
import { writesKvInPlace } from './kv-in-place.js';
import { resolveThreads, threadOptions, type ThreadPolicy } from './thread-policy.js';
import { describeAdapter, type GpuAdapter } from './gpu-adapter.js';
import { attentionRunLimit } from './attention-run-limit.js';
import { readOnnxContents } from './onnx-contents.js';

/** Runs log only what is fatal to the process: a failed run's cause is the ModelRunError's sentence. */
const QUIET_RUN: ort.InferenceSession.RunOptions = { logSeverityLevel: 4 };

export interface LoadOptions {
  /** default cpu; 'auto' picks the best GPU provider this machine has */
  executionProvider?: ProviderRequest;
  /**
   * which export variant to load: a name `perpetua models check` lists (fp32, fp16, q4, q4f16, int8, …) or its file
   * name; by default the best one for the provider (see pickVariant)
   */
  variant?: string;
  /**
   * Keep the KV cache as onnxruntime tensors between steps and edit it with ONNX graphs on the model's provider
   * (default: on for GPU providers, where it stays in GPU memory; on the CPU it exercises the same path).
   */
  kvOnDevice?: boolean;
  /** where the weights' SHA-256 are cached (default: the user's cache folder, see WeightHashes) */
  weightHashes?: WeightHashes;
  /** progress of hashing the weights (slow the first time), and a stop */
  hashing?: HashProgress;
  /**
   * keep a window or sink cache's KV in one buffer the graph writes into in place, where the graph can (default on;
   * off: every run returns new present arrays, the path of graphs without a shared past/present buffer)
   */
  kvInPlace?: boolean;
  /** intra-op threads: a count, "decode,prefill" counts, or both (default: PERPETUA_THREADS, else per machine) */
  threads?: string | { decode: number; prefill?: number };
}

export interface ForwardResult<P extends PastKv = CacheKv[]> {
  /** logits [rows, vocab] as float32: every input token's, or only the last one's when asked for just that */
  logits: Float32Array;
  /** past ++ new: new arrays, or the in-place buffer that was passed, now holding the new tokens too */
  present: P;
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
    /** the WebGPU adapter it runs on (null on other providers) */
    readonly adapter: GpuAdapter | null,
    readonly fingerprint: string,
    readonly onnxPath: string,
    /** the export variant loaded */
    readonly variant: Variant,
    /** what the graph takes and gives (position ids or not, merged, logits to keep, KV and logits dtypes) */
    readonly layout: DecoderLayout,
    /** KV stays as onnxruntime tensors (on the GPU for GPU providers) and is edited by graphs */
    readonly kvOnDevice: boolean,
    /**
     * performs the window/sink evictions on the device, or offers in-place KV buffers (CPU graphs whose attention
     * shares its past and present buffer); undefined: the cache keeps and edits host arrays itself
     */
    readonly kvEditor: KvEditor | undefined,
    readonly threads: ThreadPolicy,
    /** runs multi-token feeds when prefill has its own thread count (else the decode session) */
    private readonly prefillSession: ort.InferenceSession,
    /** most new tokens in one run of the graph where its attention op is wrong beyond (see attentionRunLimit) */
    readonly maxRunTokens: number,
  ) {}

  /** The provider, and on WebGPU its adapter: "cpu", "webgpu on NVIDIA hopper (…)", "webgpu on a software adapter: …". */
  get runsOn(): string {
    return this.adapter ? `${this.provider} on ${this.adapter.software ? 'a ' : ''}${describeAdapter(this.adapter)}` : this.provider;
  }

  get geometry(): KvGeometry {
    return { layers: this.config.layers, kvHeads: this.config.kvHeads, headDim: this.config.headDim };
  }

  /** false for GroupQueryAttention graphs (onnxruntime-genai, Perpetua's fused graphs): positions = cache length */
  get takesPositions(): boolean {
    return this.layout.positionIds;
  }

  get vocabSize(): number {
    return this.config.vocabSize;
  }

  get kvDtype(): KvDtype {
    return this.layout.kvDtype;
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
    const files = readModelFiles(dir, dirArg);
    const { metaDir } = files;
    const parsed = parseModelConfig(files.config);
    const config = files.ropeInvFreq ? { ...parsed, rope: { ...parsed.rope, invFreq: files.ropeInvFreq, scaling: "the graph's cos/sin table" } } : parsed;
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
    const variantFor = (provider: ExecutionProvider): Variant => {
      const v = pickVariant(files.variants, provider, opts.variant);
      if (v) checkModelFile(dir, join(dir, v.file), dirArg); // regular, inside the folder: never a FIFO or a link out
      if (v) return v;
      if (opts.variant !== undefined && files.variants.length > 0) {
        throw new ModelLoadError(
          `Model folder ${dirArg} has no variant "${opts.variant}"; it has ${files.variants.map((o) => o.name).join(', ')}.`,
        );
      }
      throw new ModelLoadError(`Model folder ${dirArg} has no onnx/model.onnx (nor another decoder graph).`);
    };
    variantFor('cpu'); // a folder without a usable graph is refused before any provider is tried
    const threads = resolveThreads(opts.threads);
    const open = (n: number) =>
      openSession((p) => join(dir, variantFor(p).file), opts.executionProvider ?? 'cpu', opts.kvOnDevice === false ? 0 : config.layers, threadOptions(n));
    let opened;
    let prefill;
    try {
      opened = await open(threads.decode);
      prefill = threads.prefill === threads.decode ? opened : await open(threads.prefill);
    } catch (err) {
      await opened?.session.release();
      if (err instanceof ModelLoadError) throw err;
      throw new ModelLoadError(`${basename(variantFor('cpu').file)} in ${dirArg} is not a valid ONNX model (${firstLine(err)}).`);
    }
    const variant = variantFor(opened.provider);
    const layout = readLayout(opened.session, config, tokenizer, dirArg);
    const template = new ChatTemplate(
      chatTemplateSource(metaDir, tokenizerConfig),
      { bos_token: tokenizer.bosToken ?? '', eos_token: tokenizer.eosToken ?? '' },
    );
    // an appending graph reads the past from a host buffer that Perpetua writes: its KV is never on a device
    const kvOnDevice = !layout.appendsKv && (opts.kvOnDevice ?? opened.provider !== 'cpu');
    const geometry = { layers: config.layers, kvHeads: config.kvHeads, headDim: config.headDim };
    const inPlace = !kvOnDevice && opts.kvInPlace !== false && (layout.appendsKv || (await writesKvInPlace(opened.session, layout, geometry)));
    const kvEditor = kvOnDevice
      ? await GraphKvEditor.create(config, config.rope, opened.provider, opened.provider !== 'cpu', layout.kvDtype)
      : inPlace
        ? {
            createBuffer: (capacity: number) => new KvBuffer(geometry, capacity, layout.kvDtype),
            positionLimit: layout.positionIds ? config.maxPositions : undefined,
          }
        : undefined;
    const onnxPath = join(dir, variant.file);
    let fingerprint: string;
    try {
      fingerprint = await modelFingerprint(onnxPath, files.configFile, join(metaDir, 'tokenizer.json'), opts.weightHashes ?? WeightHashes.atDefaultLocation(), opts.hashing);
    } catch (err) {
      await Promise.all([opened.session.release(), prefill !== opened && prefill.session.release(), kvEditor instanceof GraphKvEditor && kvEditor.dispose()]);
      throw err;
    }
    return new Model(
      dir,
      basename(dir),
      config,
      tokenizer,
      template,
      opened.session,
      opened.provider,
      opened.fallbackReason,
      opened.adapter,
      fingerprint,
      onnxPath,
      variant,
      layout,
      kvOnDevice,
      kvEditor,
      threads,
      prefill.session,
      attentionRunLimit(opened.provider, readOnnxContents(onnxPath).ops),
    );
  }

  /**
   * One run of the decoder: `ids` at `positions`, attending to `past` (pastLength tokens) and to each other
   * causally. Returns logits for every input token and the present KV (past ++ new).
   */
  async forward(ids: number[], positions: number[], past: KvBuffer, opts?: { allLogits?: boolean }): Promise<ForwardResult<KvBuffer>>;
  async forward(ids: number[], positions: number[], past: CacheKv[], opts?: { allLogits?: boolean }): Promise<ForwardResult>;
  async forward(ids: number[], positions: number[], past: PastKv, opts?: { allLogits?: boolean }): Promise<ForwardResult<PastKv>>;
  async forward(ids: number[], positions: number[], past: PastKv, opts: { allLogits?: boolean } = {}): Promise<ForwardResult<PastKv>> {
    if (ids.length > this.maxRunTokens && !(past instanceof KvBuffer)) return this.forwardInRuns(ids, positions, past, opts);
    const pastLength = past instanceof KvBuffer ? past.length : past.length ? kvLength(past[0], this.geometry) : 0;
    const allLogits = opts.allLogits ?? true;
    const feeds = decoderFeeds(this.layout, this.geometry, { ids, positions, past, pastLength, allLogits });
    const session = ids.length > 1 ? this.prefillSession : this.session;
    if (this.layout.appendsKv) return this.append(session, feeds, ids.length, past, pastLength);
    if (past instanceof KvBuffer) {
      // the graph appends into the buffer itself; the copies the binding returns of it are dropped
      const out = await this.run(session, feeds, decoderFetches(session.outputNames, past));
      past.setLength(pastLength + ids.length);
      return { logits: logitsOf(out.logits), present: past };
    }
    const out = await this.run(session, feeds);
    const present: CacheKv[] = [];
    for (let l = 0; l < this.geometry.layers; l++) {
      const key = out[`present.${l}.key`];
      const value = out[`present.${l}.value`];
      // device mode feeds the present tensors back as they are: no copy, and on a GPU no download
      present.push(this.kvOnDevice ? { key, value } : { key: key.data as Float32Array | Uint16Array, value: value.data as Float32Array | Uint16Array });
    }
    return { logits: logitsOf(out.logits), present };
  }

  /**
   * A long run as several of at most maxRunTokens, each attending to the KV the previous one returned: the same
   * logits and KV as one run, where one run would be wrong. The KV between runs is the model's own and is released
   * here; the caller's past stays the caller's.
   */
  private async forwardInRuns(ids: number[], positions: number[], past: CacheKv[], opts: { allLogits?: boolean }): Promise<ForwardResult> {
    const rows: Float32Array[] = [];
    let kv = past;
    for (let at = 0; at < ids.length; at += this.maxRunTokens) {
      const end = Math.min(ids.length, at + this.maxRunTokens);
      const out = await this.forward(ids.slice(at, end), positions.slice(at, end), kv, { allLogits: opts.allLogits ?? true });
      if (kv !== past) disposeKv(kv);
      kv = out.present;
      rows.push(out.logits);
    }
    if (!(opts.allLogits ?? true)) return { logits: rows[rows.length - 1], present: kv };
    const logits = new Float32Array(rows.reduce((n, r) => n + r.length, 0));
    rows.reduce((at, r) => (logits.set(r, at), at + r.length), 0);
    return { logits, present: kv };
  }

  /**
   * A run of an appending graph: the past goes in as it is and the new tokens' KV comes back. A buffer gets
   * the new tokens written after its valid ones; host arrays (dense and recompute caches without a buffer, forks)
   * come back as past ++ new, and an empty past goes in as one masked slot.
   */
  private async append(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, n: number, past: PastKv, pastLength: number): Promise<ForwardResult<PastKv>> {
    const { layers, kvHeads, headDim } = this.geometry;
    if (past instanceof KvBuffer && past.capacity < pastLength + n) {
      throw new RangeError(`A KV buffer of ${past.capacity} tokens has no room for ${n} more after ${pastLength}.`);
    }
    if (pastLength === 0 && !(past instanceof KvBuffer)) {
      const slot = new ort.Tensor(this.layout.kvDtype, allocKv(this.layout.kvDtype, kvHeads * headDim), [1, kvHeads, 1, headDim]);
      for (let l = 0; l < layers; l++) feeds[`past_key_values.${l}.key`] = feeds[`past_key_values.${l}.value`] = slot;
    }
    const out = await this.run(session, feeds, this.appendFetches);
    const rows = Array.from({ length: layers }, (_, l) => ({
      key: out[newKvName(l, 'key')].data as HostKvArray,
      value: out[newKvName(l, 'value')].data as HostKvArray,
    }));
    if (past instanceof KvBuffer) {
      past.append(rows, n);
      return { logits: logitsOf(out.logits), present: past };
    }
    const joined = (a: HostKvArray | undefined, b: HostKvArray): HostKvArray => {
      const [p, t] = [pastLength * headDim, (pastLength + n) * headDim];
      const c = allocLike(b, kvHeads * t);
      for (let h = 0; h < kvHeads; h++) {
        if (a && p) c.set(a.subarray(h * p, (h + 1) * p), h * t);
        c.set(b.subarray(h * n * headDim, (h + 1) * n * headDim), h * t + p);
      }
      return c;
    };
    const host = past as LayerKv[];
    const present = rows.map((r, l) => ({ key: joined(host[l]?.key, r.key), value: joined(host[l]?.value, r.value) }));
    return { logits: logitsOf(out.logits), present };
  }

  /** One run of a session; onnxruntime's failure becomes a sentence naming the model. */
  private async run(
    session: ort.InferenceSession,
    feeds: Record<string, ort.Tensor>,
    fetches?: ort.InferenceSession.FetchesType,
  ): Promise<ort.InferenceSession.ReturnType> {
    try {
      // onnxruntime's own log line of a failed run (terminal colours, a source path) stays out of the terminal and the
      // app's log: the failure comes back as the sentence below
      return await session.run(feeds, fetches ?? session.outputNames, QUIET_RUN);
    } catch (err) {
      throw new ModelRunError(`${this.name} failed while computing in onnxruntime (${firstLine(err)}); the model's graph does not run here.`, { cause: err });
    }
  }

  private get appendFetches(): string[] {
    return ['logits', ...Array.from({ length: this.geometry.layers }, (_, l) => [newKvName(l, 'key'), newKvName(l, 'value')]).flat()];
  }

  /** Releases the model's sessions: the decoder's and the KV edit graph's. */
  async dispose(): Promise<void> {
    this.template.dispose();
    await this.kvEditor?.dispose?.();
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
  if (!existsSync(file)) return null;
  return readModelFile(metaDir, file, 'chat_template.jinja', metaDir, MODEL_FILE_LIMITS['chat_template.jinja']).toString('utf8');
}
