import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Model } from '../engine/model.js';
import type { DecoderLayout } from '../engine/decoder-layout.js';
import { measureDeviceTraffic, type DeviceTraffic, type RunTraffic } from '../eval/device-traffic.js';
import { folderVariants } from '../engine/model-files.js';
import { bytesPerElement } from '../engine/kv-dtype.js';
import { HubClient, hubOptionsFromEnv } from '../models/hub-client.js';
import { planBytes, planDownload, runDownload } from '../models/model-download.js';
import { packageRoot } from './default-model.js';
import { DownloadBar } from './download-bar.js';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';
import { convertHfModel } from '../../native-models/convert-hf.js';
import { GRAPH_LAYOUTS } from '../../native-models/decoder-graph.js';
import { CONVERT_BLOCK_SIZE, WEIGHT_DTYPES } from '../../native-models/graph/linear-layers.js';
import { Q4_BLOCK_SIZES, type Q4BlockSize } from '../../native-models/graph/weight-codec.js';
import { oneOf, parse, providerFrom } from './options.js';
import { UsageError } from './usage-error.js';
import { describeThreads } from '../engine/thread-policy.js';

export const MODELS_HELP = `perpetua models check DIR [--ep auto|cpu|webgpu|cuda|dml|coreml] [--variant NAME] [--threads N | --threads DECODE,PREFILL]
  Loads a model folder and tells what Perpetua sees: architecture, size, context, RoPE, KV layout, provider,
  threads (default: PERPETUA_THREADS, else 1 on machines with up to 2 cores, else half the cores up to 4), and
  every export variant in it (dtype, KV dtype, size); by default the best variant for the provider is loaded.
perpetua models convert HF_DIR OUT_DIR [--ep cpu|webgpu|cuda|dml|coreml] [--dtype fp32|fp16|q4|q4_0] [--block-size 32|64|128] [--scales fp16|fp32]
    [--layout appending|fused|reference]
  Converts a Hugging Face Llama, Mistral or Qwen2 checkpoint (safetensors) into a Perpetua model folder (ONNX):
  for the CPU (default) the appending graph, which reads the KV from the cache's own buffer; for a GPU provider
  the reference graph, whose KV stays on the GPU between steps (the appending graph does not run on a GPU); weights in float32 (the default on
  every provider: onnxruntime's x86 float16 matrices are slower than float32), float16, or 4-bit blocks (MatMulNBits;
  q4 with zero points, q4_0 symmetric, at 32 the Q4_0 numbers) of --block-size weights (default ${CONVERT_BLOCK_SIZE}) with float16
  (default) or float32 scales.
perpetua models list --db FILE
  Lists the models a chat database knows.
perpetua models download REPO_ID [--revision R] [--variant NAME] [--dir DIR]
  Downloads an ONNX model from the Hugging Face Hub ($HF_ENDPOINT, token in $HF_TOKEN) into DIR (default
  $PERPETUA_MODELS_DIR, else ./models): one variant (default the best for the CPU: q4, int8, fp32), checked
  file by file against the Hub's sha256; run it again to resume an interrupted download.`;

export async function modelsCommand(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'check') {
    const { values, positionals } = parseWithDir(rest, 1);
    const model = await Model.load(positionals[0], {
      executionProvider: providerFrom({ ep: values.ep ?? 'cpu' }),
      variant: values.variant,
      threads: values.threads,
    });
    const c = model.config;
    const kvPerToken = 2 * c.layers * c.kvHeads * c.headDim * bytesPerElement(model.kvDtype);
    const mib = (n: number) => `${(n / 1024 ** 2).toFixed(1)} MiB`;
    const variants = folderVariants(model.dir).map(
      (v) => `  ${v.name.padEnd(12)} ${v.file}${v.dataFiles.length ? ` + ${v.dataFiles.length} data file(s)` : ''}: ${v.dtype}, KV ${v.kvDtype}, ${mib(v.sizeBytes)}${v.file === model.variant.file ? '  (loaded)' : ''}`,
    );
    console.log(
      [
        `${model.name}: ${c.modelType}, ${c.layers} layers, ${c.heads} heads (${c.kvHeads} KV heads of ${c.headDim}), vocab ${c.vocabSize}`,
        `pretrained context ${c.maxPositions} tokens; RoPE ${c.rope.style}, theta ${c.rope.theta}, ${c.rope.rotaryDim}/${c.headDim} dims rotated, scaling ${c.rope.scaling}`,
        `KV cache ${(kvPerToken / 1024).toFixed(1)} KiB per token (${model.kvDtype}); sink token ${c.sinkTokenId ?? 'none'}; chat template ${model.template.hasTemplate ? 'yes' : 'none (raw text)'}`,
        `graph ${model.variant.file}: ${describeLayout(model.layout)}`,
        `runs on ${model.runsOn}${model.providerFallbackReason ? ` (${model.providerFallbackReason})` : ''}; fingerprint ${model.fingerprint}`,
        ...(model.provider === 'cpu' ? [] : describeTraffic(await measureDeviceTraffic(model))),
        `threads: ${describeThreads(model.threads)}; positions ${model.takesPositions ? 'from position_ids' : 'at the cache length (no position_ids input)'}`,
        `variants:`,
        ...variants,
      ].join('\n'),
    );
    await model.dispose();
    return;
  }
  if (sub === 'convert') {
    const { values, positionals } = parseWithDir(rest, 2);
    const graph = {
      dtype: oneOf(values.dtype ?? 'fp32', WEIGHT_DTYPES, 'dtype'),
      scales: oneOf(values.scales ?? 'fp16', ['fp16', 'fp32'] as const, 'scales'),
      blockSize: Number(oneOf(values['block-size'] ?? String(CONVERT_BLOCK_SIZE), Q4_BLOCK_SIZES.map(String), 'block-size')) as Q4BlockSize,
      // the CPU runs the appending graph fastest; a GPU needs a graph whose KV stays on it (present outputs, plain ops)
      layout: oneOf(values.layout ?? (values.ep && values.ep !== 'cpu' ? 'reference' : 'appending'), GRAPH_LAYOUTS, 'layout'),
    };
    try {
      convertHfModel(resolve(positionals[0]), resolve(positionals[1]), graph);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const model = await Model.load(positionals[1]);
    console.log(`Wrote ${positionals[1]} (${model.config.modelType}, ${model.config.layers} layers, ${graph.layout} graph, ${graph.dtype} weights${graph.dtype.startsWith('q4') ? ` in blocks of ${graph.blockSize}` : ''}); it loads and runs.`);
    await model.dispose();
    return;
  }
  if (sub === 'list') {
    const { values } = parse(rest, { db: { type: 'string' } });
    if (!values.db) throw new UsageError('models list needs --db FILE.');
    const db = openDatabase(resolve(values.db));
    try {
      const models = new Store(db).listModels();
      if (models.length === 0) console.log('No models yet.');
      for (const m of models) console.log(`${m.name}\t${m.dir}\t${m.fingerprint}`);
    } finally {
      db.close();
    }
    return;
  }
  if (sub === 'download') {
    await download(rest);
    return;
  }
  throw new UsageError(`models needs a subcommand: check, convert, list or download, not "${sub ?? ''}".`);
}

