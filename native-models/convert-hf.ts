import { copyFileSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDecoderOnnx, type GraphOptions } from './decoder-graph.js';
import { readSafetensors } from './safetensors.js';
import { writeModelFolder } from './tiny-model.js';
import { withExternalData } from '../main/engine/onnx-graph.js';
import { parseModelConfig } from '../main/engine/model-config.js';
import { PerpetuaError } from '../main/shared/errors.js';

const FAMILIES = new Set(['llama', 'mistral', 'qwen2']);

/**
 * Converts a Hugging Face Llama / Mistral / Qwen2 checkpoint (config.json + *.safetensors + tokenizer files) into
 * a Perpetua model folder with onnx/model.onnx (keys cached after RoPE): by default the fused float32 graph.
 */
export function convertHfModel(
  srcDir: string,
  outDir: string,
  graph: GraphOptions = {},
  opts: { externalData?: boolean; onProgress?: (doneBytes: number, totalBytes: number) => void } = {},
): void {
  const config = JSON.parse(readFileSync(join(srcDir, 'config.json'), 'utf8'));
  if (!FAMILIES.has(config.model_type)) {
    throw new PerpetuaError(`The converter handles Llama, Mistral and Qwen2 checkpoints, not "${config.model_type}".`, { code: 'model_unusable' });
  }
  const files = readdirSync(srcDir).filter((f) => f.endsWith('.safetensors')).sort();
  if (files.length === 0) throw new PerpetuaError(`${srcDir} has no .safetensors weights.`, { code: 'model_unusable' });
  const weights = new Map(files.flatMap((f) => [...readSafetensors(join(srcDir, f))]));
  // Tied checkpoints may store only one of the two tables (TinyStories-656K keeps only lm_head.weight).
  const find = (name: string) => weights.get(name) ?? (name === 'model.embed_tokens.weight' ? weights.get('lm_head.weight') : undefined);
  // progress: the bytes of the weights the graph has taken in so far (a tied table counts once)
  const total = [...weights.values()].reduce((n, t) => n + t.data.byteLength, 0);
  const used = new Set<unknown>();
  let done = 0;
  const lookup = (name: string) => {
    const t = find(name);
    if (t && !used.has(t)) {
      used.add(t);
      done += t.data.byteLength;
      opts.onProgress?.(done, total);
    }
    return t;
  };
  const build = () => buildDecoderOnnx(parseModelConfig(config), lookup, graph);
  const read = (f: string) => (existsSync(join(srcDir, f)) ? JSON.parse(readFileSync(join(srcDir, f), 'utf8')) : {});
  const meta = { config, tokenizerJson: read('tokenizer.json'), tokenizerConfig: read('tokenizer_config.json') };
  if (opts.externalData) {
    // weights in onnx/model.onnx_data: models past protobuf's 2 GB limit must, and it loads without a parse copy
    const ext = withExternalData('model.onnx_data', build);
    writeModelFolder(outDir, { ...meta, onnx: ext.result, onnxExternal: { location: ext.location, chunks: ext.chunks, size: ext.size } });
  } else {
    writeModelFolder(outDir, { ...meta, onnx: build() });
  }
  for (const extra of ['generation_config.json', 'special_tokens_map.json']) {
    if (existsSync(join(srcDir, extra))) copyFileSync(join(srcDir, extra), join(outDir, extra));
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [src, out] = process.argv.slice(2);
  if (!src || !out) {
    console.error('usage: node dist/native-models/convert-hf.js HF_DIR OUT_DIR');
    process.exit(1);
  }
  convertHfModel(resolve(src), resolve(out));
  console.log(`Wrote ${out}`);
}
