import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSavedTheme, saveTheme, THEME_BACKGROUND, windowBackground } from './window-theme.js';

const dir = mkdtempSync(join(tmpdir(), 'perpetua-theme-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('window background from the theme', () => {
  it('uses the saved theme, else the system one', () => {
    expect(windowBackground('light', true)).toBe(THEME_BACKGROUND.light);
    expect(windowBackground('dark', false)).toBe(THEME_BACKGROUND.dark);
    expect(windowBackground(null, false)).toBe(THEME_BACKGROUND.light);
    expect(windowBackground(null, true)).toBe(THEME_BACKGROUND.dark);
  });

  it('saves the theme and reads it back; a missing or foreign file reads as none', () => {
    const file = join(dir, 'appearance.json');
    expect(readSavedTheme(file)).toBeNull();
    saveTheme(file, 'light');
    expect(readSavedTheme(file)).toBe('light');
    saveTheme(file, 'dark');
    expect(readSavedTheme(file)).toBe('dark');
    writeFileSync(file, '{"theme":"neon"}');
    expect(readSavedTheme(file)).toBeNull();
    writeFileSync(file, 'not json');
    expect(readSavedTheme(file)).toBeNull();
  });

  it('matches the page background (--bg) of each theme in the renderer CSS', () => {
    const css = readFileSync(new URL('../../renderer/src/app.css', import.meta.url), 'utf8');
    const bg = (block: string) => new RegExp(`${block}\\s*\\{[^}]*?--bg:\\s*(#[0-9a-f]{6})`, 'i').exec(css)?.[1];
    expect(bg(':root')).toBe(THEME_BACKGROUND.light);
    expect(bg(":root\\[data-theme='dark'\\]")).toBe(THEME_BACKGROUND.dark);
  });
});
