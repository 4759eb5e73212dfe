/**
 * Toasts are drawn above dialogs: a modal dialog lies in the browser's top layer, where no z-index reaches, so a
 * toast raised while the model manager is open (an import's "imported") must be the element the user sees there.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreService } from '../main/core/core-service.js';
import { testModelDir } from '../native-models/test-models.js';
import { startHarness, type Harness } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'perpetua-e2e-toasts-'));
let core: CoreService;
let h: Harness;

beforeAll(async () => {
  core = new CoreService({ dbFile: join(dir, 'perpetua.db') });
  h = await startHarness(core, { width: 1280, height: 800 });
});

afterAll(async () => {
  await h?.close();
  await core?.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * The colour the user sees at a point of the page. A modal dialog makes the rest of the page inert, which hit testing
 * (elementFromPoint) passes through even where it is drawn on top, so what shows is read from a screenshot: decoded
 * in a blank page of the same browser (no CSP there).
 */
async function seenColour(x: number, y: number): Promise<[number, number, number]> {
  const png = (await h.page.screenshot()).toString('base64');
  const blank = await h.browser.newPage();
  try {
    return await blank.evaluate(
      async ([data, px, py]) => {
        const img = new Image();
        img.src = `data:image/png;base64,${data}`;
        await img.decode();
        const canvas = document.createElement('canvas');
        canvas.width = img.width;
        canvas.height = img.height;
        const ctx = canvas.getContext('2d')!;
        ctx.drawImage(img, 0, 0);
        const [r, g, b] = ctx.getImageData(px, py, 1, 1).data;
        return [r, g, b] as [number, number, number];
      },
      [png, Math.round(x), Math.round(y)] as const,
    );
  } finally {
    await blank.close();
  }
}

/** A point of the toast's own background (inside its border, left of its text). */
const toastBackground = (sel: string) =>
  h.page.$eval(sel, (toast) => {
    const r = toast.getBoundingClientRect();
    return { x: r.left + 6, y: r.top + r.height / 2 };
  });

describe('toasts and dialogs', () => {
  it('a toast raised while the model manager is open is drawn above it', async () => {
    const page = h.page;
    await page.click('[data-testid=open-models]');
    const sel = '[data-testid=toast-info]';
    // an info toast lasts 2.5 s: on a loaded machine it may go before the screenshot, then the import is repeated
    let seen: [number, number, number] | null = null;
    for (let attempt = 0; attempt < 3 && !seen; attempt++) {
      await page.waitForSelector(sel, { state: 'detached' });
      await page.fill('[data-testid=model-dir]', testModelDir());
      await page.click('[data-testid=model-import]');
      await page.waitForSelector(sel);
      const at = await toastBackground(sel);
      const colour = await seenColour(at.x, at.y);
      if (await page.$(sel)) seen = colour;
    }
    // the toast's background (white) shows undimmed: under the dialog's backdrop it would be grey
    expect(await page.$eval('[data-testid=toasts]', (el) => el.matches(':popover-open'))).toBe(true);
    expect(seen).not.toBeNull();
    expect(Math.min(...seen!)).toBeGreaterThan(235);
    // taken while the toast shows (shot() waits for toasts to go)
    if (process.env.PERPETUA_SCREENSHOTS === '1') await page.screenshot({ path: 'docs/screenshots/toast-over-dialog.png' });
  });
});
