import { resolve } from 'node:path';
import { CoreService } from '../core/core-service.js';
import { inProcessClient } from '../core/in-process-client.js';
import { checkBind, startOpenAiServer } from '../server/openai-server.js';
import { defaultModelDir } from './default-model.js';
import { number, parse } from './options.js';
import { terminalSafe } from './terminal-text.js';

export const SERVE_HELP = `perpetua serve [--port 1234] [--host 127.0.0.1] [--api-key KEY] [--cors ORIGIN,...] [--db FILE] [--model DIR]
    [--max-tokens N] [--parallel N] [--queue N] [--max-body-mb MB] [--allow-host NAME,...] [--quiet]
  A local OpenAI-compatible server (GET /v1/models, POST /v1/chat/completions, POST /v1/completions). Each request is
  matched to the stored chat whose transcript starts it, so a client resending its history pays only for the new turn.
  Any host but loopback needs --api-key (or $PERPETUA_API_KEY). Stop with Ctrl-C.`;

const OPTIONS = {
  port: { type: 'string', default: '1234' },
  host: { type: 'string', default: '127.0.0.1' },
  'api-key': { type: 'string' },
  cors: { type: 'string' },
  db: { type: 'string', default: 'perpetua.db' },
  model: { type: 'string' },
  'max-tokens': { type: 'string', default: '2048' },
  parallel: { type: 'string', default: '2' },
  queue: { type: 'string', default: '16' },
  'max-body-mb': { type: 'string', default: '32' },
  'allow-host': { type: 'string' },
  quiet: { type: 'boolean', default: false },
} as const;

export async function serveCommand(args: string[]): Promise<void> {
  const { values: v } = parse(args, OPTIONS);
  const port = number(v.port, 'port', { integer: true, min: 0, max: 65535 });
  const maxTokens = number(v['max-tokens'], 'max-tokens', { integer: true, min: 1, max: 1_048_576 });
  const parallel = number(v.parallel, 'parallel', { integer: true, min: 1, max: 64 });
  const queued = number(v.queue, 'queue', { integer: true, min: 0, max: 10_000 });
  const maxBodyMb = number(v['max-body-mb'], 'max-body-mb', { min: 0.001, max: 1024 });
  const list = (s: string | undefined) => (s ?? '').split(',').map((x) => x.trim()).filter(Boolean);
  const apiKey = v['api-key'] ?? process.env.PERPETUA_API_KEY;
  checkBind(v.host, apiKey); // before the model loads
  const dbFile = resolve(v.db);
  const core = new CoreService({ dbFile, maxAnswerTokens: maxTokens });
  const client = inProcessClient(core);
  try {
    const model = await core.modelsImport({ dir: v.model ?? defaultModelDir() });
    const server = await startOpenAiServer({
      api: client.bridge,
      host: v.host,
      port,
      apiKey,
      cors: list(v.cors),
      allowedHosts: list(v['allow-host']),
      maxBodyBytes: Math.round(maxBodyMb * 1024 * 1024),
      maxTokens,
      parallel,
      queued,
      defaultModel: model.name,
      log: v.quiet ? undefined : (line) => console.error(terminalSafe(line)),
    });
    console.log(terminalSafe(`Perpetua serves ${model.name} at ${server.baseUrl} (chats in ${dbFile}); Ctrl-C stops.`));
    await new Promise<void>((done) => {
      process.once('SIGINT', done);
      process.once('SIGTERM', done);
    });
    await server.close();
  } finally {
    client.dispose();
    await core.close();
  }
}
