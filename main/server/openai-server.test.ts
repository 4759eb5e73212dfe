/**
 * `perpetua serve` against the real core and the tiny test model (with its chat template), spoken to by clients
 * nobody here wrote: the official `openai` package and curl. Every wait is on a state (a packet, a stored message),
 * never a fixed sleep.
 */
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { testModelDir } from '../../native-models/test-models.js';
import type { ChatPacket } from '../api/packets.js';
import { CoreService } from '../core/core-service.js';
import { inProcessClient } from '../core/in-process-client.js';
import { readChannel } from '../core/read-channel.js';
import { startOpenAiServer, type OpenAiServer, type OpenAiServerOptions } from './openai-server.js';
import type { PerpetuaReport } from './openai-response.js';

interface Running {
  core: CoreService;
  server: OpenAiServer;
  client: OpenAI;
  model: string;
  dbFile: string;
  stop(): Promise<void>;
}

const running: Running[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.stop();
});

async function serve(opts: Partial<OpenAiServerOptions> & { dbFile?: string } = {}): Promise<Running> {
  const dbFile = opts.dbFile ?? join(mkdtempSync(join(tmpdir(), 'perpetua-serve-')), 'chats.db');
  const core = new CoreService({ dbFile, maxAnswerTokens: 16 });
  const model = (await core.modelsImport({ dir: testModelDir() })).name;
  const wire = inProcessClient(core);
  const server = await startOpenAiServer({ api: wire.bridge, host: '127.0.0.1', port: 0, maxBodyBytes: 1 << 20, maxTokens: 100_000, parallel: 2, queued: 4, ...opts });
  const client = new OpenAI({ baseURL: server.baseUrl, apiKey: opts.apiKey ?? 'not-needed', maxRetries: 0 });
  let stopped = false;
  const r: Running = {
    core,
    server,
    client,
    model,
    dbFile,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.close();
      wire.dispose();
      await core.close();
    },
  };
  running.push(r);
  return r;
}

const report = (x: unknown) => (x as { perpetua: PerpetuaReport }).perpetua;
type Msg = { role: 'system' | 'user' | 'assistant'; content: string };

/**
 * A seeded answer of `max` tokens to `messages` (the same every time), and what the server reports beside it. Seeded
 * rather than greedy: the tiny random model's greedy choice is a token that prints nothing.
 */
async function ask(r: Running, messages: Msg[], max = 8, headers: Record<string, string> = {}) {
  const res = await r.client.chat.completions.create({ model: r.model, messages, max_tokens: max, temperature: 0.8, seed: 7 }, { headers });
  return { text: res.choices[0].message.content ?? '', res, perpetua: report(res) };
}

async function storedAnswer(r: Running, sessionId: string, messageId: string) {
  const page = await r.core.messagesPage({ sessionId, beforeSeq: Number.MAX_SAFE_INTEGER, limit: 1000 });
  return page.messages.find((m) => m.id === messageId);
}

