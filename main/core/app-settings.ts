import type { z } from 'zod';
import type { ValidParamsOf } from '../api/methods.js';
import { ExecutionProviderSchema, PolicyConfigSchema } from '../api/schemas.js';
import { UiLocaleSchema, type AppSettings, type SnapshotUsage } from '../api/settings-schemas.js';
import type { ExecutionProvider } from '../api/schemas.js';
import type { Store } from '../store/store.js';
import { inTransaction } from '../store/typed-statements.js';
import { storedGeneration } from './generation-settings.js';

/** Where each app setting lives in the store's key-value table (the snapshot budget: snapshot-budget.ts). */
const KEYS = { policy: 'newChatPolicy', generation: 'newChatGeneration', provider: 'newModelProvider', locale: 'locale' } as const;

/** A stored value the current bounds take, else the default (a value from another version never breaks the app). */
function stored<T>(schema: z.ZodType<T>, value: unknown, fallback: T): T {
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : fallback;
}

/** The app-wide settings, each field its default where nothing (usable) is stored. */
export function readAppSettings(store: Store): AppSettings {
  const s = store.settings;
  const generation = s.get(KEYS.generation);
  return {
    policy: stored(PolicyConfigSchema.nullable(), s.get(KEYS.policy), null),
    generation: storedGeneration(typeof generation === 'object' && generation !== null ? (generation as Record<string, unknown>) : {}),
    provider: newModelProvider(store),
    locale: stored(UiLocaleSchema.nullable(), s.get(KEYS.locale), null),
    snapshotBudgetBytes: store.snapshotBudget.budget(),
  };
}

/**
 * Stores the settings given (validated by the API). A new snapshot budget holds at once: the least recently used
 * chats' snapshots are dropped until the rest fit, and every chat's next save keeps within it.
 */
export function writeAppSettings(store: Store, p: ValidParamsOf<'settings.set'>): AppSettings {
  inTransaction(store.db, () => {
    for (const key of ['policy', 'generation', 'provider', 'locale'] as const) {
      if (p[key] !== undefined) store.settings.set(KEYS[key], p[key]);
    }
    if (p.snapshotBudgetBytes !== undefined) store.snapshotBudget.setBudget(p.snapshotBudgetBytes);
  });
  if (p.snapshotBudgetBytes !== undefined) store.snapshotBudget.enforce(p.snapshotBudgetBytes);
  return readAppSettings(store);
}

/** The provider a newly added model runs on. */
export function newModelProvider(store: Store): ExecutionProvider {
  return stored(ExecutionProviderSchema, store.settings.get(KEYS.provider), 'cpu');
}

/** What all chats' snapshots take now, against the budget. */
export function snapshotUsage(store: Store): SnapshotUsage {
  const usage = store.snapshotBudget.usage();
  return { usedBytes: usage.reduce((n, u) => n + u.bytes, 0), budgetBytes: store.snapshotBudget.budget(), chats: usage.length };
}
