import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, schemaVersion, type Db } from './database.js';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations.js';
import { StreamingMessageWriter } from './message-writer.js';
import { Store } from './store.js';
import { SNIPPET_MARK_END as E, SNIPPET_MARK_START as S, type Model, type SearchHit } from './types.js';
import { searchSessions } from '../core/session-queries.js';

let dir: string;
let file: string;
let db: Db;
let store: Store;
let model: Model;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'perpetua-search-'));
  file = join(dir, 'chats.db');
  db = openDatabase(file);
  store = new Store(db);
  model = store.upsertModel({ name: 'Tiny', dir: '/models/tiny', fingerprint: 'fp-tiny' });
});
afterEach(() => {
  if (db.open) db.close();
  rmSync(dir, { recursive: true, force: true });
});

const SINK = { sink: 4, window: 1020, pinSystem: true, evictChunk: 64 };
const newSession = (name: string) => store.createSession({ name, modelId: model.id, policy: 'sink', policyParams: SINK });
const ids = (hits: SearchHit[]) => hits.map((h) => h.messageId).sort((a, b) => a - b);
/** The highlighted parts of a snippet. */
const marked = (snippet: string) => [...snippet.matchAll(/\u0002([^\u0003]*)\u0003/gu)].map((m) => m[1]);

const ZH = '注意力汇聚是流式语言模型的关键，我们今天讨论滑动窗口';
const JA = 'アテンションシンクはストリーミング言語モデルの鍵です。今日はスライディングウィンドウを話します';
const KO = '어텐션 싱크는 스트리밍 언어 모델의 핵심입니다. 오늘은 슬라이딩 윈도우를 이야기합니다';
const EN = 'The Germans built a sliding-window cache; attention sinks keep it stable.';
const EMOJI = 'Party time 🎉🎉 with 👩‍💻 coders and 🙂';
const MIXED = '用 KV缓存 (KV cache) 做 streaming：sink=4, window=1020 很稳定';
const ZH_TW = '注意力匯聚是串流語言模型的關鍵，我們今天討論滑動視窗';

