/**
 * `perpetua bench serve`: a client that resends its whole history every turn, as OpenAI-style clients do, replays an
 * N-turn conversation through `perpetua serve` (real HTTP, server-sent events). Per turn: the time to the first token
 * when the chat's cache continues (only the new turn is read) against a re-prefill baseline (the same request to a
 * fresh chat, which reads the whole history, as a server without a prefix cache does), and the cached_tokens reported.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CoreService } from '../core/core-service.js';
import { inProcessClient } from '../core/in-process-client.js';
import { startOpenAiServer } from '../server/openai-server.js';
import { defaultModelDir } from './default-model.js';
import { number, parse } from './options.js';

export const BENCH_SERVE_HELP = `perpetua bench serve [--model DIR] [--turns 50] [--answer-tokens 16] [--policy sink:4:508] [--json OUT.json]
  Replays an N-turn conversation through the OpenAI-compatible server, resending the growing history each turn:
  time to first token per turn with the chat's cache (cached_tokens) vs re-reading the whole history (re-prefill).`;

interface TurnRow {
  turn: number;
  promptTokens: number;
  cachedTokens: number;
  ttftMs: number;
  baselinePromptTokens: number;
  baselineCachedTokens: number;
  baselineTtftMs: number;
  evictedTokens: number;
}

type Msg = { role: 'user' | 'assistant'; content: string };

/** What one streamed request gave back. */
interface Streamed {
  text: string;
  ttftMs: number;
  usage: { prompt_tokens: number; prompt_tokens_details: { cached_tokens: number } };
  evicted: number;
}

export async function benchServeCommand(args: string[]): Promise<void> {
  const { values: v } = parse(args, {
    model: { type: 'string' },
    turns: { type: 'string', default: '50' },
    'answer-tokens': { type: 'string', default: '16' },
    policy: { type: 'string' },
    json: { type: 'string' },
  });
  const turns = number(v.turns, 'turns', { integer: true, min: 1, max: 10_000 });
  const answerTokens = number(v['answer-tokens'], 'answer-tokens', { integer: true, min: 1, max: 4096 });
  const dir = mkdtempSync(join(tmpdir(), 'perpetua-bench-serve-'));
  const core = new CoreService({ dbFile: join(dir, 'bench.db'), maxAnswerTokens: answerTokens });
  const wire = inProcessClient(core);
  const rows: TurnRow[] = [];
  try {
    const model = await core.modelsImport({ dir: v.model ?? defaultModelDir() });
    const server = await startOpenAiServer({ api: wire.bridge, host: '127.0.0.1', port: 0, maxBodyBytes: 64 << 20, maxTokens: answerTokens, parallel: 1, queued: 4 });
    try {
      const history: Msg[] = [];
      const policy: Record<string, string> = v.policy ? { 'x-perpetua-policy': v.policy } : {};
      for (let turn = 1; turn <= turns; turn++) {
        const messages: Msg[] = [...history, { role: 'user', content: userTurn(turn) }];
        const body = { model: model.name, messages, max_tokens: answerTokens, temperature: 0.8, seed: turn, stream: true, stream_options: { include_usage: true } };
        const cached = await streamed(server.baseUrl, body, { 'x-perpetua-session': 'bench: cached', ...policy });
        // the same request to a fresh chat: the whole history is read again
        const baseline = await streamed(server.baseUrl, body, { 'x-perpetua-session': `bench: re-prefill ${turn}`, ...policy });
        history.push(messages[messages.length - 1], { role: 'assistant', content: cached.text });
        const row: TurnRow = {
          turn,
          promptTokens: cached.usage.prompt_tokens,
          cachedTokens: cached.usage.prompt_tokens_details.cached_tokens,
          ttftMs: cached.ttftMs,
          baselinePromptTokens: baseline.usage.prompt_tokens,
          baselineCachedTokens: baseline.usage.prompt_tokens_details.cached_tokens,
          baselineTtftMs: baseline.ttftMs,
          evictedTokens: cached.evicted,
        };
        rows.push(row);
        process.stderr.write(`[turn ${turn}/${turns}: ${row.ttftMs.toFixed(1)} ms vs ${row.baselineTtftMs.toFixed(1)} ms]\n`);
      }
    } finally {
      await server.close();
    }
    printTable(model.name, rows);
    if (v.json) writeFileSync(resolve(v.json), JSON.stringify({ model: model.name, answerTokens, policy: v.policy ?? null, turns: rows }, null, 2));
  } finally {
    wire.dispose();
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A user turn of a few dozen tokens that differs each time. */
function userTurn(turn: number): string {
  const topics = ['the lighthouse', 'the harbour', 'the storm', 'the keeper', 'the ships', 'the old map', 'the village', 'the winter'];
  return `Turn ${turn}. Tell me more about ${topics[turn % topics.length]}, and what happened next in the story.`;
}

/** Posts a streamed chat request and reads its events: time to the first token, the text, the usage chunk. */
async function streamed(baseUrl: string, body: unknown, headers: Record<string, string>): Promise<Streamed> {
  const t0 = performance.now();
  const res = await fetch(`${baseUrl}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  if (!res.ok || !res.body) throw new Error(`The server answered ${res.status}: ${await res.text()}`);
  let ttftMs = -1;
  let text = '';
  let usage: Streamed['usage'] | null = null;
  let evicted = 0;
  let buffered = '';
  const decoder = new TextDecoder();
  for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(bytes, { stream: true });
    let end: number;
    while ((end = buffered.indexOf('\n\n')) >= 0) {
      const event = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      if (!event.startsWith('data: ') || event === 'data: [DONE]') continue;
      const chunk = JSON.parse(event.slice(6));
      const choice = chunk.choices?.[0];
      // the first chunk only names the role (it comes as soon as the request is taken); the first token follows
      if (choice && !choice.delta?.role && choice.delta?.content !== undefined) {
        if (ttftMs < 0) ttftMs = performance.now() - t0;
        text += choice.delta.content;
      }
      if (chunk.usage) usage = chunk.usage;
      if (chunk.perpetua?.cache) evicted = chunk.perpetua.cache.evicted_tokens;
    }
  }
  if (!usage) throw new Error('The server sent no usage chunk.');
  return { text, ttftMs, usage, evicted };
}

function printTable(model: string, rows: TurnRow[]): void {
  console.log(`model ${model}; each turn resends the whole history (perpetua serve, streamed)`);
  console.log('| turn | prompt tokens | cached tokens | TTFT cached (ms) | TTFT re-prefill (ms) | evicted so far |');
  console.log('|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(`| ${r.turn} | ${r.promptTokens} | ${r.cachedTokens} | ${r.ttftMs.toFixed(1)} | ${r.baselineTtftMs.toFixed(1)} | ${r.evictedTokens} |`);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const k = Math.min(5, rows.length);
  const first = rows.slice(0, k);
  const last = rows.slice(-k);
  console.log(
    `TTFT medians, first ${k} turns → last ${k}: cached ${median(first.map((r) => r.ttftMs)).toFixed(1)} → ${median(last.map((r) => r.ttftMs)).toFixed(1)} ms; ` +
      `re-prefill ${median(first.map((r) => r.baselineTtftMs)).toFixed(1)} → ${median(last.map((r) => r.baselineTtftMs)).toFixed(1)} ms.`,
  );
}
