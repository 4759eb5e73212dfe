import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { APP_CSP, hardenContents, hardenSession, isAppPageUrl, isTrustedSender } from './security.js';

const PAGE = 'app://perpetua/index.html';

describe('security', () => {
  it('CSP is the strict one', () => {
    expect(APP_CSP).toContain("default-src 'none'");
    expect(APP_CSP).toContain("script-src 'self'");
    expect(APP_CSP).toContain("style-src 'self'");
    expect(APP_CSP).toContain("img-src 'self' data:");
    expect(APP_CSP).toContain("connect-src 'self'");
    expect(APP_CSP).not.toContain('unsafe');
  });

  it('recognizes only the app page', () => {
    expect(isAppPageUrl(PAGE, PAGE)).toBe(true);
    expect(isAppPageUrl(`${PAGE}#/chat`, PAGE)).toBe(true);
    expect(isAppPageUrl('file:///tmp/evil.html', PAGE)).toBe(false);
    // same path on another host or scheme (a network path on Windows, a local file)
    expect(isAppPageUrl('app://evil/index.html', PAGE)).toBe(false);
    expect(isAppPageUrl('file://server/index.html', PAGE)).toBe(false);
    expect(isAppPageUrl('file:///index.html', PAGE)).toBe(false);
    expect(isAppPageUrl('https://example.com/', PAGE)).toBe(false);
    expect(isAppPageUrl('not a url', PAGE)).toBe(false);
  });

  it('trusts IPC only from the main frame showing the app page', () => {
    const mainFrame = { url: PAGE };
    const contents = { mainFrame } as never;
    expect(isTrustedSender(mainFrame as never, contents, PAGE)).toBe(true);
    expect(isTrustedSender({ url: PAGE } as never, contents, PAGE)).toBe(false); // a subframe
    expect(isTrustedSender(null, contents, PAGE)).toBe(false);
    const navigatedAway = { url: 'file:///tmp/x.html' };
    expect(isTrustedSender(navigatedAway as never, { mainFrame: navigatedAway } as never, PAGE)).toBe(false);
  });

  it('denies permissions, blocks the network and sets the CSP header', () => {
    const h: Record<string, (...a: never[]) => unknown> = {};
    const ses = {
      setPermissionRequestHandler: (fn: never) => (h.request = fn),
      setPermissionCheckHandler: (fn: never) => (h.check = fn),
      setDevicePermissionHandler: (fn: never) => (h.device = fn),
      setDisplayMediaRequestHandler: (fn: never) => (h.display = fn),
      webRequest: {
        onBeforeRequest: (fn: never) => (h.before = fn),
        onHeadersReceived: (fn: never) => (h.headers = fn),
      },
    };
    hardenSession(ses as never);
    let granted: boolean | undefined;
    (h.request as (wc: unknown, p: string, cb: (ok: boolean) => void) => void)(null, 'media', (ok) => (granted = ok));
    expect(granted).toBe(false);
    expect((h.check as () => boolean)()).toBe(false);
    const decide = (url: string) => {
      let cancel: boolean | undefined;
      (h.before as (d: { url: string }, cb: (r: { cancel: boolean }) => void) => void)({ url }, (r) => (cancel = r.cancel));
      return cancel;
    };
    expect(decide('https://example.com/x.js')).toBe(true);
    expect(decide('ws://127.0.0.1:1/')).toBe(true);
    expect(decide(PAGE)).toBe(false);
    expect(decide('file:///etc/passwd')).toBe(true);
    let headers: Record<string, string[]> = {};
    (h.headers as (d: object, cb: (r: { responseHeaders: Record<string, string[]> }) => void) => void)(
      { responseHeaders: {} },
      (r) => (headers = r.responseHeaders),
    );
    expect(headers['Content-Security-Policy']).toEqual([APP_CSP]);
  });

  it('blocks navigation away from the app page and every new window', () => {
    const contents = new EventEmitter() as EventEmitter & { setWindowOpenHandler(fn: () => unknown): void; open?: () => unknown };
    contents.setWindowOpenHandler = (fn) => (contents.open = fn);
    hardenContents(contents as never, PAGE);
    const nav = (url: string) => {
      let prevented = false;
      contents.emit('will-navigate', { preventDefault: () => (prevented = true) }, url);
      return prevented;
    };
    expect(nav('https://example.com/')).toBe(true);
    expect(nav('file:///etc/passwd')).toBe(true);
    expect(nav(PAGE)).toBe(false);
    expect(contents.open?.()).toEqual({ action: 'deny' });
    let webview = false;
    contents.emit('will-attach-webview', { preventDefault: () => (webview = true) });
    expect(webview).toBe(true);
  });
});
