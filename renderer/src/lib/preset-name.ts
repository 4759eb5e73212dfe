import type { Preset } from './api.js';

/** A preset's name as shown: built-in ones in the interface language, the user's as they named them. */
export function presetName(t: (key: string) => string, p: Preset): string {
  return p.builtin ? t(`presets.builtin.${p.builtin}`) : p.name;
}
