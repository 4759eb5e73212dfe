import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { APP_PAGE_URL, APP_SCHEME_PRIVILEGES, appProtocolHandler, resolveAppFile } from './app-protocol.js';
import { APP_CSP } from './security.js';

const dir = mkdtempSync(join(tmpdir(), 'perpetua-app-protocol-'));
const renderer = join(dir, 'renderer');
mkdirSync(join(renderer, 'assets'), { recursive: true });
writeFileSync(join(renderer, 'index.html'), '<!doctype html><title>Perpetua</title>');
writeFileSync(join(renderer, 'assets', 'app.js'), 'export {};');
writeFileSync(join(dir, 'secret.txt'), 'secret');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Stands in for Electron's net.fetch on file:// URLs. */
const fetchFile = async (url: string) => {
  const body = await readFile(fileURLToPath(url));
  return new Response(body, { headers: { 'content-type': url.endsWith('.js') ? 'text/javascript' : 'text/html' } });
};

describe('app:// protocol', () => {
  it('is a standard, secure scheme and the page lives at app://perpetua/index.html', () => {
    expect(APP_SCHEME_PRIVILEGES).toEqual({ scheme: 'app', privileges: { standard: true, secure: true, supportFetchAPI: true } });
    expect(APP_PAGE_URL).toBe('app://perpetua/index.html');
  });

  it('maps app://perpetua/ paths into the renderer folder', () => {
    expect(resolveAppFile('app://perpetua/index.html', renderer)).toBe(join(renderer, 'index.html'));
    expect(resolveAppFile('app://perpetua/', renderer)).toBe(join(renderer, 'index.html'));
    expect(resolveAppFile('app://perpetua/assets/app.js?v=1#x', renderer)).toBe(join(renderer, 'assets', 'app.js'));
    expect(resolveAppFile('app://perpetua/assets/a%20b.js', renderer)).toBe(join(renderer, 'assets', 'a b.js'));
  });

  it('refuses other hosts, other schemes and paths that leave the folder', () => {
    for (const url of [
      'app://evil/index.html',
      'app://perpetua.evil/index.html',
      'file:///etc/passwd',
      'https://perpetua/index.html',
      'app://perpetua/..%2fsecret.txt',
      'app://perpetua/assets/..%2f..%2fsecret.txt',
      'app://perpetua/..%5csecret.txt',
      'app://perpetua/%2e%2e/secret.txt',
      'app://perpetua/index.html%00.js',
      'app://perpetua/%E0%A4%A',
      'not a url',
    ]) {
      const file = resolveAppFile(url, renderer);
      if (file !== null) expect(file.startsWith(renderer)).toBe(true);
      expect(file === join(dir, 'secret.txt') || file === dir).toBe(false);
    }
    expect(resolveAppFile('app://evil/index.html', renderer)).toBeNull();
    expect(resolveAppFile('file:///index.html', renderer)).toBeNull();
    expect(resolveAppFile('app://perpetua/..%2fsecret.txt', renderer)).toBeNull();
  });

  it('serves the file with the app CSP, and 404 for anything else', async () => {
    const handle = appProtocolHandler(renderer, fetchFile);
    const page = await handle(new Request('app://perpetua/index.html'));
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toBe(APP_CSP);
    expect(page.headers.get('content-type')).toBe('text/html');
    expect(await page.text()).toContain('<title>Perpetua</title>');
    const script = await handle(new Request('app://perpetua/assets/app.js'));
    expect(script.headers.get('content-type')).toBe('text/javascript');
    const missing = await handle(new Request('app://perpetua/nope.js'));
    expect(missing.status).toBe(404);
    const outside = await handle(new Request('app://perpetua/..%2fsecret.txt'));
    expect(outside.status).toBe(404);
    expect(await outside.text()).not.toContain('secret');
  });
});
