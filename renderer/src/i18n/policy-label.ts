import type { PolicyConfig } from '../lib/api.js';
import type { I18n } from './i18n.svelte.js';

/** A policy in a few words ("sink 4 + 1020 · pinned", "注意力汇聚 4 + 1020 · 固定"): main/policy's policyLabel, translated. */
export function policyLabel(i18n: Pick<I18n, 't' | 'number'>, p: PolicyConfig): string {
  const { t, number: n } = i18n;
  // only the sink policy keeps pinned tokens: window and recompute ignore the option
  const pinned = p.pinSystem && p.name === 'sink' ? t('policy.pinnedSuffix') : '';
  switch (p.name) {
    case 'dense':
      return t('policy.short.dense');
    case 'sink':
      return t('policy.short.sink', { sink: n(p.sink), window: n(p.window) }) + pinned;
    default:
      return t(`policy.short.${p.name}`, { window: n(p.window) }) + pinned;
  }
}
