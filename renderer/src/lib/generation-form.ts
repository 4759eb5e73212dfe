import { parseDecimal } from '../../../main/shared/decimal-text.js';
import type { GenerationSettings, GenerationValues } from './api.js';

/** The number fields of generation settings (labels and hints: settings.field.<key>, settings.hint.<key>). */
export type NumberField = Exclude<keyof GenerationValues, 'stop'>;

export const GENERATION_FIELDS: readonly { key: NumberField; step: string; min?: number; max?: number }[] = [
  { key: 'temperature', step: '0.05', min: 0, max: 100 },
  { key: 'topP', step: '0.01', min: 0, max: 1 },
  { key: 'topK', step: '1', min: 0 },
  { key: 'minP', step: '0.01', min: 0, max: 1 },
  { key: 'repetitionPenalty', step: '0.05', min: 0, max: 10 },
  { key: 'maxTokens', step: '1', min: 1 },
  { key: 'seed', step: '1', min: 0 },
];

/** The text typed per field ('': the model's default). */
export type FieldTexts = Record<NumberField, string>;

export function emptyTexts(): FieldTexts {
  return { temperature: '', topP: '', topK: '', minP: '', repetitionPenalty: '', maxTokens: '', seed: '' };
}

/** Each field's text as a number: a point or a comma decimal ("0,7" is 0.7, never 7); null when empty, NaN when no number. */
export function fieldValues(texts: FieldTexts): Record<NumberField, number | null> {
  return Object.fromEntries(GENERATION_FIELDS.map((f) => [f.key, parseDecimal(texts[f.key])])) as Record<NumberField, number | null>;
}

/** The fields whose text is not a number in their range: shown, and nothing is saved until they are fixed. */
export function invalidFields(texts: FieldTexts): NumberField[] {
  const values = fieldValues(texts);
  return GENERATION_FIELDS.filter((f) => {
    const v = values[f.key];
    return v !== null && (Number.isNaN(v) || (f.step === '1' && !Number.isInteger(v)) || (f.min !== undefined && v < f.min) || (f.max !== undefined && v > f.max));
  }).map((f) => f.key);
}

/** The settings the fields set (empty and invalid ones left out); stop strings are kept from `base`. */
export function textsToSettings(texts: FieldTexts, base: Pick<GenerationSettings, 'stop'> = {}): GenerationSettings {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(fieldValues(texts))) if (v !== null && !Number.isNaN(v)) out[key] = v;
  if (base.stop?.length) out.stop = base.stop;
  return out as GenerationSettings;
}

/** The fields' texts for stored settings. */
export function settingsToTexts(g: GenerationSettings): FieldTexts {
  const texts = emptyTexts();
  for (const f of GENERATION_FIELDS) texts[f.key] = g[f.key] === undefined || g[f.key] === null ? '' : String(g[f.key]);
  return texts;
}
