import { describe, expect, it, vi } from 'vitest';
import { createApiRouter } from './api-router.js';
import { createApiClient } from '../api/api-client.js';
import { ApiError } from '../api/api-error.js';
import { ModelLoadError } from '../engine/errors.js';
import { PerpetuaError } from '../shared/errors.js';
import { MAX_MESSAGE_BYTES } from '../api/limits.js';
import type { OutgoingEnvelope } from '../api/envelope.js';
import type { PerpetuaApi, PerpetuaEventListener } from '../api/perpetua-api.js';
import type { Message, PolicyConfig, Session, Stats } from '../api/schemas.js';

const policy: PolicyConfig = { name: 'sink', sink: 4, window: 1020, pinSystem: true };
const session: Session = {
  id: 's1', name: 'Chat', modelId: 'm1', policy, systemPrompt: null, createdAt: 1, updatedAt: 2, messageCount: 0,
};
const stats: Stats = {
  sessionId: 's1', tokensPerSecond: 0, cacheFill: 0, cacheCapacity: 1024, kvBytes: 0, executionProvider: 'cpu',
  totalTokensSeen: 0, policy,
};
const userMessage: Message = { id: 'u1', sessionId: 's1', seq: 0, role: 'user', text: 'hi', state: 'done', createdAt: 3 };
const answer = (text: string): Message => ({ id: 'a1', sessionId: 's1', seq: 1, role: 'assistant', text, state: text ? 'done' : 'streaming', createdAt: 4 });

