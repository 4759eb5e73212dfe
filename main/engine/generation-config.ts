import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { SamplingOptions } from './sampler.js';
import { readModelFile } from './model-files.js';
import { MODEL_FILE_LIMITS } from './model-file-limits.js';

/**
 * The sampling a model's authors recommend, from its generation_config.json (Hugging Face's convention, read as
 * transformers reads it: without `do_sample: true` decoding is greedy whatever temperature says). Used wherever
 * the user has not chosen a value. Fields that are absent or not numbers in range are left out. The file is read
 * like every file a model folder names (regular, inside the folder, bounded): a FIFO or a link to /dev/zero is
 * refused with a sentence naming it, not read forever.
 */
export function generationDefaults(modelDir: string): SamplingOptions {
  const file = [join(modelDir, 'generation_config.json'), join(modelDir, 'hf', 'generation_config.json')].find(existsSync);
  if (!file) return {};
  const bytes = readModelFile(modelDir, file, 'generation_config.json', modelDir, MODEL_FILE_LIMITS.config);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch {
    return {}; // a damaged optional file must not stop the model; config.json is the one that is checked
  }
  if (typeof raw !== 'object' || raw === null) return {};
  const num = (key: string, min: number, max: number, integer = false): number | undefined => {
    const v = raw[key];
    return typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max && (!integer || Number.isInteger(v)) ? v : undefined;
  };
  const sampled = raw.do_sample === true;
  const out: SamplingOptions = {
    temperature: sampled ? num('temperature', 0, 10) : 0,
    // a count: 0.5 would reach the sampler as a fraction of a token
    topK: sampled ? num('top_k', 0, 1e6, true) : undefined,
    topP: sampled ? num('top_p', 0, 1) : undefined,
    minP: sampled ? num('min_p', 0, 1) : undefined,
    repetitionPenalty: num('repetition_penalty', 0.5, 10),
  };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined)) as SamplingOptions;
}