describe('search: any substring in any script', () => {
  let m: Record<string, number>;
  beforeEach(() => {
    const s = newSession('多语言 chat');
    const add = (text: string) => store.appendMessage(s.id, { role: 'user', text }).id;
    m = { zh: add(ZH), ja: add(JA), ko: add(KO), en: add(EN), emoji: add(EMOJI), mixed: add(MIXED), tw: add(ZH_TW) };
  });

  it('finds Chinese words inside a sentence, 1 to 6 characters', () => {
    for (const q of ['滑动窗口', '窗口', '流式', '关键', '汇聚是流式语', '讨', '汇']) {
      expect(ids(store.search(q)), q).toEqual([m.zh]);
    }
    // traditional characters are their own characters (no conversion): 視窗 only in the zh-TW text
    expect(ids(store.search('視窗'))).toEqual([m.tw]);
    expect(ids(store.search('语言模型'))).toEqual([m.zh]);
    expect(ids(store.search('注意力'))).toEqual([m.zh, m.tw]);
    expect(ids(store.search('言'))).toEqual([m.zh, m.ja, m.tw]);
  });

  it('finds Japanese and Korean substrings', () => {
    for (const q of ['ウィンドウ', 'ンク', 'の鍵', 'ストリーミング言語']) expect(ids(store.search(q)), q).toEqual([m.ja]);
    for (const q of ['윈도우', '싱크', '핵', '스트리밍 언어', '슬라이딩']) expect(ids(store.search(q)), q).toEqual([m.ko]);
  });

  it('finds English inside words, folding case and diacritics', () => {
    expect(ids(store.search('erman'))).toEqual([m.en]);
    expect(ids(store.search('GERMAN'))).toEqual([m.en]);
    expect(ids(store.search('ink'))).toEqual([m.en, m.mixed]); // inside "sinks" and "sink=4"
    expect(ids(store.search('ing-win'))).toEqual([m.en]);
    const cafe = store.appendMessage(newSession('café').id, { role: 'assistant', text: 'Un Café crème' }).id;
    expect(ids(store.search('cafe creme'))).toEqual([cafe]);
    expect(ids(store.search('Ge'))).toEqual([m.en]);
  });

  it('finds emoji and mixed-script text; every word must match', () => {
    expect(ids(store.search('🎉'))).toEqual([m.emoji]);
    expect(ids(store.search('👩‍💻'))).toEqual([m.emoji]);
    expect(ids(store.search('🙂'))).toEqual([m.emoji]);
    expect(ids(store.search('KV缓存'))).toEqual([m.mixed]);
    expect(ids(store.search('缓存 cache'))).toEqual([m.mixed]);
    expect(ids(store.search('sink=4'))).toEqual([m.mixed]);
    expect(ids(store.search('很 稳定'))).toEqual([m.mixed]);
    expect(ids(store.search('窗口 Germans'))).toEqual([]);
    expect(ids(store.search('sink 窗'))).toEqual([]);
  });

  it('highlights every match in the snippet, whole characters only', () => {
    const [hit] = store.search('窗口 流式');
    expect(marked(hit!.snippet)).toEqual(['流式', '窗口']);
    expect(hit!.snippet.replaceAll(S, '').replaceAll(E, '')).toBe(ZH);
    const [en] = store.search('erman');
    expect(marked(en!.snippet)).toEqual(['erman']);
    const [emoji] = store.search('🎉');
    expect(marked(emoji!.snippet)).toEqual(['🎉🎉']);
    const [cafe] = (store.appendMessage(newSession('c').id, { role: 'user', text: 'Un Café' }), store.search('cafe'));
    expect(marked(cafe!.snippet)).toEqual(['Café']);
  });

  it('cuts long texts around the first match and marks the cuts', () => {
    const s = newSession('long');
    const id = store.appendMessage(s.id, { role: 'assistant', text: `${'很长的前文。'.repeat(40)}关键词在这里${'后文。'.repeat(60)}` }).id;
    const [hit] = store.search('关键词');
    expect(hit!.messageId).toBe(id);
    expect(hit!.snippet.startsWith('…')).toBe(true);
    expect(hit!.snippet.endsWith('…')).toBe(true);
    expect(marked(hit!.snippet)).toEqual(['关键词']);
    expect(hit!.snippet.length).toBeLessThan(110);
  });

  it('never throws on FTS5 or LIKE syntax; % and _ are literal', () => {
    const s = newSession('s');
    const pct = store.appendMessage(s.id, { role: 'user', text: '100% 完成 a_b "NEAR" (AND)' }).id;
    for (const q of ['"', '%', '_', '\\', '\\%', 'NEAR(', '*', '^', '-', 'a"b', '\u0000', '(AND)', '"NEAR"']) {
      expect(() => store.search(q), q).not.toThrow();
    }
    expect(ids(store.search('%'))).toEqual([pct]);
    expect(ids(store.search('_'))).toEqual([pct]);
    expect(ids(store.search('0%'))).toEqual([pct]);
    expect(ids(store.search('"NEAR"'))).toEqual([pct]);
    expect(store.search('')).toEqual([]);
  });

  it('ranks denser matches first and short queries newest first', () => {
    const s = newSession('rank');
    const once = store.appendMessage(s.id, { role: 'user', text: `滑动窗口${'。其他的内容'.repeat(30)}` }).id;
    const often = store.appendMessage(s.id, { role: 'user', text: '滑动窗口，滑动窗口，还是滑动窗口' }).id;
    expect(store.search('滑动窗口').map((h) => h.messageId).slice(0, 2)).toEqual([often, m.zh]);
    expect(store.search('滑动窗口').map((h) => h.messageId).at(-1)).toBe(once);
    expect(store.search('窗口').map((h) => h.messageId)).toEqual([often, once, m.zh]);
    expect(store.search('窗口', { limit: 1 }).map((h) => h.messageId)).toEqual([often]);
    expect(store.search('窗口', { sessionId: s.id }).map((h) => h.messageId)).toEqual([often, once]);
  });

  it('the index follows edits and deletes', () => {
    store.updateMessageText(m.zh, '改写后的文本', 'done');
    expect(store.search('滑动窗口')).toEqual([]);
    expect(ids(store.search('改写后'))).toEqual([m.zh]);
    db.exec("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)");
  });

  it('the app search (names + messages) and the CLI use the same code', () => {
    const hits = searchSessions(store, '语言');
    expect(hits[0]).toMatchObject({ messageId: null, sessionName: '多语言 chat' });
    expect(marked(hits[0]!.snippet)).toEqual(['语言']);
    expect(hits.slice(1).map((h) => Number(h.messageId)).sort((a, b) => a - b)).toEqual([m.zh]);
  });
});

