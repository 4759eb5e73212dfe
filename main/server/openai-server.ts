/**
 * The OpenAI-compatible HTTP server (`perpetua serve`, and the app's switch): GET /v1/models, POST /v1/chat/completions
 * and POST /v1/completions, streamed (server-sent events, `data: [DONE]`) or not. One more surface over the API: it
 * speaks to the core through the typed client (in-process in the CLI, over the core's port in the app), like the
 * Electron shell and the web test host, and keeps no state of its own beyond its counters.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CompletionPacket } from '../api/completion-schemas.js';
import type { Channel, PerpetuaClientBridge } from '../api/perpetua-api.js';
import { describeZodError } from '../api/api-error.js';
import { PerpetuaError } from '../shared/errors.js';
import { Admission } from './admission.js';
import { allowedHostNames, ApiKey, checkHost, Cors, isLoopback } from './http-guard.js';
import { readJsonBody } from './json-body.js';
import { badRequest, fromCoreError, OpenAiError } from './openai-error.js';
import { chatParams, textParams, type Delivery, type PerpetuaHeaders } from './openai-request.js';
import { chatChunk, chatCompletion, finishReasonOf, reportOf, textChunk, textCompletion, usageChunk, type ResponseHead } from './openai-response.js';
import { ChatCompletionRequestSchema, CompletionRequestSchema } from './openai-schemas.js';
import { packetStream } from './packet-stream.js';

export interface OpenAiServerOptions {
  /** the core's API (the typed client) */
  api: PerpetuaClientBridge;
  host: string;
  /** 0: any free port */
  port: number;
  /** required unless `host` is loopback */
  apiKey?: string;
  /** origins whose web pages may call the server (CORS); none by default */
  cors?: readonly string[];
  /** host names besides loopback (and, on other binds, this machine's) that requests may name */
  allowedHosts?: readonly string[];
  maxBodyBytes: number;
  /** most tokens one answer may be asked for; the length of one that asks for none */
  maxTokens: number;
  /** answers written side by side (on different chats) */
  parallel: number;
  /** requests that may wait for a free place before the server answers 429 */
  queued: number;
  /** the model (id or name) of a request that names none */
  defaultModel?: string;
  /** one line per request */
  log?: (line: string) => void;
}

export interface OpenAiServer {
  /** http://HOST:PORT/v1: what clients take as their base URL */
  readonly baseUrl: string;
  readonly port: number;
  /** requests answered since the start (the app shows it) */
  readonly requestsSeen: number;
  /** answers being written now */
  readonly active: number;
  close(): Promise<void>;
}

type Ended = Extract<CompletionPacket, { type: 'done' | 'stopped' }>;
type Started = Extract<CompletionPacket, { type: 'started' }>;

/** Any address but loopback needs a key: anyone on the network could use the models (and read the chats it continues). */
export function checkBind(host: string, apiKey: string | undefined): void {
  if (!isLoopback(host) && !apiKey) {
    throw new PerpetuaError(`Refusing to serve on ${host} without an API key: anyone on the network could use it. Add --api-key KEY, or serve on 127.0.0.1.`, { code: 'invalid_input' });
  }
}

