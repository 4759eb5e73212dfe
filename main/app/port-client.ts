/**
 * The typed client for a part of the shell itself (the OpenAI-compatible server): connected to the core like a
 * window, through a port the supervisor hands over, and handed a fresh one after a core restart. Electron-free
 * (any MessagePort-like end), so it is tested without Electron.
 */
import { createApiClient } from '../api/api-client.js';
import type { ClientEnvelope } from '../api/envelope.js';
import type { PerpetuaClientBridge } from '../api/perpetua-api.js';
import type { CoreClient } from './core-supervisor.js';

export interface PortLike {
  postMessage(message: unknown): void;
  on(event: 'message', listener: (e: { data: unknown }) => void): unknown;
  start(): void;
  close(): void;
}

export interface PortClient<P extends PortLike> {
  readonly bridge: PerpetuaClientBridge;
  /** what the supervisor connects (id: not a window's) */
  readonly coreClient: CoreClient<P>;
}

export function createPortClient<P extends PortLike>(id: number): PortClient<P> {
  let port: P | null = null;
  let queue: ClientEnvelope[] = [];
  const client = createApiClient({
    send(envelope) {
      if (port) port.postMessage(envelope);
      else queue.push(envelope); // the first port, or the one after a restart, is on its way
    },
  });
  return {
    bridge: client.bridge,
    coreClient: {
      id,
      isAlive: () => true,
      sendPort(next) {
        port?.close();
        port = next;
        next.on('message', (e) => client.receive(e.data));
        next.start();
        const waiting = queue;
        queue = [];
        for (const envelope of waiting) next.postMessage(envelope);
      },
      notifyRestarted(reason) {
        port?.close();
        port = null;
        client.failPending(`The engine restarted (${reason}); try again.`);
      },
      notifyFailed: (message) => client.failPending(message),
    },
  };
}
