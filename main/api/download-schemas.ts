/** Schemas of the model catalog, Hugging Face downloads and conversion (see main/models/). */
import { z } from 'zod';
import { ExecutionProviderSchema, Id } from './schemas.js';

const RepoId = z.string().regex(/^[A-Za-z0-9][\w.-]*\/[\w.-]+$/, 'A Hub repo id looks like owner/name.').max(200);

/** What the catalog says about a model (main/models/catalog.json adds how to fetch it). */
export const CatalogModelSchema = z.object({
  id: Id,
  name: z.string(),
  repo: RepoId,
  /** Branch, tag or commit; pinned to its commit when a download starts. */
  revision: z.string(),
  parameters: z.string(),
  contextLength: z.number().int().positive(),
  licence: z.string(),
  gated: z.boolean(),
  chatTemplate: z.string(),
});

export const CatalogItemSchema = CatalogModelSchema.extend({
  /** The variant fetched for the asked provider, its download size and the memory it needs while chatting. */
  variant: z.string(),
  downloadBytes: z.number().nonnegative(),
  ramBytes: z.number().nonnegative(),
  fit: z.enum(['fits', 'tight', 'too_large']),
  /** This machine's memory, for the sentence next to the fit. */
  machineRamBytes: z.number().nonnegative(),
  /** Set when the library already holds this model (downloaded earlier). */
  modelId: Id.optional(),
});
export type CatalogItem = z.infer<typeof CatalogItemSchema>;

export const DownloadStateSchema = z.enum(['downloading', 'paused', 'failed', 'done']);
export type DownloadState = z.infer<typeof DownloadStateSchema>;

export const DownloadInfoSchema = z.object({
  /** The model folder's name; stable across restarts. */
  id: Id,
  repo: z.string(),
  variant: z.string(),
  /** The commit every file comes from (pinned when the download started). */
  commit: z.string(),
  state: DownloadStateSchema,
  bytesDone: z.number().nonnegative(),
  bytesTotal: z.number().nonnegative(),
  bytesPerSecond: z.number().nonnegative(),
  /** null while the speed is unknown. */
  etaSeconds: z.number().nonnegative().nullable(),
  /** File being fetched. */
  file: z.string(),
  /** A sentence when state is "failed", and its stable code. */
  error: z.string().optional(),
  errorCode: z.string().optional(),
  /** The library model it became (state "done"). */
  modelId: Id.optional(),
});
export type DownloadInfo = z.infer<typeof DownloadInfoSchema>;

export const CatalogListParams = z.strictObject({ provider: ExecutionProviderSchema.optional() }).optional();
export const DownloadsStartParams = z.strictObject({
  repo: RepoId,
  revision: z.string().min(1).max(200).optional(),
  variant: z.string().min(1).max(200).optional(),
  /** Picks the variant when none is named. */
  provider: ExecutionProviderSchema.optional(),
});
export const DownloadIdParams = z.strictObject({ id: Id });
export const ModelsConvertParams = z.strictObject({ dir: z.string().min(1, 'The folder path is empty.').max(4096) });
