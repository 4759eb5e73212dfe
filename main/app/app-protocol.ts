/**
 * The renderer is served from app://perpetua/ (a standard, secure scheme), not file://: CSP 'self' then covers
 * the app's own files only, not every file on the disk, and the page check can compare the host. Requests are
 * mapped into the renderer folder; anything outside it, on another host or of another scheme is a 404.
 */
import { resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CustomScheme } from 'electron';
import { APP_CSP } from './security.js';

export const APP_SCHEME = 'app';
export const APP_HOST = 'perpetua';
export const APP_PAGE_URL = `${APP_SCHEME}://${APP_HOST}/index.html`;

/** Registered before the app is ready: standard (relative URLs, origin), secure (a secure context), fetch. */
export const APP_SCHEME_PRIVILEGES: CustomScheme = {
  scheme: APP_SCHEME,
  privileges: { standard: true, secure: true, supportFetchAPI: true },
};

/** The file an app:// URL names inside `rendererDir`, or null when it names anything else. */
export function resolveAppFile(url: string, rendererDir: string): string | null {
  let u: URL;
  let path: string;
  try {
    u = new URL(url);
    path = decodeURIComponent(u.pathname);
  } catch {
    return null;
  }
  if (u.protocol !== `${APP_SCHEME}:` || u.host !== APP_HOST || path.includes('\0')) return null;
  const root = resolve(rendererDir);
  const file = resolve(root, `.${path === '/' ? '/index.html' : path}`);
  return file.startsWith(root + sep) ? file : null;
}

/** Reads a file:// URL (Electron's net.fetch, which also reads inside app.asar). */
export type FetchFile = (fileUrl: string) => Promise<Response>;

/** The protocol handler: the file's bytes with the app's CSP, or 404. */
export function appProtocolHandler(rendererDir: string, fetchFile: FetchFile): (request: Request) => Promise<Response> {
  return async (request) => {
    const file = resolveAppFile(request.url, rendererDir);
    const res = file ? await fetchFile(pathToFileURL(file).href).catch(() => null) : null;
    if (!res || !res.ok) return new Response('Not found', { status: 404, headers: { 'content-type': 'text/plain' } });
    const headers = new Headers(res.headers);
    headers.set('content-security-policy', APP_CSP);
    headers.set('x-content-type-options', 'nosniff');
    return new Response(res.body, { status: 200, headers });
  };
}