export async function startOpenAiServer(o: OpenAiServerOptions): Promise<OpenAiServer> {
  checkBind(o.host, o.apiKey);
  const key = o.apiKey ? new ApiKey(o.apiKey) : null;
  const cors = new Cors(o.cors ?? []);
  const hosts = allowedHostNames(o.host, o.allowedHosts);
  const admission = new Admission(o.parallel, o.queued);
  const started = Math.floor(Date.now() / 1000);
  let seen = 0;

  const server = createServer((req, res) => {
    const t0 = performance.now();
    void handle(req, res)
      .catch((err: unknown) => sendError(res, fromCoreError(err)))
      .finally(() => o.log?.(`${req.method} ${req.url} ${res.statusCode} ${Math.round(performance.now() - t0)} ms`));
  });
  // the whole request must arrive within a minute; answers may stream for as long as they take
  server.requestTimeout = 60_000;
  server.headersTimeout = 30_000;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    checkHost(req, hosts);
    const corsHeaders = cors.headers(req);
    for (const [k, v] of Object.entries(corsHeaders)) res.setHeader(k, v);
    if (req.method === 'OPTIONS') {
      res.writeHead(204, cors.preflight(req)).end();
      return;
    }
    seen++; // refused ones too: the app shows whether anything is knocking
    key?.check(req);
    const path = new URL(req.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, '');
    const route = `${req.method} ${path}`;
    if (route === 'GET /v1/models') return sendJson(res, 200, { object: 'list', data: (await o.api.modelsList()).map((m) => modelObject(m.name, started)) });
    if (req.method === 'GET' && path.startsWith('/v1/models/')) {
      const id = decodeOr(path.slice('/v1/models/'.length));
      const model = (await o.api.modelsList()).find((m) => m.name === id || m.id === id);
      if (!model) throw new OpenAiError(404, `The model "${id}" does not exist here.`, 'not_found_error', 'model_not_found', 'model');
      return sendJson(res, 200, modelObject(model.name, started));
    }
    if (route === 'POST /v1/chat/completions') return complete(req, res, 'chat');
    if (route === 'POST /v1/completions') return complete(req, res, 'text');
    if (['/v1/models', '/v1/chat/completions', '/v1/completions'].includes(path)) {
      throw new OpenAiError(405, `${req.method} is not allowed on ${path}.`, 'invalid_request_error', 'method_not_allowed');
    }
    throw new OpenAiError(404, `Unknown path ${path}: this server answers /v1/models, /v1/chat/completions and /v1/completions.`, 'not_found_error', 'unknown_url');
  }

  async function complete(req: IncomingMessage, res: ServerResponse, kind: 'chat' | 'text'): Promise<void> {
    const body = await readJsonBody(req, o.maxBodyBytes);
    const headers: PerpetuaHeaders = { session: header(req, 'x-perpetua-session'), policy: header(req, 'x-perpetua-policy') };
    const limits = { maxTokens: o.maxTokens };
    let delivery: Delivery;
    let open: (onPacket: (p: CompletionPacket) => void) => Channel<CompletionPacket>;
    if (kind === 'chat') {
      const parsed = ChatCompletionRequestSchema.safeParse(body);
      if (!parsed.success) throw badRequest(describeZodError(parsed.error, 'request'), paramOf(parsed.error));
      const r = chatParams({ ...parsed.data, model: parsed.data.model || o.defaultModel }, headers, limits);
      delivery = r.delivery;
      open = (onPacket) => o.api.chatComplete(r.params, onPacket);
    } else {
      const parsed = CompletionRequestSchema.safeParse(body);
      if (!parsed.success) throw badRequest(describeZodError(parsed.error, 'request'), paramOf(parsed.error));
      const r = textParams({ ...parsed.data, model: parsed.data.model || o.defaultModel }, headers, limits);
      delivery = r.delivery;
      open = (onPacket) => o.api.textComplete(r.params, onPacket);
    }
    // the client going away (a closed tab, Ctrl-C, a stop button) stops the answer; the core stores it as stopped
    const left = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) left.abort();
    });
    const release = await admission.enter(left.signal);
    try {
      const packets = packetStream(open);
      left.signal.addEventListener('abort', () => packets.cancel(), { once: true });
      const head: ResponseHead = { id: `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID()}`, created: Math.floor(Date.now() / 1000), model: delivery.model ?? 'perpetua' };
      await (delivery.stream ? streamAnswer(res, packets, head, kind, delivery) : wholeAnswer(res, packets, head, kind));
    } finally {
      release();
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shown = o.host.includes(':') ? `[${o.host}]` : o.host;
  return {
    baseUrl: `http://${shown}:${port}/v1`,
    port,
    get requestsSeen() {
      return seen;
    },
    get active() {
      return admission.active;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The whole answer as one JSON object once it is written. */
async function wholeAnswer(res: ServerResponse, packets: AsyncIterable<CompletionPacket>, head: ResponseHead, kind: 'chat' | 'text'): Promise<void> {
  let started: Started | null = null;
  for await (const p of packets) {
    if (p.type === 'started') started = p;
    else if (p.type === 'failed') throw fromCoreError(p.error);
    else if (p.type === 'done' || p.type === 'stopped') {
      if (res.destroyed) return; // the client left: the core stored what there was
      const s = started ?? startedFallback();
      if (s.session) res.setHeader('x-perpetua-session', s.session.id);
      sendJson(res, 200, kind === 'chat' ? chatCompletion(head, s, p) : textCompletion(head, s, p));
      return;
    }
  }
}

/**
 * Server-sent events: the status line waits for the core to take the request (a busy chat or an unknown model is
 * still an HTTP error), then a chunk per token, the finish reason, the usage when asked for, and `data: [DONE]`.
 */
async function streamAnswer(res: ServerResponse, packets: AsyncIterable<CompletionPacket>, head: ResponseHead, kind: 'chat' | 'text', d: Delivery): Promise<void> {
  let started: Started | null = null;
  const send = (data: unknown) => {
    if (!res.destroyed) res.write(`data: ${JSON.stringify(data)}\n\n`);
  };
  const piece = (text: string, finish: 'stop' | 'length' | null, role = false) =>
    kind === 'chat' ? chatChunk(head, { ...(role ? { role: 'assistant' as const } : {}), ...(finish ? {} : { content: text }) }, finish, d.includeUsage) : textChunk(head, text, finish, d.includeUsage);
  for await (const p of packets) {
    if (p.type === 'started') {
      started = p;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
        ...(p.session ? { 'x-perpetua-session': p.session.id } : {}),
      });
      if (kind === 'chat') send(piece('', null, true));
    } else if (p.type === 'token') send(piece(p.delta, null));
    // an SSE comment (clients skip it): a long paste being read keeps the connection visibly alive
    else if (p.type === 'progress' && res.headersSent && !res.destroyed) res.write(`: reading ${p.done}/${p.total} tokens\n\n`);
    else if (p.type === 'failed') {
      if (!res.headersSent) throw fromCoreError(p.error);
      send(fromCoreError(p.error).body()); // the openai clients raise this as an APIError mid-stream
      res.end();
      return;
    } else if (p.type === 'done' || p.type === 'stopped') {
      if (res.destroyed) return;
      const s = started ?? startedFallback();
      send({ ...piece('', finishReasonOf(p.finishReason)), perpetua: reportOf(s, p as Ended) });
      if (d.includeUsage) send(usageChunk(head, kind === 'chat' ? 'chat.completion.chunk' : 'text_completion', s, p));
      res.end('data: [DONE]\n\n');
      return;
    }
  }
}

function startedFallback(): Started {
  return { type: 'started', session: null, match: { kind: 'new', reusedMessages: 0, named: false } };
}

function modelObject(name: string, created: number) {
  return { id: name, object: 'model', created, owned_by: 'perpetua' };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) }).end(text);
}

function sendError(res: ServerResponse, err: OpenAiError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const extra: Record<string, string> = err.status === 429 ? { 'retry-after': '1' } : {};
  for (const [k, v] of Object.entries(extra)) res.setHeader(k, v);
  if (err.status === 499) {
    res.destroy(); // nobody is listening
    return;
  }
  sendJson(res, err.status, err.body());
}

/** A path segment decoded; a malformed escape stays as it was (and names no model). */
function decodeOr(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/** The first field a schema error names, as OpenAI's `param`. */
function paramOf(err: { issues: { path: PropertyKey[] }[] }): string | null {
  const path = err.issues[0]?.path;
  return path?.length ? path.map(String).join('.') : null;
}
