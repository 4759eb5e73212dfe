import type { ValidParamsOf } from '../api/methods.js';
import type { Preset } from '../api/settings-schemas.js';
import { PerpetuaError } from '../shared/errors.js';
import { NotFoundError } from '../store/errors.js';
import { parseRowId } from '../store/row-id.js';
import type { Store } from '../store/store.js';
import { storedGeneration } from './generation-settings.js';

/**
 * Sampling presets every install has. They set sampling only (systemPrompt null: a chat keeps its own prompt); their
 * names are translated by the interface (presets.builtin.<key>).
 */
export const BUILTIN_PRESETS: readonly Preset[] = [
  { id: 'builtin:precise', builtin: 'precise', name: 'Precise', systemPrompt: null, generation: { temperature: 0.2, topP: 0.9, repetitionPenalty: 1.05 } },
  { id: 'builtin:balanced', builtin: 'balanced', name: 'Balanced', systemPrompt: null, generation: { temperature: 0.7, topP: 0.95, repetitionPenalty: 1.1 } },
  { id: 'builtin:creative', builtin: 'creative', name: 'Creative', systemPrompt: null, generation: { temperature: 1.1, topP: 0.98, minP: 0.05, repetitionPenalty: 1.1 } },
];

function toApiPreset(p: ReturnType<Store['presets']['list']>[number]): Preset {
  return { id: String(p.id), name: p.name, systemPrompt: p.systemPrompt, generation: storedGeneration(p.generation) };
}

/** The built-in presets, then the user's by name. */
export function listPresets(store: Store): Preset[] {
  return [...BUILTIN_PRESETS, ...store.presets.list().map(toApiPreset)];
}

export function savePreset(store: Store, p: ValidParamsOf<'presets.save'>): Preset {
  if (BUILTIN_PRESETS.some((b) => b.name.toLowerCase() === p.name.trim().toLowerCase())) {
    throw new PerpetuaError(`“${p.name.trim()}” is the name of a built-in preset; please choose another name.`, { code: 'invalid_input' });
  }
  return toApiPreset(store.presets.save(p));
}

export function deletePreset(store: Store, id: string): void {
  if (BUILTIN_PRESETS.some((b) => b.id === id)) throw new PerpetuaError('Built-in presets cannot be deleted.', { code: 'invalid_input' });
  const rowId = parseRowId(id, 'preset');
  if (!store.presets.delete(rowId)) throw new NotFoundError('preset', rowId);
}