describe('search: the trigram migration', () => {
  it('moves an existing database to the trigram index with progress, keeping every message findable', () => {
    db.close();
    const old = join(dir, 'old.db');
    // a database as the previous version wrote it (schema 4, unicode61 index)
    const v4 = openDatabase(old, { migrations: MIGRATIONS.slice(0, 4) });
    v4.exec(`INSERT INTO models (id, name, dir, fingerprint, created_at) VALUES (1, 'm', '/m', 'fp', 0);
             INSERT INTO sessions (id, name, model_id, policy, created_at, updated_at) VALUES (1, 'old', 1, 'sink', 0, 0);`);
    const s = { id: 1 };
    const rows = 4500;
    const insert = v4.prepare("INSERT INTO messages (session_id, seq, role, text, state, created_at, updated_at) VALUES (?, ?, 'user', ?, 'done', 0, 0)");
    v4.transaction(() => {
      for (let i = 1; i <= rows; i++) insert.run(s.id, i, i === 4321 ? ZH : `message ${i} 第${i}条消息`);
    })();
    expect(v4.prepare("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH '窗口'").pluck().get()).toBe(0);
    v4.close();

    const seen: { step: string; done: number; total: number }[] = [];
    db = openDatabase(old, { onMigrationProgress: (p) => seen.push(p) });
    store = new Store(db);
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
    const trigram = seen.filter((p) => p.step === MIGRATIONS[4]!.name);
    expect(trigram[0]).toEqual({ step: MIGRATIONS[4]!.name, done: 0, total: rows });
    expect(trigram.at(-1)).toEqual({ step: MIGRATIONS[4]!.name, done: rows, total: rows });
    expect(trigram.length).toBeGreaterThanOrEqual(3); // reported as it goes, not only at the end
    expect(trigram.map((p) => p.done)).toEqual([...trigram.map((p) => p.done)].sort((a, b) => a - b));
    expect(store.search('窗口').map((h) => h.seq)).toEqual([4321]);
    expect(store.search('4499').map((h) => h.seq)).toEqual([4499]);
    db.exec("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)");
  });
});