const FOLDER_OPTIONS = {
  ep: { type: 'string' },
  variant: { type: 'string' },
  threads: { type: 'string' },
  dtype: { type: 'string' },
  scales: { type: 'string' },
  layout: { type: 'string' },
  'block-size': { type: 'string' },
} as const;

function parseWithDir(args: string[], count: number) {
  let parsed;
  try {
    parsed = parseArgs({ args, options: FOLDER_OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]);
  }
  if (parsed.positionals.length !== count) throw new UsageError(`Expected ${count === 1 ? 'a folder' : 'two folders'}; see perpetua models --help.`);
  return parsed;
}


/** What the graph takes: the parts of its decoder interface that differ between exporters. */
/** Node placement and host↔device bytes, measured from onnxruntime's profile of one decode step and one eviction. */
function describeTraffic(t: DeviceTraffic): string[] {
  const nodes = (r: RunTraffic) => {
    const total = Object.values(r.placement).reduce((a, b) => a + b, 0);
    const cpu = r.placement.CPUExecutionProvider ?? 0;
    return `${total - cpu} of ${total} nodes on ${t.provider}${cpu ? `, on the CPU: ${r.cpuOps.join(' ')}` : ''}`;
  };
  const bytes = (r: RunTraffic) => `${r.upBytes} B up, ${r.downBytes} B down, ${r.copies} copies inside the graph`;
  return [
    `decode step on ${t.provider} (measured, ${t.pastTokens} tokens cached): ${nodes(t.decode)}; ${bytes(t.decode)}`,
    t.eviction ? `eviction on ${t.provider} (measured): ${nodes(t.eviction)}; ${bytes(t.eviction)}` : 'evictions edit the KV in host memory',
  ];
}

function describeLayout(l: DecoderLayout): string {
  return [
    l.appendsKv ? 'attends to the cache buffer in place and returns only the new tokens\' KV (no per-step KV copies on the CPU; a CPU graph)' : null,
    l.cacheBranch ? 'merged decoder (use_cache_branch)' : null,
    l.logitsToKeep ? `${l.logitsToKeep} (1 row per decode step)` : null,
    `logits ${l.logitsDtype}`,
  ]
    .filter(Boolean)
    .join(', ');
}

async function download(args: string[]): Promise<void> {
  const repos = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.match(/^--(revision|variant|dir)$/));
  if (repos.length !== 1) throw new UsageError('models download needs one REPO_ID (owner/name); see perpetua models --help.');
  const { values } = parse(
    args.filter((a) => a !== repos[0]),
    { revision: { type: 'string' }, variant: { type: 'string' }, dir: { type: 'string' } },
  );
  const modelsDir = resolve(values.dir ?? process.env.PERPETUA_MODELS_DIR ?? join(packageRoot(), 'models'));
  const client = new HubClient(hubOptionsFromEnv());
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  const bar = new DownloadBar();
  try {
    const plan = await planDownload(client, modelsDir, { repo: repos[0], revision: values.revision, variant: values.variant }, abort.signal);
    console.log(`${plan.repo} @ ${plan.commit.slice(0, 12)}, variant ${plan.variant}: ${plan.files.length} files, ${(planBytes(plan) / 1024 ** 2).toFixed(1)} MiB`);
    const dir = await runDownload(client, modelsDir, plan, { signal: abort.signal, onProgress: (p) => bar.update(p) });
    bar.finish();
    console.log(`Downloaded into ${dir}; every file matches the Hub's checksum.`);
  } finally {
    bar.finish();
    process.off('SIGINT', stop);
  }
}
