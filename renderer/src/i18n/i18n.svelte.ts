import i18next, { type i18n as I18next, type TOptions } from 'i18next';
import { getContext, setContext } from 'svelte';
import en from './locales/en.json';
import zhCN from './locales/zh-CN.json';
import zhTW from './locales/zh-TW.json';
import { isLocale, pickLocale, type Locale } from './locales.js';

/** Every locale's messages; `en` is the fallback for a key another locale lacks (a test keeps them complete). */
export const MESSAGES = { en, 'zh-CN': zhCN, 'zh-TW': zhTW } as const;

const LOCALE_KEY = 'perpetua.locale';
const CONTEXT = Symbol('i18n');

/** Where the page keeps its choice (localStorage in the app; a stand-in in tests). */
export interface LocaleStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/** A user-facing error: its stable code picks the sentence; the English message is the fallback and the detail. */
interface CodedError {
  code?: unknown;
  message?: unknown;
}

/**
 * The interface language: i18next underneath (plurals by Intl.PluralRules, interpolation, fallback to English), the
 * current locale as Svelte state so every `t()` in a template follows a switch, and `<html lang>` kept in step (without
 * it Chromium draws shared Han characters in Japanese forms). Created once by App and handed down by context.
 */
export class I18n {
  locale = $state<Locale>('en');
  /** the language the OS (or browser) asks for, shown while the user has chosen none */
  readonly systemLocale: Locale;
  private readonly i18: I18next;

  constructor(
    preferred: readonly string[],
    private readonly store: LocaleStore | null = null,
    private readonly root: { lang: string } | null = null,
  ) {
    const saved = store?.getItem(LOCALE_KEY);
    this.systemLocale = pickLocale(preferred);
    const initial = isLocale(saved) ? saved : this.systemLocale;
    this.i18 = i18next.createInstance();
    void this.i18.init({
      lng: initial,
      fallbackLng: 'en',
      supportedLngs: Object.keys(MESSAGES),
      resources: Object.fromEntries(Object.entries(MESSAGES).map(([l, m]) => [l, { translation: m }])),
      interpolation: { escapeValue: false }, // Svelte puts text in text nodes: nothing is parsed as HTML
      initAsync: false,
      returnNull: false,
    });
    this.apply(initial);
  }

  /** The message under `key`, in the current locale. Bound, so components can take it apart: `const { t } = i18n`. */
  t = (key: string, options?: TOptions): string => {
    void this.locale; // a dependency: templates calling t() re-render when the locale changes
    return this.i18.t(key, options) as string;
  };

  setLocale(locale: Locale): void {
    this.store?.setItem(LOCALE_KEY, locale);
    this.apply(locale);
  }

  /** Drops the user's choice: the system's language again. */
  followSystem(): void {
    this.store?.setItem(LOCALE_KEY, '');
    this.apply(this.systemLocale);
  }

  /** Integers and decimals as the locale writes them. */
  number = (n: number, options?: Intl.NumberFormatOptions): string => new Intl.NumberFormat(this.locale, options).format(n);

  /** A clock time today, else a short date, in the locale's form. */
  time = (ms: number): string => {
    const d = new Date(ms);
    if (d.toDateString() === new Date().toDateString()) {
      return new Intl.DateTimeFormat(this.locale, { hour: '2-digit', minute: '2-digit' }).format(d);
    }
    return new Intl.DateTimeFormat(this.locale, { month: 'short', day: 'numeric' }).format(d);
  };

  /**
   * The sentence for an error that reaches the user. English shows the core's own sentence (the most specific one);
   * another locale shows the sentence for the error's code, with the English detail after it where the code alone
   * says too little. Unknown codes and plain errors fall back to the English text.
   */
  error = (err: unknown): string => {
    const e = (err ?? {}) as CodedError;
    const message = typeof e.message === 'string' ? e.message : String(err);
    if (this.locale === 'en' || typeof e.code !== 'string') return message;
    const key = `errors.${e.code}`;
    if (!this.i18.exists(key, { lng: this.locale, fallbackLng: false })) return message;
    return this.t('errors.withDetail', { sentence: this.t(key), detail: message });
  };

  private apply(locale: Locale): void {
    void this.i18.changeLanguage(locale);
    this.locale = locale;
    if (this.root) this.root.lang = locale;
  }
}

export function provideI18n(i18n: I18n): void {
  setContext(CONTEXT, i18n);
}

/** The I18n that App provided. */
export function useI18n(): I18n {
  const i18n = getContext<I18n | undefined>(CONTEXT);
  if (!i18n) throw new Error('useI18n() outside the app: App provides the I18n.');
  return i18n;
}