describe('search: an answer is indexed once, when it ends', () => {
  const integrity = () => db.exec("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)");
  const indexed = () => db.prepare('SELECT id FROM messages_fts_docsize ORDER BY id').pluck().all();

  it('an answer still streaming is found by no query; it is when it ends', () => {
    const s = newSession('streaming');
    const done = store.appendMessage(s.id, { role: 'user', text: '讨论滑动窗口 sliding windows' }).id;
    const writer = StreamingMessageWriter.start(store, s.id, { intervalMs: 1e9 });
    for (const piece of ['注意力', '汇聚是', ' attention sinks']) {
      writer.append(piece, 1);
      writer.flush();
    }
    expect(store.listMessages(s.id).at(-1)).toMatchObject({ text: '注意力汇聚是 attention sinks', state: 'streaming' });
    expect(store.search('attention')).toEqual([]); // through the index
    expect(store.search('汇聚')).toEqual([]); // a scan, too short for the index
    expect(indexed()).toEqual([done]);
    integrity();
    writer.finish('done');
    expect(ids(store.search('attention'))).toEqual([writer.messageId]);
    expect(ids(store.search('汇聚'))).toEqual([writer.messageId]);
    integrity();
  });

  it('an answer a crash left streaming is indexed when the recovery marks it stopped', () => {
    const s = newSession('crashed');
    const writer = StreamingMessageWriter.start(store, s.id, { intervalMs: 1e9 });
    writer.append('half an answer about eviction', 5);
    writer.flush();
    db.close(); // the process dies: no finish
    db = openDatabase(file);
    store = new Store(db);
    expect(store.search('eviction')).toEqual([]);
    integrity();
    expect(store.markInterruptedMessages()).toBe(1);
    expect(store.search('eviction').map((h) => h.messageId)).toEqual([writer.messageId]);
    integrity();
  });

  it('the final states, edits, deletes and restores keep the index equal to the finished messages', () => {
    const s = newSession('states');
    const a = store.appendMessage(s.id, { role: 'assistant', text: 'alpha', state: 'streaming' });
    const b = store.appendMessage(newSession('other').id, { role: 'assistant', text: 'bravo', state: 'streaming' });
    const c = store.appendMessage(s.id, { role: 'assistant', text: 'charlie', state: 'error' });
    expect(indexed()).toEqual([c.id]);
    store.setMessageState(a.id, 'error'); // its end, with the text it had
    store.setMessageState(c.id, 'stopped'); // a final state to another: nothing to index again
    store.updateMessageText(c.id, 'charlie two', 'done');
    db.prepare('DELETE FROM messages WHERE id = ?').run(b.id); // deleted while streaming: never indexed
    expect(indexed()).toEqual([a.id, c.id]);
    expect(ids(store.search('alpha'))).toEqual([a.id]);
    expect(ids(store.search('charlie two'))).toEqual([c.id]);
    integrity();
    const removal = store.removals.remove(a.id);
    expect(store.search('alpha')).toEqual([]);
    integrity();
    store.removals.restore(removal);
    expect(ids(store.search('alpha'))).toEqual([a.id]);
    integrity();
  });

  it('the upgrade rebuilds the index over the finished messages; one streaming then is indexed when it ends', () => {
    db.close();
    const old = join(dir, 'old.db');
    const v11 = openDatabase(old, { migrations: MIGRATIONS.slice(0, 11) });
    v11.exec(`INSERT INTO models (id, name, dir, fingerprint, created_at) VALUES (1, 'm', '/m', 'fp', 0);
              INSERT INTO sessions (id, name, model_id, policy, created_at, updated_at) VALUES (1, 'old', 1, 'sink', 0, 0);`);
    const insert = v11.prepare('INSERT INTO messages (session_id, seq, role, text, state, created_at, updated_at) VALUES (1, ?, ?, ?, ?, 0, 0)');
    const rows = 2500;
    v11.transaction(() => {
      for (let i = 1; i < rows; i++) insert.run(i, 'user', i === 1234 ? ZH : `message ${i} 第${i}条消息`, 'done');
      insert.run(rows, 'assistant', 'an answer cut off mid-stream', 'streaming');
    })();
    expect(v11.prepare("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'stream'").pluck().get()).toBe(1);
    v11.close();

    const seen: { step: string; done: number; total: number }[] = [];
    db = openDatabase(old, { onMigrationProgress: (p) => seen.push(p) });
    store = new Store(db);
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
    expect(seen[0]).toEqual({ step: MIGRATIONS[11]!.name, done: 0, total: rows - 1 });
    expect(seen.at(-1)).toEqual({ step: MIGRATIONS[11]!.name, done: rows - 1, total: rows - 1 });
    integrity();
    expect(store.search('窗口').map((h) => h.seq)).toEqual([1234]);
    expect(store.search('2499').map((h) => h.seq)).toEqual([2499]);
    expect(store.search('stream')).toEqual([]);
    expect(store.markInterruptedMessages()).toBe(1);
    expect(store.search('stream').map((h) => h.seq)).toEqual([rows]);
    integrity();
  });
});
