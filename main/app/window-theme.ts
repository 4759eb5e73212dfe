/**
 * The window's background before the page paints, in the theme the user chose, so a light theme does not
 * start with a dark flash (or the reverse). The preload reports the page's theme (its <html data-theme>);
 * it is kept in <userData>/appearance.json for the next start. Colours are the --bg of renderer/src/app.css.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { ThemeSchema, type Theme } from '../api/shell-protocol.js';

export const THEME_BACKGROUND: Record<Theme, string> = { light: '#fbfaf8', dark: '#141518' };

const AppearanceSchema = z.object({ theme: ThemeSchema });

/** The theme saved last time, or null (first start, or a file that is not ours). */
export function readSavedTheme(file: string): Theme | null {
  try {
    const parsed = AppearanceSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    return parsed.success ? parsed.data.theme : null;
  } catch {
    return null;
  }
}

export function saveTheme(file: string, theme: Theme): void {
  writeFileSync(file, `${JSON.stringify({ theme })}\n`);
}

/** The saved theme, else the system's (which the page also follows until the user picks one). */
export function windowBackground(saved: Theme | null, systemDark: boolean): string {
  return THEME_BACKGROUND[saved ?? (systemDark ? 'dark' : 'light')];
}
