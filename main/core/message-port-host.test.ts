import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { hostApiOnParentPort, type PortLike } from './message-port-host.js';
import type { PerpetuaApi, PerpetuaEventListener } from '../api/perpetua-api.js';

class FakePort extends EventEmitter implements PortLike {
  sent: unknown[] = [];
  started = false;
  closed = false;
  postMessage(m: unknown) {
    this.sent.push(m);
  }
  start() {
    this.started = true;
  }
  close() {
    this.closed = true;
    this.emit('close');
  }
}

describe('hostApiOnParentPort', () => {
  it('serves the API on each port the shell hands over and drops it when the port closes', async () => {
    const listeners = new Set<PerpetuaEventListener>();
    const api = {
      sessionsList: async () => [],
      subscribe: (l: PerpetuaEventListener) => {
        listeners.add(l);
        return () => listeners.delete(l);
      },
    } as unknown as PerpetuaApi;
    const parent = new EventEmitter() as EventEmitter & { postMessage(m: unknown): void; status: unknown[] };
    parent.status = [];
    parent.postMessage = (m) => parent.status.push(m);
    const host = hostApiOnParentPort(api, parent as never, () => {});
    expect(parent.status).toEqual([{ type: 'ready' }]);

    const port = new FakePort();
    parent.emit('message', { data: { type: 'connect', connectionId: 1 }, ports: [port] });
    expect(port.started).toBe(true);
    expect(host.connections).toBe(1);

    port.emit('message', { data: { id: 1, method: 'sessions.list' } });
    await new Promise((r) => setTimeout(r, 0));
    expect(port.sent).toEqual([{ id: 1, result: [] }]);

    listeners.forEach((l) => l({ event: 'error', payload: { message: 'boom' } }));
    expect(port.sent.at(-1)).toEqual({ event: 'error', payload: { message: 'boom' } });

    port.close();
    expect(host.connections).toBe(0);
    expect(listeners.size).toBe(0);
  });

  it('ignores messages that are not a connect with a port', () => {
    const parent = new EventEmitter() as EventEmitter & { postMessage(m: unknown): void };
    parent.postMessage = () => {};
    const problems: string[] = [];
    const api = { subscribe: () => () => {} } as unknown as PerpetuaApi;
    const host = hostApiOnParentPort(api, parent as never, (m) => problems.push(m));
    parent.emit('message', { data: { type: 'connect', connectionId: 1 }, ports: [] });
    parent.emit('message', { data: { type: 'rm -rf' }, ports: [new FakePort()] });
    expect(host.connections).toBe(0);
    expect(problems).toHaveLength(2);
  });

  it('tells the shell what each request asks as it arrives, so a freeze that follows can be named', async () => {
    const api = { sessionsList: async () => [], subscribe: () => () => {} } as unknown as PerpetuaApi;
    const parent = new EventEmitter() as EventEmitter & { postMessage(m: unknown): void; status: unknown[] };
    parent.status = [];
    parent.postMessage = (m) => parent.status.push(m);
    const done: string[] = [];
    hostApiOnParentPort(api, parent as never, () => {}, (method, params) => {
      const chatId = (params as { sessionId: string }).sessionId;
      return { what: `${method} in the chat ${chatId}`, chatId, done: () => done.push(chatId) };
    });
    const port = new FakePort();
    parent.emit('message', { data: { type: 'connect', connectionId: 1 }, ports: [port] });
    port.emit('message', { data: { id: 1, method: 'sessions.list', params: { sessionId: '7' } } });
    expect(parent.status.at(-1)).toEqual({ type: 'working', what: 'sessions.list in the chat 7', chatId: '7' });
    // the work is over once the request is answered
    await vi.waitFor(() => expect(done).toEqual(['7']));
  });
});
