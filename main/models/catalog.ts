/**
 * The curated catalog (catalog.json, data not code) and how well each entry fits this machine: the variant for the
 * provider, its download size and the memory it needs while chatting (weights + a default 1024-token KV cache).
 */
import { z } from 'zod';
import catalogJson from './catalog.json' with { type: 'json' };
import { CatalogModelSchema } from '../api/download-schemas.js';
import type { ExecutionProvider } from '../api/schemas.js';

export const CatalogEntrySchema = CatalogModelSchema.extend({
  id: z.string().regex(/^[\w.-]+$/),
  layout: z.enum(['transformers.js', 'onnxruntime-genai']),
  /** The variant to fetch for the CPU and for GPU providers. */
  variants: z.object({ cpu: z.string(), gpu: z.string() }),
  /** Approximate bytes of each variant's graph and external data. */
  sizes: z.record(z.string(), z.number().int().positive()),
  kv: z.object({ layers: z.number().int().positive(), kvHeads: z.number().int().positive(), headDim: z.number().int().positive() }),
  verified: z.string(),
  verifyOnline: z.string(),
});
export type CatalogEntry = z.infer<typeof CatalogEntrySchema>;

const CatalogSchema = z.object({ about: z.string(), models: z.array(CatalogEntrySchema).min(1) }).superRefine((c, ctx) => {
  for (const m of c.models) {
    for (const v of [m.variants.cpu, m.variants.gpu]) {
      if (!(v in m.sizes)) ctx.addIssue({ code: 'custom', message: `${m.id}: no size for variant ${v}` });
    }
  }
});

export const CATALOG: readonly CatalogEntry[] = CatalogSchema.parse(catalogJson).models;

/** Tokens the fit assumes in the cache: the default sink 4 + window 1020. */
const FIT_TOKENS = 1024;
/** onnxruntime, tokenizer and the app around the weights. */
const RUNTIME_BYTES = 400 * 1024 ** 2;

export type FitLevel = 'fits' | 'tight' | 'too_large';

export interface CatalogFit {
  variant: string;
  downloadBytes: number;
  /** Memory while chatting: weights, KV cache of FIT_TOKENS float32 tokens, runtime. */
  ramBytes: number;
  fit: FitLevel;
}

export function catalogFit(entry: CatalogEntry, provider: ExecutionProvider, totalRamBytes: number): CatalogFit {
  const variant = provider === 'cpu' ? entry.variants.cpu : entry.variants.gpu;
  const downloadBytes = entry.sizes[variant];
  const kvBytes = 2 * entry.kv.layers * entry.kv.kvHeads * entry.kv.headDim * 4 * FIT_TOKENS;
  const ramBytes = Math.round(downloadBytes * 1.1 + kvBytes + RUNTIME_BYTES);
  const fit: FitLevel = ramBytes <= 0.5 * totalRamBytes ? 'fits' : ramBytes <= 0.8 * totalRamBytes ? 'tight' : 'too_large';
  return { variant, downloadBytes, ramBytes, fit };
}