describe('perpetua serve (OpenAI-compatible)', () => {
  it('lists the models, answers as the app does (the chat template), and continues a resent history from the cache', async () => {
    const r = await serve();
    const models = await r.client.models.list();
    expect(models.data.map((m) => m.id)).toContain(r.model);
    expect((await r.client.models.retrieve(r.model)).id).toBe(r.model);

    const system: Msg = { role: 'system', content: 'You are terse.' };
    const first = await ask(r, [system, { role: 'user', content: 'Tell me about lighthouses.' }]);
    expect(first.res.object).toBe('chat.completion');
    expect(first.res.choices[0].finish_reason).toBe('length');
    expect(first.res.usage).toMatchObject({ completion_tokens: 8, prompt_tokens_details: { cached_tokens: 0 } });
    expect(first.res.usage!.total_tokens).toBe(first.res.usage!.prompt_tokens + 8);
    expect(first.perpetua.match.kind).toBe('new');
    expect(first.perpetua.cache).toMatchObject({ policy: expect.stringMatching(/^sink:4:/), evicted_tokens: 0 });

    // the same turn in an app chat (same template, same sampling and seed) gives the same answer
    const app = await r.core.sessionsCreate({ name: 'app', modelId: (await r.core.modelsList())[0].id, policy: { name: 'sink', sink: 4, window: 508, pinSystem: false }, systemPrompt: 'You are terse.' });
    await r.core.sessionsSetGeneration({ id: app.id, generation: { temperature: 0.8, seed: 7, maxTokens: 8 } });
    const appAnswer = readChannel<ChatPacket>((signal) => r.core.chatSend({ sessionId: app.id, text: 'Tell me about lighthouses.' }, signal));
    expect(await appAnswer.closed).toMatchObject({ type: 'done', message: { text: first.text } });

    // the client resends the history with a new turn: only the new turn is read
    const history: Msg[] = [system, { role: 'user', content: 'Tell me about lighthouses.' }, { role: 'assistant', content: first.text }];
    const second = await ask(r, [...history, { role: 'user', content: 'And their keepers?' }]);
    expect(second.perpetua.session?.id).toBe(first.perpetua.session?.id);
    expect(second.perpetua.match).toEqual({ kind: 'continued', reused_messages: 2, named: false });
    const usage = second.res.usage!;
    expect(usage.prompt_tokens_details!.cached_tokens).toBe(first.res.usage!.total_tokens);
    // the same request to a new chat (named by the client) reads all of it: the same prompt, nothing cached
    const fresh = await ask(r, [...history, { role: 'user', content: 'And their keepers?' }], 8, { 'X-Perpetua-Session': 'fresh' });
    expect(fresh.perpetua).toMatchObject({ session: { name: 'fresh' }, match: { kind: 'new', named: true } });
    expect(fresh.res.usage!.prompt_tokens_details!.cached_tokens).toBe(0);
    // less by at most the first answer's tokens that print nothing (the tiny model's favourites): text re-read is text
    expect(fresh.res.usage!.prompt_tokens).toBeGreaterThanOrEqual(usage.prompt_tokens - 8);
    expect(fresh.res.usage!.prompt_tokens).toBeLessThanOrEqual(usage.prompt_tokens);

    // an API chat is an ordinary chat: listed (marked), searchable, exportable
    const sessions = await r.core.sessionsList();
    expect(sessions.find((s) => s.id === first.perpetua.session?.id)).toMatchObject({ origin: 'api', messageCount: 4 });
    expect(sessions.find((s) => s.id === app.id)?.origin).toBeUndefined();
    expect((await r.core.sessionsSearch({ text: 'keepers' })).map((h) => h.sessionId)).toContain(first.perpetua.session?.id);
    expect(await r.core.sessionsExportMarkdown({ id: first.perpetua.session!.id })).toContain('And their keepers?');
  });

  it('streams chunks, the finish reason, the usage when asked, and [DONE]; the stored answer is what streamed', async () => {
    const r = await serve();
    const stream = await r.client.chat.completions.create({
      model: r.model,
      messages: [{ role: 'user', content: 'Stream me a story.' }],
      max_completion_tokens: 10,
      temperature: 0.7,
      seed: 42,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks[0].choices[0].delta.role).toBe('assistant');
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    const finish = chunks.find((c) => c.choices[0]?.finish_reason);
    expect(finish?.choices[0].finish_reason).toBe('length');
    const last = chunks[chunks.length - 1];
    expect(last.choices).toEqual([]);
    expect(last.usage).toMatchObject({ completion_tokens: 10 });
    const p = report(last);
    expect((await storedAnswer(r, p.session!.id, p.message_id!))).toMatchObject({ text, state: 'done' });
    // the same seed writes the same answer
    const again = await r.client.chat.completions.create({ model: r.model, messages: [{ role: 'user', content: 'Stream me a story.' }], max_tokens: 10, temperature: 0.7, seed: 42 });
    expect(again.choices[0].message.content).toBe(text);
  });

  it('ends an answer before a stop string, which is neither sent nor stored', async () => {
    const r = await serve();
    const messages = [{ role: 'user' as const, content: 'Stop somewhere.' }];
    const body = { model: r.model, messages, max_tokens: 24, temperature: 1, top_p: 0.95, seed: 5 };
    const full = (await r.client.chat.completions.create(body)).choices[0].message.content ?? '';
    const cut = [...full].findIndex((ch, i) => i > 0 && ch.trim().length > 0);
    expect(cut).toBeGreaterThan(0);
    const stop = [...full][cut];
    const res = await r.client.chat.completions.create({ ...body, stop: [stop] });
    expect(res.choices[0]).toMatchObject({ finish_reason: 'stop', message: { content: full.slice(0, full.indexOf(stop)) } });
    const p = report(res);
    expect((await storedAnswer(r, p.session!.id, p.message_id!))?.text).toBe(full.slice(0, full.indexOf(stop)));
  });

  it('serves /v1/completions, streamed and not', async () => {
    const r = await serve();
    const whole = await r.client.completions.create({ model: r.model, prompt: 'Once upon a time', max_tokens: 6, temperature: 0.8, seed: 3 });
    expect(whole.object).toBe('text_completion');
    expect(whole.choices[0]).toMatchObject({ index: 0, finish_reason: 'length' });
    expect(whole.usage).toMatchObject({ completion_tokens: 6 });
    const stream = await r.client.completions.create({ model: r.model, prompt: 'Once upon a time', max_tokens: 6, temperature: 0.8, seed: 3, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    expect(text).toBe(whole.choices[0].text);
    expect(text.length).toBeGreaterThan(0);
  });

  it('branches an edited history, regenerates a repeated turn, and continues after a restart from the snapshot', async () => {
    const r = await serve();
    const u1: Msg = { role: 'user', content: 'First question.' };
    const a = await ask(r, [u1]);
    const u2: Msg = { role: 'user', content: 'Second question.' };
    const b = await ask(r, [u1, { role: 'assistant', content: a.text }, u2]);
    const id = a.perpetua.session!.id;
    expect(b.perpetua.session?.id).toBe(id);

    // the client asks the same last turn again: a new version of the answer
    const again = await ask(r, [u1, { role: 'assistant', content: a.text }, u2], 5);
    expect(again.perpetua).toMatchObject({ session: { id }, match: { kind: 'regenerated', reused_messages: 3 } });

    // the client edited its first answer: a branch of the same chat from the start of the answer
    const edited = await ask(r, [u1, { role: 'assistant', content: 'An answer the client wrote.' }, { role: 'user', content: 'Go on.' }]);
    expect(edited.perpetua).toMatchObject({ session: { id }, match: { kind: 'branched', reused_messages: 1 } });
    const page = await r.core.messagesPage({ sessionId: id, beforeSeq: Number.MAX_SAFE_INTEGER, limit: 100 });
    expect(page.messages.map((m) => m.text)).toEqual(['First question.', 'An answer the client wrote.', 'Go on.', edited.text]);
    expect(page.messages[1].siblings).toEqual({ index: 1, count: 2 });

    // a new server on the same database: the history resumes from the chat's KV snapshot
    const total = edited.res.usage!.total_tokens;
    await r.stop();
    const r2 = await serve({ dbFile: r.dbFile });
    const history: Msg[] = [u1, { role: 'assistant', content: 'An answer the client wrote.' }, { role: 'user', content: 'Go on.' }, { role: 'assistant', content: edited.text }];
    const next = await ask(r2, [...history, { role: 'user', content: 'Thanks.' }]);
    expect(next.perpetua).toMatchObject({ session: { id }, match: { kind: 'continued', reused_messages: 4 } });
    expect(next.res.usage!.prompt_tokens_details!.cached_tokens).toBeGreaterThanOrEqual(total - 1);
  });

  it('keeps a conversation longer than the cache going under the sink policy, and says what it evicted', async () => {
    const r = await serve();
    const headers = { 'X-Perpetua-Session': 'long talk', 'X-Perpetua-Policy': 'sink:4:40' };
    let last: Awaited<ReturnType<typeof ask>> | undefined;
    for (let turn = 0; turn < 6; turn++) last = await ask(r, [{ role: 'user', content: `Turn ${turn}: tell me more.` }], 12, headers);
    expect(last!.perpetua.session?.name).toBe('long talk');
    expect(last!.perpetua.match).toMatchObject({ kind: 'continued', named: true, reused_messages: 10 });
    expect(last!.perpetua.cache).toMatchObject({ policy: 'sink:4:40', capacity_tokens: 44, sink_tokens: 4 });
    expect(last!.perpetua.cache!.evicted_tokens).toBeGreaterThan(0);
    expect(last!.perpetua.cache!.held_tokens).toBeLessThanOrEqual(44);
    expect(last!.res.choices[0].finish_reason).toBe('length');
  });

  it('answers errors in OpenAI\'s shape with the right status', async () => {
    const r = await serve({ maxBodyBytes: 4096 });
    const c = r.client;
    const user = [{ role: 'user' as const, content: 'Hi.' }];
    await expect(c.chat.completions.create({ model: r.model, messages: user, n: 2 })).rejects.toMatchObject({ status: 400, param: 'n', type: 'invalid_request_error' });
    await expect(c.chat.completions.create({ model: 'gpt-4o', messages: user })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(c.chat.completions.create({ model: r.model, messages: [] })).rejects.toMatchObject({ status: 400, param: 'messages' });
    await expect(c.chat.completions.create({ model: r.model, messages: [{ role: 'assistant', content: 'x' }] })).rejects.toMatchObject({ status: 400, code: 'invalid_input' });
    await expect(c.chat.completions.create({ model: r.model, messages: user, tools: [{ type: 'function', function: { name: 'f' } }] })).rejects.toMatchObject({ status: 400, param: 'tools' });
    await expect(c.chat.completions.create({ model: r.model, messages: user, max_tokens: 200_000 })).rejects.toMatchObject({ status: 400, param: 'max_tokens' });
    await expect(c.chat.completions.create({ model: r.model, messages: user, temperature: 3 })).rejects.toMatchObject({ status: 400, param: 'temperature' });
    await expect(c.chat.completions.create({ model: r.model, messages: [{ role: 'user', content: 'x'.repeat(5000) }] })).rejects.toMatchObject({ status: 413 });
    await expect(c.completions.create({ model: r.model, prompt: ['a', 'b'] })).rejects.toMatchObject({ status: 400, param: 'prompt' });
    const raw = await fetch(`${r.server.baseUrl}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' });
    expect(raw.status).toBe(400);
    expect(await raw.json()).toEqual({ error: { message: 'The body is not valid JSON.', type: 'invalid_request_error', param: null, code: 'invalid_json' } });
    expect((await fetch(`${r.server.baseUrl}/embeddings`, { method: 'POST' })).status).toBe(404);
  });

  it('needs the key when one is set (compared in constant time), checks the Host header and refuses origins not named', async () => {
    await expect(startOpenAiServer({ api: {} as never, host: '0.0.0.0', port: 0, maxBodyBytes: 1, maxTokens: 1, parallel: 1, queued: 0 })).rejects.toMatchObject({ code: 'invalid_input' });
    const r = await serve({ apiKey: 'sesame', cors: ['http://localhost:5173'] });
    expect((await r.client.models.list()).data.length).toBe(1);
    const wrong = new OpenAI({ baseURL: r.server.baseUrl, apiKey: 'sesam', maxRetries: 0 });
    await expect(wrong.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    const url = new URL(r.server.baseUrl);
    const get = (headers: Record<string, string>, method = 'GET') =>
      new Promise<{ status: number; headers: Record<string, unknown> }>((resolve, reject) =>
        request({ host: url.hostname, port: url.port, path: '/v1/models', method, headers: { authorization: 'Bearer sesame', ...headers } }, (res) => {
          res.resume();
          resolve({ status: res.statusCode!, headers: res.headers });
        }).on('error', reject).end(),
      );
    expect((await get({ host: 'evil.example:1234' })).status).toBe(421); // DNS rebinding
    expect((await get({ host: `localhost:${url.port}` })).status).toBe(200);
    expect((await get({ origin: 'https://evil.example' })).status).toBe(403);
    const allowed = await get({ origin: 'http://localhost:5173' });
    expect(allowed).toMatchObject({ status: 200, headers: { 'access-control-allow-origin': 'http://localhost:5173' } });
    const preflight = await get({ origin: 'http://localhost:5173', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' }, 'OPTIONS');
    expect(preflight).toMatchObject({ status: 204, headers: { 'access-control-allow-methods': 'GET, POST, OPTIONS' } });
  });

  it('refuses a second request for a busy chat (409), stops and stores the answer when the client leaves, and queues past the limit (429)', async () => {
    const r = await serve({ parallel: 1, queued: 0 });
    const headers = { 'X-Perpetua-Session': 'busy chat' };
    const long = await r.client.chat.completions.create({ model: r.model, messages: [{ role: 'user', content: 'Go on forever.' }], max_tokens: 50_000, stream: true }, { headers });
    const it = long[Symbol.asyncIterator]();
    const first = await it.next(); // the role chunk: the answer is being written
    expect(first.value.choices[0].delta.role).toBe('assistant');
    await it.next();
    await expect(ask(r, [{ role: 'user', content: 'Me too.' }], 4, headers)).rejects.toSatisfy((e: unknown) => (e as { status: number }).status === 429);
    const r2 = await serve({ parallel: 2, queued: 0, dbFile: join(mkdtempSync(join(tmpdir(), 'perpetua-serve-')), 'b.db') });
    const long2 = await r2.client.chat.completions.create({ model: r2.model, messages: [{ role: 'user', content: 'Go on forever.' }], max_tokens: 50_000, stream: true }, { headers });
    const it2 = long2[Symbol.asyncIterator]();
    await it2.next();
    await expect(ask(r2, [{ role: 'user', content: 'Me too.' }], 4, headers)).rejects.toBeInstanceOf(OpenAI.ConflictError);
    // a different chat runs beside it
    expect((await ask(r2, [{ role: 'user', content: 'Another chat.' }], 4)).text.length).toBeGreaterThan(0);

    // the client goes away mid-answer: generation stops and the partial answer is stored as stopped
    long.controller.abort();
    long2.controller.abort();
    const session = (await r.core.sessionsList()).find((s) => s.name === 'busy chat')!;
    await vi.waitFor(async () => {
      const page = await r.core.messagesPage({ sessionId: session.id, beforeSeq: Number.MAX_SAFE_INTEGER, limit: 10 });
      expect(page.messages.at(-1)).toMatchObject({ role: 'assistant', state: 'stopped' });
      expect(page.messages.at(-1)!.text.length).toBeGreaterThan(0);
    }, { timeout: 10_000, interval: 50 });
    await vi.waitFor(() => expect(r.server.active).toBe(0), { timeout: 10_000, interval: 20 });
    expect(r.server.requestsSeen).toBeGreaterThanOrEqual(2);
  });

  it('speaks raw server-sent events to curl', async () => {
    const r = await serve();
    const body = JSON.stringify({ model: r.model, messages: [{ role: 'user', content: 'Hello, curl.' }], max_tokens: 4, stream: true, temperature: 0.8, seed: 7 });
    const out = await new Promise<string>((resolve, reject) => {
      const curl = spawn('curl', ['-sN', '-H', 'Content-Type: application/json', '-d', body, `${r.server.baseUrl}/chat/completions`]);
      let text = '';
      curl.stdout.on('data', (d: Buffer) => (text += d.toString()));
      curl.on('error', reject);
      curl.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`curl exited ${code}`))));
    });
    const all = out.split('\n\n').filter(Boolean);
    // comments (which clients skip) say how far the prompt is read; everything else is data
    expect(all.filter((e) => e.startsWith(':'))[0]).toMatch(/^: reading \d+\/\d+ tokens$/);
    const events = all.filter((e) => !e.startsWith(':'));
    expect(events.every((e) => e.startsWith('data: '))).toBe(true);
    expect(events.at(-1)).toBe('data: [DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.slice('data: '.length)));
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    expect(chunks.filter((c) => c.choices[0].delta.content).length).toBeGreaterThanOrEqual(1);
    expect(chunks.at(-1).choices[0].finish_reason).toBe('length');
  });
});
