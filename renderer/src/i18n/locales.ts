/** The interface languages, each named in itself (the language menu lists them so). */
export const LOCALES = ['en', 'zh-CN', 'zh-TW'] as const;
export type Locale = (typeof LOCALES)[number];

export const LOCALE_NAMES: Record<Locale, string> = { en: 'English', 'zh-CN': '简体中文', 'zh-TW': '繁體中文' };

export function isLocale(value: unknown): value is Locale {
  return typeof value === 'string' && (LOCALES as readonly string[]).includes(value);
}

/**
 * The first of the user's languages (OS order, then the browser's) that we have: zh-TW for Traditional Chinese
 * (zh-Hant, Taiwan, Hong Kong, Macau), zh-CN for any other Chinese, else English.
 */
export function pickLocale(preferred: readonly string[]): Locale {
  for (const tag of preferred) {
    const t = tag.toLowerCase().replace(/_/g, '-');
    if (t === 'en' || t.startsWith('en-')) return 'en';
    if (t === 'zh' || t.startsWith('zh-')) {
      return /^zh-(hant|tw|hk|mo)(-|$)/.test(t) || /-hant(-|$)/.test(t) ? 'zh-TW' : 'zh-CN';
    }
  }
  return 'en';
}
