import { GenerationSettingsSchema, type GenerationSettings, type GenerationValues } from '../api/generation-schemas.js';
import { generationDefaults } from '../engine/generation-config.js';
import type { SamplingOptions } from '../engine/sampler.js';

/**
 * What a chat samples with when its model ships no generation_config.json: the values chat apps commonly start
 * from. A model that has one (even one that says greedy, without do_sample) gets exactly what it says.
 */
export const NO_CONFIG_SAMPLING: SamplingOptions = { temperature: 0.8, topP: 0.95, repetitionPenalty: 1.1 };

/** The sampling a chat on the model in `dir` starts from. */
export function modelSampling(dir: string): SamplingOptions {
  const recommended = generationDefaults(dir);
  return Object.keys(recommended).length > 0 ? recommended : NO_CONFIG_SAMPLING;
}

/** What one answer is written with: the model's defaults overlaid by the chat's settings. */
export interface AnswerSettings {
  maxTokens: number;
  sampling: SamplingOptions;
  stop: string[];
}

/**
 * A chat's stored settings, field by field: a field the current bounds refuse (written by another version, or
 * by hand) is left out, so it falls back to the model's default instead of making the chat unusable.
 */
export function storedGeneration(stored: Record<string, unknown>): GenerationSettings {
  const fields = GenerationSettingsSchema.shape;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(stored ?? {})) {
    const field = fields[key as keyof typeof fields];
    const parsed = field?.safeParse(value);
    if (parsed?.success && parsed.data !== undefined) out[key] = parsed.data;
  }
  return out as GenerationSettings;
}

/** Every field with a value: the model's recommended sampling (generation_config.json), else greedy decoding. */
export function generationValues(model: SamplingOptions, maxTokens: number): GenerationValues {
  return {
    temperature: model.temperature ?? 0,
    topK: model.topK ?? 0,
    topP: model.topP ?? 1,
    minP: model.minP ?? 0,
    repetitionPenalty: model.repetitionPenalty ?? 1,
    maxTokens,
    stop: [],
    seed: model.seed ?? null,
  };
}

/** The chat's settings over the model's defaults. */
export function answerSettings(model: SamplingOptions, maxTokens: number, chat: GenerationSettings): AnswerSettings {
  const { maxTokens: chatMax, stop, ...sampling } = chat;
  return { maxTokens: chatMax ?? maxTokens, sampling: { ...model, ...sampling }, stop: stop ?? [] };
}
