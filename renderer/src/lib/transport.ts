import type { PerpetuaBridge } from './api.js';

declare global {
  interface Window {
    perpetua?: PerpetuaBridge;
  }
}

/**
 * The one way the renderer reaches the core: `window.perpetua`, installed by the Electron preload or by
 * the web test host's WebSocket shim. Null when neither is present (the app shows why).
 */
export function getPerpetua(): PerpetuaBridge | null {
  return typeof window !== 'undefined' && window.perpetua ? window.perpetua : null;
}

/** The user-facing sentence of a failed call. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
