/**
 * Tells the shell the page's theme (<html data-theme>) when the page has loaded and whenever it changes, so
 * the window's background matches it (now and at the next start). Nothing is exposed to the page.
 */
import { ThemeSchema, type Theme } from '../api/shell-protocol.js';

/** The bit of the DOM this needs (typed here: the main tsconfig has no DOM library). */
export interface ThemePage {
  addEventListener(type: 'DOMContentLoaded', listener: () => void): void;
  document: { documentElement: { dataset: Record<string, string | undefined> } };
  MutationObserver: new (callback: () => void) => { observe(target: object, options: { attributes: true; attributeFilter: string[] }): void };
}

export function reportThemeChanges(page: ThemePage, send: (theme: Theme) => void): void {
  page.addEventListener('DOMContentLoaded', () => {
    const root = page.document.documentElement;
    let last: Theme | null = null;
    const report = () => {
      const theme = ThemeSchema.safeParse(root.dataset.theme);
      if (theme.success && theme.data !== last) send((last = theme.data));
    };
    report();
    new page.MutationObserver(report).observe(root, { attributes: true, attributeFilter: ['data-theme'] });
  });
}