function fakeApi(overrides: Partial<PerpetuaApi> = {}) {
  const listeners = new Set<PerpetuaEventListener>();
  const api: PerpetuaApi = {
    modelsList: async () => [],
    modelsImport: async ({ dir }) => ({ id: 'm1', name: 'tiny', path: dir, provider: 'cpu', availableProviders: ['cpu'] }),
    modelsSetProvider: async ({ modelId, provider }) => ({ id: modelId, name: 'tiny', path: '/m', provider, availableProviders: ['cpu', provider] }),
    modelsSetVariant: async ({ modelId, variant }) => ({ id: modelId, name: 'tiny', path: '/m', provider: 'cpu', availableProviders: ['cpu'], variant: variant ?? undefined }),
    sessionsList: async () => [session],
    sessionsCreate: async (p) => ({ ...session, name: p.name, policy: p.policy, systemPrompt: p.systemPrompt ?? null }),
    sessionsOpen: async () => ({ session, messages: [], hasMore: false, stats }),
    sessionsRename: async ({ name }) => ({ ...session, name }),
    sessionsDelete: async () => {},
    sessionsSearch: async () => [],
    sessionsExportMarkdown: async () => '# Chat\n',
    messagesPage: async () => ({ messages: [], hasMore: false }),
    async *chatSend({ text }) {
      yield { type: 'started', user: { ...userMessage, text }, assistant: answer(''), replacedMessageId: null };
      yield { type: 'token', delta: 'Hi' };
      yield { type: 'done', message: answer('Hi'), stats };
    },
    chatStop: async () => {},
    async *chatRegenerate() {
      yield { type: 'started', user: null, assistant: { ...answer(''), id: 'a2' }, replacedMessageId: 'a1' };
      yield { type: 'done', message: { ...answer('Again'), id: 'a2' }, stats };
    },
    async *policySet(p) {
      yield { type: 'progress', phase: 'rebuild', done: 256, total: 1024, etaSeconds: 3 };
      yield { type: 'done', statement: 'Kept 4 sink tokens and the last 1020.', policy: p.policy, stats };
    },
    subscribe(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    ...overrides,
  };
  return { api, listeners };
}

function wire(api: PerpetuaApi) {
  const out: OutgoingEnvelope[] = [];
  const protocolErrors: string[] = [];
  const router = createApiRouter(api, (m) => out.push(m), { onProtocolError: (m) => protocolErrors.push(m) });
  return { router, out, protocolErrors };
}

describe('api router', () => {
  it('dispatches a valid request and answers with the validated result', async () => {
    const { api } = fakeApi();
    const { router, out } = wire(api);
    await router.handle({ id: 1, method: 'sessions.list' });
    expect(out).toEqual([{ id: 1, result: [session] }]);
  });

  it('answers null for void methods', async () => {
    const { router, out } = wire(fakeApi().api);
    await router.handle({ id: 2, method: 'chat.stop', params: { sessionId: 's1' } });
    expect(out).toEqual([{ id: 2, result: null }]);
  });

  it('rejects unknown methods with a clear error', async () => {
    const { router, out } = wire(fakeApi().api);
    await router.handle({ id: 3, method: 'engine.rmrf', params: {} });
    expect(out[0]).toMatchObject({ id: 3, error: { code: 'unknown_method' } });
    expect((out[0] as { error: { message: string } }).error.message).toMatch(/Unknown method "engine\.rmrf"/);
  });

  it('does not dispatch to Object.prototype or subscribe', async () => {
    const { router, out } = wire(fakeApi().api);
    await router.handle({ id: 4, method: 'toString' });
    await router.handle({ id: 5, method: 'subscribe' });
    await router.handle({ id: 6, method: '__proto__' });
    expect(out.map((o) => ('error' in o ? o.error.code : 'ok'))).toEqual(['unknown_method', 'unknown_method', 'unknown_method']);
  });

  it('rejects invalid params, naming the field', async () => {
    const impl = vi.fn(async function* () {
      yield { type: 'done' as const, statement: 'x', policy, stats };
    });
    const { router, out } = wire(fakeApi({ policySet: impl }).api);
    await router.handle({ id: 7, method: 'policy.set', params: { sessionId: 's1', policy: { ...policy, name: 'lru' } } });
    expect(impl).not.toHaveBeenCalled();
    expect(out[0]).toMatchObject({ id: 7, error: { code: 'invalid_params' } });
    expect((out[0] as { error: { message: string } }).error.message).toMatch(/policy\.name/);
  });

  it('rejects unknown keys in params (strict)', async () => {
    const { router, out } = wire(fakeApi().api);
    await router.handle({ id: 8, method: 'chat.stop', params: { sessionId: 's1', extra: true } });
    expect(out[0]).toMatchObject({ error: { code: 'invalid_params' } });
  });

  it('rejects a message over 10 MB with a sentence that says so', async () => {
    const impl = vi.fn();
    const { router, out } = wire(fakeApi({ chatSend: impl }).api);
    const text = 'a'.repeat(MAX_MESSAGE_BYTES + 1);
    await router.handle({ id: 9, method: 'chat.send', params: { sessionId: 's1', text } });
    expect(impl).not.toHaveBeenCalled();
    const err = (out[0] as { error: { code: string; message: string } }).error;
    expect(err.code).toBe('invalid_params');
    expect(err.message).toMatch(/larger than 10 MB/);
  });

  it('accepts a message of exactly 10 MB, multi-byte characters counted as bytes', async () => {
    const { router, out } = wire(fakeApi().api);
    await router.handle({ id: 10, method: 'chat.send', params: { sessionId: 's1', text: 'a'.repeat(MAX_MESSAGE_BYTES) } });
    expect(out[0]).toMatchObject({ id: 10, packet: { type: 'started', assistant: { id: 'a1' } } });
    const euro = '€'.repeat(Math.floor(MAX_MESSAGE_BYTES / 3) + 1); // 3 bytes each → over the limit
    await router.handle({ id: 11, method: 'chat.send', params: { sessionId: 's1', text: euro } });
    expect(out.find((o) => 'id' in o && o.id === 11)).toMatchObject({ id: 11, error: { code: 'invalid_params' } });
  });

  it('reports implementation errors as their sentence and class name', async () => {
    class ModelLoadError extends Error {
      override name = 'ModelLoadError';
    }
    const { router, out } = wire(
      fakeApi({ modelsImport: async () => { throw new ModelLoadError('The folder has no config.json.'); } }).api,
    );
    await router.handle({ id: 12, method: 'models.import', params: { dir: '/nowhere' } });
    expect(out[0]).toEqual({ id: 12, error: { code: 'failed', message: 'The folder has no config.json.', name: 'ModelLoadError' } });
  });

  it('passes the stable code of a PerpetuaError through to the client, for the UI to switch on', async () => {
    const busy = new PerpetuaError('This session is still answering.', { code: 'busy' });
    // eslint-disable-next-line require-yield
    const { api } = fakeApi({ chatSend: async function* () { throw busy; }, modelsImport: async () => { throw new ModelLoadError('No config.json.'); } });
    const { router, out } = wire(api);
    await router.handle({ id: 20, method: 'chat.send', params: { sessionId: 's1', text: 'hi' } });
    await router.handle({ id: 21, method: 'models.import', params: { dir: '/nowhere' } });
    expect(out[0]).toEqual({ id: 20, error: { code: 'busy', message: 'This session is still answering.', name: 'PerpetuaError' } });
    expect(out[1]).toMatchObject({ id: 21, error: { code: 'model_unusable', name: 'ModelLoadError' } });
  });

  it('refuses results that break the contract', async () => {
    const { router, out } = wire(fakeApi({ sessionsList: async () => [{ id: 's1' }] as never }).api);
    await router.handle({ id: 13, method: 'sessions.list' });
    expect(out[0]).toMatchObject({ id: 13, error: { code: 'invalid_result' } });
  });

  it('answers bad envelopes when it can, reports them otherwise', async () => {
    const { router, out, protocolErrors } = wire(fakeApi().api);
    await router.handle({ id: 14 });
    await router.handle('garbage');
    expect(out[0]).toMatchObject({ id: 14, error: { code: 'bad_envelope' } });
    expect(protocolErrors).toHaveLength(1);
  });

  it('forwards valid events, drops invalid ones, stops after dispose', () => {
    const { api, listeners } = fakeApi();
    const { router, out, protocolErrors } = wire(api);
    const emit = (e: unknown) => listeners.forEach((l) => l(e as never));
    emit({ event: 'error', payload: { sessionId: 's1', message: 'The snapshot was damaged.' } });
    emit({ event: 'error', payload: { sessionId: 's1' } });
    emit({ event: 'nope', payload: {} });
    expect(out).toEqual([{ event: 'error', payload: { sessionId: 's1', message: 'The snapshot was damaged.' } }]);
    expect(protocolErrors).toHaveLength(2);
    router.dispose();
    expect(listeners.size).toBe(0);
    emit({ event: 'error', payload: { sessionId: 's1', message: '!' } });
    expect(out).toHaveLength(1);
  });
});

describe('api client ⇄ router round trip', () => {
  function connect(api: PerpetuaApi) {
    // JSON on the wire, as over the WebSocket.
    const client = createApiClient({
      send: (req) => void router.handle(JSON.parse(JSON.stringify(req))),
      onProtocolError: (m) => { throw new Error(m); },
    });
    const router = createApiRouter(api, (m) => client.receive(JSON.parse(JSON.stringify(m))));
    return { client, router };
  }

  it('calls methods and receives typed results', async () => {
    const { client } = connect(fakeApi().api);
    const p = client.bridge;
    expect(await p.sessionsList()).toEqual([session]);
    const created = await p.sessionsCreate({ name: 'Book club', modelId: 'm1', policy, systemPrompt: 'Be brief.' });
    expect(created.name).toBe('Book club');
    expect(await p.chatStop({ sessionId: 's1' })).toBeUndefined();
    expect(await p.sessionsExportMarkdown({ id: 's1' })).toBe('# Chat\n');
    const packets: string[] = [];
    const r = await p.policySet({ sessionId: 's1', policy: { ...policy, name: 'window' } }, (packet) => packets.push(packet.type)).closed;
    expect(packets).toEqual(['progress', 'done']);
    expect(r.type === 'done' && r.statement).toMatch(/Kept/);
  });

  it('validates params before sending', async () => {
    const send = vi.fn();
    const client = createApiClient({ send });
    const err = await client.bridge.chatSend({ sessionId: 's1', text: 'x'.repeat(MAX_MESSAGE_BYTES + 10) }, () => {}).closed.catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.code).toBe('invalid_params');
    expect(err.message).toMatch(/larger than 10 MB/);
    expect(send).not.toHaveBeenCalled();
  });

  it('rejects with the core error sentence', async () => {
    const { client } = connect(fakeApi({ sessionsOpen: async () => { throw new Error('No session "zz".'); } }).api);
    await expect(client.bridge.sessionsOpen({ id: 'zz' })).rejects.toMatchObject({ code: 'failed', message: 'No session "zz".' });
  });

  it('delivers events to listeners; unsubscribe works', () => {
    const { api, listeners } = fakeApi();
    const { client } = connect(api);
    const got: string[] = [];
    const off = client.bridge.on('error', (t) => got.push(t.message));
    const emit = (e: unknown) => listeners.forEach((l) => l(e as never));
    emit({ event: 'error', payload: { sessionId: 's1', message: 'Hi' } });
    off();
    emit({ event: 'error', payload: { sessionId: 's1', message: 'ignored' } });
    expect(got).toEqual(['Hi']);
  });

  it('streams a channel: packets in order to its listener, the final one closes it', async () => {
    const { client } = connect(fakeApi().api);
    const packets: string[] = [];
    const channel = client.bridge.chatSend({ sessionId: 's1', text: 'hello' }, (p) => packets.push(p.type === 'token' ? p.delta : p.type));
    expect(await channel.closed).toMatchObject({ type: 'done', message: { id: 'a1', text: 'Hi' } });
    expect(packets).toEqual(['started', 'Hi', 'done']);
    expect(client.pendingCount).toBe(0);
    const regen = client.bridge.chatRegenerate({ sessionId: 's1' }, () => {});
    expect(await regen.closed).toMatchObject({ type: 'done', message: { id: 'a2' } });
  });

  it('cancels a channel: the core sees its signal abort and ends it with its final packet', async () => {
    let seen: AbortSignal | null = null;
    const { client } = connect(
      fakeApi({
        async *chatSend(_p, signal) {
          seen = signal;
          yield { type: 'started', user: userMessage, assistant: answer(''), replacedMessageId: null };
          if (!signal.aborted) await new Promise((r) => signal.addEventListener('abort', r));
          yield { type: 'stopped', message: { ...answer('Hal'), state: 'stopped' }, stats };
        },
      }).api,
    );
    const packets: string[] = [];
    const channel = client.bridge.chatSend({ sessionId: 's1', text: 'hello' }, (p) => {
      packets.push(p.type);
      if (p.type === 'started') channel.cancel();
    });
    expect(await channel.closed).toMatchObject({ type: 'stopped', message: { text: 'Hal' } });
    expect(seen!.aborted).toBe(true);
    expect(packets).toEqual(['started', 'stopped']);
  });

  it('refuses a channel before it starts with the stable code, and fails open channels when the transport goes away', async () => {
    const busy = new PerpetuaError('This session is still answering.', { code: 'busy' });
    // eslint-disable-next-line require-yield
    const { client } = connect(fakeApi({ async *chatSend() { throw busy; } }).api);
    await expect(client.bridge.chatSend({ sessionId: 's1', text: 'hi' }, () => {}).closed).rejects.toMatchObject({ code: 'busy' });
    const idle = createApiClient({ send: () => {} });
    const open = idle.bridge.chatSend({ sessionId: 's1', text: 'hi' }, () => {});
    idle.failPending('The core restarted.');
    await expect(open.closed).rejects.toMatchObject({ code: 'disconnected' });
  });

  it('fails pending calls when the transport goes away', async () => {
    const client = createApiClient({ send: () => {} });
    const p = client.bridge.sessionsList();
    expect(client.pendingCount).toBe(1);
    client.failPending('The core restarted.');
    await expect(p).rejects.toMatchObject({ code: 'disconnected', message: 'The core restarted.' });
  });

  it('emits locally produced events (coreRestarted) through the same validation', () => {
    const client = createApiClient({ send: () => {} });
    const reasons: string[] = [];
    client.bridge.on('coreRestarted', (e) => reasons.push(e.reason));
    client.emit('coreRestarted', { reason: 'The core crashed (exit code 139).' });
    expect(reasons).toEqual(['The core crashed (exit code 139).']);
  });
});
