/**
 * Window and session hardening: strict CSP (header + the page's meta), no permissions, no navigation,
 * no new windows, no webviews, no network, and a sender check for every IPC message.
 */
import type { Session, WebContents, WebFrameMain } from 'electron';

export const APP_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

/** The renderer page URL (app://perpetua/index.html), without query or hash: same scheme, host and path. */
export function isAppPageUrl(url: string, appPageUrl: string): boolean {
  try {
    const u = new URL(url);
    const a = new URL(appPageUrl);
    return u.protocol === 'app:' && u.protocol === a.protocol && u.host === a.host && u.pathname === a.pathname;
  } catch {
    return false;
  }
}

/** An IPC message is trusted only from the main frame of our window showing the app page. */
export function isTrustedSender(frame: WebFrameMain | null | undefined, contents: WebContents, appPageUrl: string): boolean {
  if (!frame) return false;
  if (frame !== contents.mainFrame) return false;
  return isAppPageUrl(frame.url, appPageUrl);
}

export function hardenSession(ses: Session): void {
  ses.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  ses.setPermissionCheckHandler(() => false);
  ses.setDevicePermissionHandler?.(() => false);
  ses.setDisplayMediaRequestHandler?.((_req, callback) => callback({}));
  // Offline app: nothing but our own files (app://, not file://) and devtools may load.
  ses.webRequest.onBeforeRequest((details, callback) => {
    const scheme = details.url.split(':', 1)[0];
    const allowed = scheme === 'app' || scheme === 'devtools' || scheme === 'blob' || scheme === 'data' || scheme === 'chrome-extension';
    callback({ cancel: !allowed });
  });
  ses.webRequest.onHeadersReceived((details, callback) => {
    callback({
      responseHeaders: {
        ...details.responseHeaders,
        'Content-Security-Policy': [APP_CSP],
        'X-Content-Type-Options': ['nosniff'],
      },
    });
  });
}

export function hardenContents(contents: WebContents, appPageUrl: string): void {
  contents.on('will-navigate', (event, url) => {
    if (!isAppPageUrl(url, appPageUrl)) event.preventDefault();
  });
  contents.on('will-redirect', (event) => event.preventDefault());
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
}
