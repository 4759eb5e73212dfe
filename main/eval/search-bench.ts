import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { searchSessions } from '../core/session-queries.js';
import { openDatabase } from '../store/database.js';
import { MIGRATIONS } from '../store/migrations.js';
import { Store } from '../store/store.js';
import { percentile } from './percentile.js';

export interface SearchBenchOptions {
  messages: number;
  /** timed runs of each query */
  repeats: number;
  /** Chinese and English texts to cut messages from (missing files: a built-in sample stands in) */
  zhText?: string;
  enText?: string;
  onProgress?: (what: string, done: number, total: number) => void;
}

export interface SearchBenchQuery {
  query: string;
  chars: number;
  hits: number;
  medianMs: number;
}

export interface SearchBenchResult {
  messages: number;
  textMiB: number;
  /** building the trigram index over the stored messages (the schema migration an existing database goes through) */
  migrationMs: number;
  queries: SearchBenchQuery[];
  medianMs: number;
  p90Ms: number;
  maxMs: number;
}

const ZH_SAMPLE =
  '注意力汇聚是流式语言模型的关键，我们今天讨论滑动窗口。模型只保留最近的键值缓存和最前面的几个词元，长对话也不会耗尽内存。' +
  '春天来了，河边的柳树发出了新芽，孩子们在草地上放风筝。他打开窗户，看见远处的山在雾中若隐若现。';
const EN_SAMPLE =
  'The Germans built a sliding-window cache while attention sinks keep the first tokens stable. ' +
  'A long conversation never runs out of memory because old keys and values are evicted in chunks. ';

/** Queries of 1–6 characters in both scripts, inside words and sentences, and one that matches nothing. */
export const BENCH_QUERIES = ['窗', '的', '宝玉', '窗口', '注意力', '林黛玉', '滑动窗口', '贾雨村风尘', '甄士隐梦幻识',
  'e', 'th', 'erman', 'ing', 'attention', 'sink cache', 'KV 缓存', 'zzqx'];

/**
 * `perpetua bench search`: an existing database (schema 11: before the index was rebuilt over finished messages) with N
 * messages cut from Chinese and English text (a third Chinese, a third English, a third both), upgraded (timed: the one
 * migration that builds the trigram index over every stored message), then each
 * query run as the app runs it (core/session-queries.ts: names and messages, 50 hits) `repeats` times.
 */
export function benchSearch(o: SearchBenchOptions): SearchBenchResult {
  const zh = readOr(o.zhText, ZH_SAMPLE).replace(/\s+/gu, '');
  const en = readOr(o.enText, EN_SAMPLE).replace(/\s+/gu, ' ');
  const dir = mkdtempSync(join(tmpdir(), 'perpetua-search-bench-'));
  try {
    const file = join(dir, 'search.db');
    // schema 11: the next migration (12) builds the search index over every stored message, as an upgrade does
    const old = openDatabase(file, { migrations: MIGRATIONS.slice(0, 11) });
    const random = seeded(7);
    const cut = (text: string) => {
      const len = 20 + Math.floor(random() * 380);
      const at = Math.floor(random() * Math.max(1, text.length - len));
      return text.slice(at, at + len);
    };
    let bytes = 0;
    old.exec(`INSERT INTO models (id, name, dir, fingerprint, created_at) VALUES (1, 'bench', '/bench', 'bench', 0)`);
    const session = old.prepare("INSERT INTO sessions (name, model_id, policy, created_at, updated_at) VALUES (?, 1, 'sink', 0, 0)");
    const message = old.prepare(
      "INSERT INTO messages (session_id, seq, role, text, state, created_at, updated_at) VALUES (?, ?, ?, ?, 'done', ?, ?)");
    old.transaction(() => {
      let sessionId = 0;
      for (let i = 0; i < o.messages; i++) {
        // sessions of 100 messages, as long chats are
        if (i % 100 === 0) sessionId = Number(session.run(`对话 chat ${i / 100 + 1}`).lastInsertRowid);
        const kind = i % 3;
        const text = kind === 0 ? cut(zh) : kind === 1 ? cut(en) : `${cut(zh).slice(0, 80)} ${cut(en).slice(0, 120)}`;
        bytes += Buffer.byteLength(text);
        message.run(sessionId, (i % 100) + 1, i % 2 ? 'assistant' : 'user', text, i, i);
        if (i % 5000 === 4999) o.onProgress?.('messages written', i + 1, o.messages);
      }
    })();
    old.close();

    const started = performance.now();
    const db = openDatabase(file, { onMigrationProgress: (p) => o.onProgress?.('index built', p.done, p.total) });
    const migrationMs = performance.now() - started;
    const store = new Store(db);
    const queries: SearchBenchQuery[] = [];
    const all: number[] = [];
    for (const query of BENCH_QUERIES) {
      const times: number[] = [];
      let hits = 0;
      for (let r = 0; r < o.repeats; r++) {
        const t = performance.now();
        hits = searchSessions(store, query).length;
        times.push(performance.now() - t);
      }
      all.push(...times);
      queries.push({ query, chars: [...query].length, hits, medianMs: percentile(times, 0.5) });
    }
    db.close();
    return {
      messages: o.messages,
      textMiB: bytes / 2 ** 20,
      migrationMs,
      queries,
      medianMs: percentile(all, 0.5),
      p90Ms: percentile(all, 0.9),
      maxMs: Math.max(...all),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function readOr(file: string | undefined, sample: string): string {
  return file && existsSync(file) ? readFileSync(file, 'utf8') : sample.repeat(50);
}

/** A small deterministic generator (mulberry32), so every run searches the same messages. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
