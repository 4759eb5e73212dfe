/**
 * App-wide settings (the defaults a new chat starts from, the provider new models run on, the interface language, the
 * disk budget for KV snapshots), presets of a system prompt with generation settings, and pinned chats, as the API
 * carries them. Params are strict: they come from the renderer.
 */
import { z } from 'zod';
import { MAX_SYSTEM_PROMPT_BYTES } from './limits.js';
import { GenerationSettingsSchema } from './generation-schemas.js';
import { boundedText, ExecutionProviderSchema, Id, Name, PolicyConfigSchema } from './schemas.js';

/** The interface languages (renderer/src/i18n/locales.ts lists the same). */
export const UiLocaleSchema = z.enum(['en', 'zh-CN', 'zh-TW']);

/** Most bytes a snapshot budget may be (1 PiB: beyond any disk, so only typos are refused). */
export const MAX_SNAPSHOT_BUDGET = 2 ** 50;

export const SnapshotBudgetSchema = z
  .number({ error: 'The snapshot budget must be a number of bytes.' })
  .int('The snapshot budget must be a whole number of bytes.')
  .min(0, 'The snapshot budget cannot be negative.')
  .max(MAX_SNAPSHOT_BUDGET, 'The snapshot budget is larger than any disk.');

export const AppSettingsSchema = z.object({
  /** the policy a new chat starts with (null: the one that fits the chosen model); always bounded by its context */
  policy: PolicyConfigSchema.nullable(),
  /** the generation settings a new chat starts with ({}: the model's defaults) */
  generation: GenerationSettingsSchema,
  /** the provider a newly added model runs on (each model's own can be changed in the model manager) */
  provider: ExecutionProviderSchema,
  /** the interface language (null: the system's) */
  locale: UiLocaleSchema.nullable(),
  /** bytes all chats' KV snapshots may take; the least recently used chats' go first */
  snapshotBudgetBytes: SnapshotBudgetSchema,
});
export type AppSettings = z.infer<typeof AppSettingsSchema>;

/** Changes the settings given; the others stay. */
export const SettingsSetParams = z.strictObject({
  policy: PolicyConfigSchema.nullable().optional(),
  generation: GenerationSettingsSchema.optional(),
  provider: ExecutionProviderSchema.optional(),
  locale: UiLocaleSchema.nullable().optional(),
  snapshotBudgetBytes: SnapshotBudgetSchema.optional(),
});

/** What the KV snapshots of all chats take now. */
export const SnapshotUsageSchema = z.object({
  usedBytes: z.number().nonnegative(),
  budgetBytes: z.number().nonnegative(),
  /** chats that have snapshots */
  chats: z.number().int().nonnegative(),
});
export type SnapshotUsage = z.infer<typeof SnapshotUsageSchema>;

export const PresetSchema = z.object({
  id: Id,
  /** built-in presets carry a key the interface translates (presets.builtin.<key>), the user's their own name */
  builtin: z.string().optional(),
  name: z.string(),
  /** '': no system prompt; null (built-in presets): a chat keeps its own */
  systemPrompt: z.string().nullable(),
  generation: GenerationSettingsSchema,
});
export type Preset = z.infer<typeof PresetSchema>;

/** Saves a preset under a name; one with that name is replaced. */
export const PresetsSaveParams = z.strictObject({
  name: Name,
  systemPrompt: boundedText(MAX_SYSTEM_PROMPT_BYTES),
  generation: GenerationSettingsSchema,
});
export const PresetIdParams = z.strictObject({ id: Id });

export const SessionsSetPinnedParams = z.strictObject({ id: Id, pinned: z.boolean() });
