/**
 * The interface's messages: every locale has every message (with the plural forms its language needs and the same
 * placeholders), every key the code asks for exists, every error code has a sentence, and no component shows text
 * that does not go through i18n. Runs under Node (vitest), reading the sources as files.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../../main/shared/errors.js';
import { LOCALES, pickLocale } from './locales.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const src = join(here, '..');
type Tree = { [key: string]: string | Tree };
const catalog = (l: string) => JSON.parse(readFileSync(join(here, 'locales', `${l}.json`), 'utf8')) as Tree;

function flatten(tree: Tree, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(tree)) {
    if (typeof v === 'string') out.set(prefix + k, v);
    else for (const [kk, vv] of flatten(v, `${prefix}${k}.`)) out.set(kk, vv);
  }
  return out;
}

const PLURAL = /_(zero|one|two|few|many|other)$/;
/** key → its placeholders, plural forms folded into their base key */
function messages(locale: string): Map<string, { vars: string; forms: Set<string> }> {
  const out = new Map<string, { vars: string; forms: Set<string> }>();
  for (const [key, text] of flatten(catalog(locale))) {
    const base = key.replace(PLURAL, '');
    const entry = out.get(base) ?? { vars: '', forms: new Set<string>() };
    entry.vars = [...new Set([...entry.vars.split(',').filter(Boolean), ...[...text.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]!)])].sort().join(',');
    if (PLURAL.test(key)) entry.forms.add(key.match(PLURAL)![1]!);
    out.set(base, entry);
  }
  return out;
}

function files(dir: string, ext: RegExp): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p, ext) : ext.test(f) && !f.endsWith('.test.ts') ? [p] : [];
  });
}

describe('i18n catalogs', () => {
  const en = messages('en');

  it.each(LOCALES.filter((l) => l !== 'en'))('%s has every message, its plural forms and the same placeholders', (locale) => {
    const other = messages(locale);
    expect([...other.keys()].filter((k) => !en.has(k)), 'keys English does not have').toEqual([]);
    const categories = new Intl.PluralRules(locale).resolvedOptions().pluralCategories;
    for (const [key, { vars, forms }] of en) {
      const m = other.get(key);
      expect(m, `${locale} lacks ${key}`).toBeDefined();
      expect(m!.vars, `${locale} ${key}: placeholders`).toBe(vars);
      if (forms.size > 0) for (const c of categories) expect(m!.forms.has(c), `${locale} ${key}_${c}`).toBe(true);
    }
  });

  it('English has the forms its plural rules need', () => {
    for (const [key, { forms }] of en) if (forms.size > 0) expect([...forms].sort(), key).toEqual(['one', 'other']);
  });

  it('every error code has a sentence in every locale', () => {
    for (const locale of LOCALES) {
      const m = messages(locale);
      for (const code of ERROR_CODES) expect(m.has(`errors.${code}`), `${locale}: errors.${code}`).toBe(true);
    }
  });

  it('every key the interface asks for exists', () => {
    const used = new Set<string>();
    for (const f of files(src, /\.(svelte|ts)$/)) {
      for (const m of readFileSync(f, 'utf8').matchAll(/\bt\(\s*'([\w.]+)'/g)) used.add(m[1]!);
    }
    expect(used.size).toBeGreaterThan(100);
    expect([...used].filter((k) => !en.has(k))).toEqual([]);
  });
});

describe('no text left outside i18n', () => {
  // shown as they are in every language: the product's name, and a technical label
  const ALLOWED = new Set(['Perpetua', 'A/B']);
  const ATTRS = /\b(title|aria-label|placeholder|alt|label)="([^"{]*)"/g;

  /** The markup of a component with scripts, styles, comments and {expressions} taken out. */
  function markup(source: string): string {
    let s = source.replace(/<script[\s\S]*?<\/script>/g, '').replace(/<style[\s\S]*?<\/style>/g, '').replace(/<!--[\s\S]*?-->/g, '');
    // expressions may nest braces ({#each …}, {t('x', { n })}): remove innermost first
    for (let prev = ''; prev !== s; ) {
      prev = s;
      s = s.replace(/\{[^{}]*\}/g, '');
    }
    return s;
  }

  it.each(files(src, /\.svelte$/).map((f) => relative(src, f)))('%s', (file) => {
    const source = readFileSync(join(src, file), 'utf8');
    const found: string[] = [];
    const m = markup(source);
    for (const [, , value] of m.matchAll(ATTRS)) if (/\p{L}{2,}/u.test(value!)) found.push(`attribute "${value}"`);
    for (const text of m.replace(/<[^>]*>/g, '\n').split('\n')) {
      const t = text.trim();
      if (/\p{L}{2,}/u.test(t) && !ALLOWED.has(t)) found.push(`text "${t}"`);
    }
    // sentences in the component's code (toasts, labels built in script)
    const script = source.match(/<script[\s\S]*?<\/script>/)?.[0] ?? '';
    for (const [lit] of script.matchAll(/'[A-Z][a-z]+(?: [\p{L}']+)+[.…!?]?'|`[A-Z][a-z]+(?: [^`$]+)+`/gu)) found.push(`string ${lit}`);
    expect(found).toEqual([]);
  });
});

describe('first-start language', () => {
  it('follows the first of the OS / browser languages that the app has', () => {
    expect(pickLocale(['zh-Hans-CN', 'en-US'])).toBe('zh-CN');
    expect(pickLocale(['zh-CN'])).toBe('zh-CN');
    expect(pickLocale(['zh'])).toBe('zh-CN');
    expect(pickLocale(['zh-SG'])).toBe('zh-CN');
    expect(pickLocale(['zh-TW'])).toBe('zh-TW');
    expect(pickLocale(['zh-Hant-HK'])).toBe('zh-TW');
    expect(pickLocale(['zh-HK'])).toBe('zh-TW');
    expect(pickLocale(['zh_TW'])).toBe('zh-TW');
    expect(pickLocale(['fr-FR', 'zh-TW', 'en'])).toBe('zh-TW');
    expect(pickLocale(['en-GB', 'zh-CN'])).toBe('en');
    expect(pickLocale(['fr', 'de'])).toBe('en');
    expect(pickLocale([])).toBe('en');
  });
});
