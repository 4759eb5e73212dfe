/**
 * Shared set-up for browser e2e tests (the UI is built by global-setup.ts): serve it with the web host bridged to a
 * PerpetuaApi, open it in headless Chromium, and record CSP violations and page errors.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import type { PerpetuaApi } from '../main/api/perpetua-api.js';
import { launchBrowser } from './browser.js';
import { startWebHost, type WebHost, type WebHostOptions } from './web-host.js';

export interface Harness {
  host: WebHost;
  browser: Browser;
  page: Page;
  /** CSP directives violated so far (must stay empty). */
  cspViolations(): Promise<string[]>;
  /** Uncaught page errors so far (must stay empty). */
  readonly pageErrors: string[];
  close(): Promise<void>;
}

export async function startHarness(
  api: PerpetuaApi,
  viewport = { width: 1280, height: 800 },
  shell: { pickFolder?: () => Promise<string | null>; pickFile?: () => Promise<string | null>; locale?: string; localServer?: WebHostOptions['localServer'] } = {},
): Promise<Harness> {
  const host = await startWebHost({ api, pickFolder: shell.pickFolder, pickFile: shell.pickFile, localServer: shell.localServer });
  const browser = await launchBrowser();
  // locale: the browser's language (navigator.languages), which the interface follows at first start
  const context = await browser.newContext({ viewport, colorScheme: 'light', ...(shell.locale ? { locale: shell.locale } : {}) });
  // Runs before the page's scripts, outside its CSP.
  await context.addInitScript(`
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations.push(e.violatedDirective + ' ' + (e.blockedURI || '') + ' ' + (e.sourceFile || '') + ':' + e.lineNumber);
    });
  `);
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(host.url);
  await waitReady(page);
  return {
    host,
    browser,
    page,
    pageErrors,
    cspViolations: () => page.evaluate('window.__cspViolations') as Promise<string[]>,
    async close() {
      await browser.close();
      await host.close();
    },
  };
}

export async function waitReady(page: Page): Promise<void> {
  await page.waitForSelector('html[data-ready="true"]', { timeout: 30_000 });
}

/** Pastes text into the focused composer the way a user's Ctrl+V would (a real ClipboardEvent). */
export async function pasteText(page: Page, selector: string, text: string): Promise<void> {
  await page.focus(selector);
  await page.evaluate(
    `((text) => {
      const dt = new DataTransfer();
      dt.setData('text/plain', text);
      const ev = new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true });
      document.activeElement.dispatchEvent(ev);
    })(${JSON.stringify(text)})`,
  );
}

/** Starts recording whether an element matching `selector` ever appears; returns a getter. */
export async function watchAppearance(page: Page, selector: string, key: string): Promise<() => Promise<boolean>> {
  await page.evaluate(`(() => {
    window[${JSON.stringify(key)}] = false;
    const check = () => { if (document.querySelector(${JSON.stringify(selector)})) window[${JSON.stringify(key)}] = true; };
    new MutationObserver(check).observe(document.body, { childList: true, subtree: true });
    check();
  })()`);
  return () => page.evaluate(`window[${JSON.stringify(key)}]`) as Promise<boolean>;
}

/** PERPETUA_SCREENSHOTS=1 refreshes docs/screenshots from the e2e runs (with the built-in model). */
export const SHOTS = process.env.PERPETUA_SCREENSHOTS === '1';
const shotsDir = fileURLToPath(new URL('../docs/screenshots/', import.meta.url));

/** Saves a screenshot of the page once toasts are gone (only when SHOTS). */
export async function shot(page: Page, name: string): Promise<void> {
  if (!SHOTS) return;
  mkdirSync(shotsDir, { recursive: true });
  await page.waitForSelector('[data-testid^=toast-]', { state: 'detached', timeout: 10_000 }).catch(() => {});
  await page.waitForTimeout(250);
  await page.screenshot({ path: join(shotsDir, `${name}.png`) });
}
