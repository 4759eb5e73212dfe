import { closeSync, readSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { FolderFileError, openFolderFile } from '../shared/folder-file.js';
import { getFloat16 } from '@petamoriken/float16';
import { ModelLoadError, UnsupportedModelError } from './errors.js';
import { readOnnxContents, type InitializerInfo } from './onnx-contents.js';

/**
 * An onnxruntime-genai folder (genai_config.json, no config.json) as the config.json fields the engine reads.
 * genai_config.json names the decoder's shape but not its RoPE; that comes from the graph's own `cos_cache` /
 * `sin_cache` tables [positions, rotaryDim / 2] (the builder bakes theta and any static scaling into them), so
 * kept keys are re-rotated with exactly the angles the model applied.
 */
export function configFromGenai(genai: Record<string, any>, graph: string, dirArg: string): { config: Record<string, unknown>; invFreq: Float32Array } {
  const m = genai.model ?? {};
  const d = m.decoder ?? {};
  const { invFreq, rotaryDim } = ropeFromTables(graph, dirArg);
  const headDim = Number(d.head_size);
  // theta only for display: the frequencies themselves come from the table
  const theta = invFreq.length > 1 ? Math.pow(invFreq[1], -rotaryDim / 2) : 10000;
  const config = {
    model_type: m.type,
    vocab_size: m.vocab_size,
    hidden_size: d.hidden_size,
    num_attention_heads: d.num_attention_heads,
    num_key_value_heads: d.num_key_value_heads,
    num_hidden_layers: d.num_hidden_layers,
    head_dim: headDim,
    max_position_embeddings: m.context_length,
    bos_token_id: m.bos_token_id,
    eos_token_id: m.eos_token_id,
    rope_theta: theta,
    partial_rotary_factor: rotaryDim / headDim,
  };
  return { config, invFreq };
}

/**
 * The inverse frequencies from the cos/sin tables: the angle at position 1 gives each frequency roughly, the
 * angles at positions 16, 256 and 4096 refine it (the phase is unwrapped with the previous estimate), so even
 * float16 tables give frequencies good to ~1e-7 — enough to turn a key by thousands of positions.
 */
function ropeFromTables(graph: string, dirArg: string): { invFreq: Float32Array; rotaryDim: number } {
  const inits = readOnnxContents(graph).initializers;
  const cos = inits.find((t) => t.name === 'cos_cache');
  const sin = inits.find((t) => t.name === 'sin_cache');
  if (!cos || !sin || cos.dims.length !== 2 || sin.dims.join() !== cos.dims.join()) {
    throw new UnsupportedModelError(
      `The onnxruntime-genai model in ${dirArg} has no config.json and no cos_cache/sin_cache table in its graph, so Perpetua cannot tell how its keys are rotated; put the model's config.json beside genai_config.json.`,
    );
  }
  const [rows, half] = cos.dims;
  if (!(rows >= 2 && rows <= 1 << 24 && half >= 1 && half <= 1024)) {
    throw new UnsupportedModelError(`The cos_cache table of the onnxruntime-genai model in ${dirArg} has the shape [${cos.dims.join(', ')}], which is not a RoPE table.`);
  }
  const at = (t: InitializerInfo, row: number) => readRow(graph, t, row, half);
  const invFreq = new Float32Array(half);
  const c1 = at(cos, 1);
  const s1 = at(sin, 1);
  const freq = Array.from({ length: half }, (_, i) => Math.atan2(s1[i], c1[i]));
  for (const p of [16, 256, 4096].filter((p) => p < rows)) {
    const c = at(cos, p);
    const s = at(sin, p);
    for (let i = 0; i < half; i++) {
      const measured = Math.atan2(s[i], c[i]);
      const turns = Math.round((freq[i] * p - measured) / (2 * Math.PI));
      freq[i] = (measured + 2 * Math.PI * turns) / p;
    }
  }
  invFreq.set(freq);
  if (!invFreq.every((f) => Number.isFinite(f) && f > 0)) {
    throw new UnsupportedModelError(`The cos_cache/sin_cache tables of the onnxruntime-genai model in ${dirArg} do not hold RoPE angles.`);
  }
  return { invFreq, rotaryDim: 2 * half };
}

/** One row of a float32 or float16 table, inline in the graph or in its external data file. */
function readRow(graph: string, t: InitializerInfo, row: number, width: number): number[] {
  const bytesPer = t.dataType === 10 ? 2 : t.dataType === 1 ? 4 : 0;
  const place = t.external ? { file: join(dirname(graph), t.external.location), offset: t.external.offset } : t.inline && { file: graph, offset: t.inline.offset };
  if (!bytesPer || !place) throw new UnsupportedModelError(`The RoPE table ${t.name} in ${graph} is not stored as float32 or float16 data.`);
  const buf = Buffer.alloc(width * bytesPer);
  const at = place.offset + row * width * bytesPer;
  const stored = t.external?.length ?? t.inline?.length ?? 0;
  if (row * width * bytesPer + buf.length > stored && stored > 0) {
    throw new UnsupportedModelError(`The RoPE table ${t.name} in ${graph} is shorter than its shape says.`);
  }
  // the location is untrusted (it arrives with a Hub download): beside the graph, a regular file, long enough
  let f;
  try {
    f = openFolderFile(dirname(graph), place.file, Number.MAX_SAFE_INTEGER);
  } catch (err) {
    if (err instanceof FolderFileError) throw new ModelLoadError(`The RoPE table ${t.name} of ${basename(graph)} is kept in ${t.external?.location ?? basename(graph)}, which ${err.reason}.`);
    throw err;
  }
  try {
    if (at + buf.length > f.size) throw new UnsupportedModelError(`The RoPE table ${t.name} of ${basename(graph)} lies past the end of ${basename(f.path)}.`);
    readSync(f.fd, buf, 0, buf.length, at);
  } finally {
    closeSync(f.fd);
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return Array.from({ length: width }, (_, i) => (bytesPer === 2 ? getFloat16(view, 2 * i, true) : view.getFloat32(4 * i, true)));
}
