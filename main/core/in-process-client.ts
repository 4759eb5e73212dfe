/**
 * The typed client wired to a core in the same process through the API router: every call and packet is validated
 * both ways, exactly as over the app's MessagePort or the web host's WebSocket. What `perpetua serve` and its tests
 * give the OpenAI-compatible server, so it only ever sees the API.
 */
import { createApiClient } from '../api/api-client.js';
import type { PerpetuaApi, PerpetuaClientBridge } from '../api/perpetua-api.js';
import { createApiRouter } from './api-router.js';

export interface InProcessClient {
  readonly bridge: PerpetuaClientBridge;
  /** cancels open channels and stops forwarding events */
  dispose(): void;
}

export function inProcessClient(api: PerpetuaApi): InProcessClient {
  // answers go back a tick later, as over a real transport: a caller never sees its answer before its request returned
  const router = createApiRouter(api, (envelope) => queueMicrotask(() => client.receive(envelope)));
  const client = createApiClient({ send: (envelope) => void router.handle(envelope) });
  return {
    bridge: client.bridge,
    dispose() {
      router.dispose();
      client.failPending('The core was closed.');
    },
  };
}
