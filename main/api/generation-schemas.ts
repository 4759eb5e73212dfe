/**
 * A chat's generation settings (sampling, answer length, stop strings) and its system prompt, as the API carries
 * them. The bounds are the CLI's flag bounds (main/cli/options.ts): a value the command line refuses, the app
 * refuses too, with the same reason.
 */
import { z } from 'zod';
import { MAX_SYSTEM_PROMPT_BYTES } from './limits.js';
import { boundedText, Id, SessionSchema, SessionsCreateParams, StatsSchema } from './schemas.js';

/** Most tokens one answer may be asked for. */
export const MAX_ANSWER_TOKENS = 1_048_576;
export const MAX_STOP_STRINGS = 16;
export const MAX_STOP_CHARS = 200;

const num = (what: string) => z.number({ error: `${what} must be a number.` });

/** What a chat sets; a field left out takes the model's default (generation_config.json), else greedy decoding. */
export const GenerationSettingsSchema = z.strictObject({
  temperature: num('The temperature').min(0, 'The temperature must be at least 0.').max(100, 'The temperature must be at most 100.').optional(),
  topK: z.number().int('Top-k must be a whole number.').min(0, 'Top-k must be at least 0.').optional(),
  // a probability mass: 1 keeps every token, 0 would keep none
  topP: num('Top-p').gt(0, 'Top-p must be greater than 0.').max(1, 'Top-p must be at most 1.').optional(),
  minP: num('Min-p').min(0, 'Min-p must be at least 0.').max(1, 'Min-p must be at most 1.').optional(),
  // divides (or multiplies) logits: 0 would divide by zero, 1 turns it off
  repetitionPenalty: num('The repetition penalty').gt(0, 'The repetition penalty must be greater than 0.').max(10, 'The repetition penalty must be at most 10.').optional(),
  maxTokens: z
    .number()
    .int('Max tokens must be a whole number.')
    .min(1, 'Max tokens must be at least 1.')
    .max(MAX_ANSWER_TOKENS, `Max tokens must be at most ${MAX_ANSWER_TOKENS}.`)
    .optional(),
  stop: z
    .array(z.string().min(1, 'A stop string is empty.').max(MAX_STOP_CHARS, `A stop string is longer than ${MAX_STOP_CHARS} characters.`))
    .max(MAX_STOP_STRINGS, `At most ${MAX_STOP_STRINGS} stop strings.`)
    .optional(),
  /** the same seed, conversation and settings give the same answer */
  seed: z.number().int('The seed must be a whole number.').min(0, 'The seed must be at least 0.').max(2 ** 31 - 1, `The seed must be at most ${2 ** 31 - 1}.`).optional(),
});
export type GenerationSettings = z.infer<typeof GenerationSettingsSchema>;
export type GenerationField = keyof GenerationSettings;

/** Every setting with a value: what an answer of a chat that sets nothing uses (the model's defaults). */
export const GenerationValuesSchema = z.object({
  temperature: z.number(),
  topK: z.number(),
  topP: z.number(),
  minP: z.number(),
  repetitionPenalty: z.number(),
  maxTokens: z.number(),
  stop: z.array(z.string()),
  /** null: a new random seed for every answer */
  seed: z.number().nullable(),
});
export type GenerationValues = z.infer<typeof GenerationValuesSchema>;

export const ChatSettingsSchema = z.object({
  /** what the chat sets (the rest is the model's) */
  generation: GenerationSettingsSchema,
  /** the model's defaults, for the fields the chat leaves out */
  defaults: GenerationValuesSchema,
  systemPrompt: z.string(),
});
export type ChatSettings = z.infer<typeof ChatSettingsSchema>;

/** Replaces the chat's settings as a whole (`{}`: the model's defaults). */
export const SessionsSetGenerationParams = z.strictObject({ id: Id, generation: GenerationSettingsSchema });

/** '' removes the system prompt. */
export const SessionsSetSystemPromptParams = z.strictObject({ id: Id, systemPrompt: boundedText(MAX_SYSTEM_PROMPT_BYTES) });
export const SystemPromptSetResult = z.object({
  /** what happened to the cache, for the user */
  statement: z.string(),
  session: SessionSchema,
  stats: StatsSchema,
});
export type SystemPromptSetResult = z.infer<typeof SystemPromptSetResult>;

/** A new chat, with the generation settings it starts with (from the app's defaults or a preset; absent: the model's). */
export const SessionsCreateSettingsParams = SessionsCreateParams.extend({ generation: GenerationSettingsSchema.optional() });
