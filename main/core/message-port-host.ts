/**
 * Serves a PerpetuaApi inside the core process over message ports handed over by the Electron shell
 * (utilityProcess parent port → one MessagePortMain per window). No Electron import: the port types are
 * structural, so this runs under Electron's utilityProcess and in tests with fakes.
 */
import { CoreConnectMessageSchema, type CoreStatusMessage } from '../api/shell-protocol.js';
import type { PerpetuaApi } from '../api/perpetua-api.js';
import { createApiRouter, type ApiRouter } from './api-router.js';
import type { RequestWork } from './request-description.js';

export interface PortLike {
  on(event: 'message', listener: (e: { data: unknown }) => void): unknown;
  on(event: 'close', listener: () => void): unknown;
  postMessage(message: unknown): void;
  start(): void;
  close(): void;
}

export interface ParentPortLike {
  on(event: 'message', listener: (e: { data: unknown; ports: PortLike[] }) => void): unknown;
  postMessage(message: CoreStatusMessage): void;
}

export interface PortHost {
  readonly connections: number;
  close(): void;
}

export function hostApiOnParentPort(
  api: PerpetuaApi,
  parentPort: ParentPortLike,
  report: (message: string) => void = (m) => console.warn(`[core] ${m}`),
  /** what a request is (request-description.ts), told to the shell as it arrives; its `done` runs once it is over */
  begin?: (method: string, params: unknown) => RequestWork,
): PortHost {
  const routers = new Map<PortLike, ApiRouter>();

  parentPort.on('message', (e) => {
    const msg = CoreConnectMessageSchema.safeParse(e.data);
    const port = e.ports?.[0];
    if (!msg.success || !port) {
      report('Ignored a message from the shell that is not a connect with a port.');
      return;
    }
    const router = createApiRouter(api, (m) => port.postMessage(m), { onProtocolError: report });
    routers.set(port, router);
    port.on('message', (ev) => {
      // said before the work starts: if it freezes the main loop, the shell knows what it was
      const req = ev.data as { method?: unknown; params?: unknown } | null;
      const work = begin && typeof req === 'object' && req !== null && typeof req.method === 'string' ? begin(req.method, req.params) : undefined;
      if (work) parentPort.postMessage({ type: 'working', what: work.what, ...(work.chatId === undefined ? {} : { chatId: work.chatId }) });
      void router.handle(ev.data).finally(() => work?.done?.());
    });
    port.on('close', () => {
      router.dispose();
      routers.delete(port);
    });
    port.start();
  });
  parentPort.postMessage({ type: 'ready' });

  return {
    get connections() {
      return routers.size;
    },
    close() {
      for (const [port, router] of routers) {
        router.dispose();
        port.close();
      }
      routers.clear();
    },
  };
}
