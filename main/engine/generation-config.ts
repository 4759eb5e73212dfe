import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SamplingOptions } from './sampler.js';

/**
 * The sampling a model's authors recommend, from its generation_config.json (Hugging Face's convention, read as
 * transformers reads it: without `do_sample: true` decoding is greedy whatever temperature says). Used wherever
 * the user has not chosen a value. Fields that are absent or not numbers in range are left out.
 */
export function generationDefaults(modelDir: string): SamplingOptions {
  const file = [join(modelDir, 'generation_config.json'), join(modelDir, 'hf', 'generation_config.json')].find(existsSync);
  if (!file) return {};
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return {}; // a damaged optional file must not stop the model; config.json is the one that is checked
  }
  if (typeof raw !== 'object' || raw === null) return {};
  const num = (key: string, min: number, max: number): number | undefined => {
    const v = raw[key];
    return typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max ? v : undefined;
  };
  const sampled = raw.do_sample === true;
  const out: SamplingOptions = {
    temperature: sampled ? num('temperature', 0, 10) : 0,
    topK: sampled ? num('top_k', 0, 1e6) : undefined,
    topP: sampled ? num('top_p', 0, 1) : undefined,
    minP: sampled ? num('min_p', 0, 1) : undefined,
    repetitionPenalty: num('repetition_penalty', 0.5, 10),
  };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined)) as SamplingOptions;
}
