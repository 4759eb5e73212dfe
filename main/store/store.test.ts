import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from './database.js';
import { DamagedRowError, NotFoundError, SessionNameTakenError } from './errors.js';
import { Store } from './store.js';
import { SNIPPET_MARK_END, SNIPPET_MARK_START, type Model } from './types.js';

let dir: string;
let file: string;
let db: Db;
let store: Store;
let model: Model;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'perpetua-store-'));
  file = join(dir, 'chats.db');
  db = openDatabase(file);
  store = new Store(db);
  model = store.upsertModel({ name: 'Tiny', dir: '/models/tiny', fingerprint: 'fp-tiny', config: { layers: 2 } });
});
afterEach(() => {
  if (db.open) db.close();
  rmSync(dir, { recursive: true, force: true });
});

const SINK = { sink: 4, window: 1020, pinSystem: true, evictChunk: 64 };
const newSession = (name: string) => store.createSession({ name, modelId: model.id, policy: 'sink', policyParams: SINK });
/** FTS5's own consistency check between the index and the messages table; throws if they disagree. */
const ftsIntegrity = () => db.exec("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)");

describe('Store: models and sessions', () => {
  it('upserts models by fingerprint', () => {
    const again = store.upsertModel({ name: 'Tiny v2', dir: '/elsewhere', fingerprint: 'fp-tiny' });
    expect(again.id).toBe(model.id);
    expect(again).toMatchObject({ name: 'Tiny v2', dir: '/elsewhere', config: {} });
    expect(store.listModels()).toHaveLength(1);
    expect(store.getModel(model.id)?.name).toBe('Tiny v2');
  });

  it('a JSON value a damaged page left in a row is the damage refusal, not a SyntaxError', () => {
    const s = newSession('damaged');
    db.pragma('ignore_check_constraints = ON'); // what a page copied over another leaves behind, past the CHECKs
    db.prepare('UPDATE sessions SET policy_params = ? WHERE id = ?').run('CREATE TABLE x', s.id);
    const refusal = (() => { try { store.listSessions(); } catch (err) { return err; } })();
    expect(refusal).toBeInstanceOf(DamagedRowError);
    expect(refusal).toMatchObject({ code: 'database_damaged', field: 'policy' });
    expect((refusal as Error).message).toMatch(/^The chat database is damaged \(a stored policy cannot be read\).*\.$/);
  });

  it('creates, finds, renames, re-policies, counts tokens and deletes sessions', () => {
    const s = store.createSession({
      name: 'work', modelId: model.id, policy: 'sink', policyParams: SINK, systemPrompt: 'Be brief.',
    });
    expect(s).toMatchObject({ name: 'work', policy: 'sink', policyParams: SINK, systemPrompt: 'Be brief.', totalTokensSeen: 0 });
    expect(store.getSession(s.id)).toEqual(s);
    expect(store.getSessionByName('work')).toEqual(s);
    expect(store.getSessionByName('nope')).toBeUndefined();

    expect(() => newSession('work')).toThrow(SessionNameTakenError);
    expect(() => store.createSession({ name: 'x', modelId: 999, policy: 'sink', policyParams: {} })).toThrow(NotFoundError);

    const other = newSession('play');
    expect(() => store.renameSession(other.id, 'work')).toThrow(SessionNameTakenError);
    expect(store.renameSession(other.id, 'games').name).toBe('games');
    expect(() => store.renameSession(999, 'zzz')).toThrow(NotFoundError);

    const windowed = store.updateSessionPolicy(s.id, 'window', { window: 512 });
    expect(windowed).toMatchObject({ policy: 'window', policyParams: { window: 512 } });

    store.addTokensSeen(s.id, 100);
    expect(store.addTokensSeen(s.id, 23).totalTokensSeen).toBe(123);
    expect(() => store.addTokensSeen(s.id, -1)).toThrow(RangeError);

    expect(store.deleteSession(s.id)).toBe(true);
    expect(store.deleteSession(s.id)).toBe(false);
    expect(store.getSession(s.id)).toBeUndefined();
  });

  it('lists sessions, most recent first, with message count and last-message preview', async () => {
    const a = newSession('a');
    const b = newSession('b');
    const empty = newSession('empty');
    await new Promise((r) => setTimeout(r, 5)); // updated_at has millisecond resolution
    store.appendMessage(a.id, { role: 'user', text: 'hello' });
    await new Promise((r) => setTimeout(r, 5));
    store.appendMessage(b.id, { role: 'user', text: 'first' });
    store.appendMessage(b.id, { role: 'assistant', text: `  second\n\nline ${'x'.repeat(500)}`, state: 'streaming' });

    const list = store.listSessions();
    expect(list.map((s) => s.name)).toEqual(['b', 'a', 'empty']);
    const [lb, la, le] = list;
    expect(lb.messageCount).toBe(2);
    expect(lb.lastMessage).toMatchObject({ role: 'assistant', state: 'streaming' });
    expect(lb.lastMessage!.text.startsWith('second line xxx')).toBe(true);
    expect(lb.lastMessage!.text.length).toBe(161);
    expect(lb.lastMessage!.text.endsWith('…')).toBe(true);
    expect(la).toMatchObject({ messageCount: 1, lastMessage: { role: 'user', text: 'hello' } });
    expect(le).toMatchObject({ id: empty.id, messageCount: 0, lastMessage: null });
  });
});

describe('Store: messages', () => {
  it('appends in sequence, updates text and state, lists in order and pages', () => {
    const s = newSession('s');
    const m1 = store.appendMessage(s.id, { role: 'system', text: 'sys' });
    const m2 = store.appendMessage(s.id, { role: 'user', text: 'hi', tokenCount: 2 });
    const m3 = store.appendMessage(s.id, { role: 'assistant', text: '', state: 'streaming' });
    expect([m1.seq, m2.seq, m3.seq]).toEqual([1, 2, 3]);
    expect(m2).toMatchObject({ state: 'done', tokenCount: 2, role: 'user' });

    const updated = store.updateMessageText(m3.id, 'Hello there', 'done', 3);
    expect(updated).toMatchObject({ text: 'Hello there', state: 'done', tokenCount: 3 });
    expect(store.updateMessageText(m3.id, 'Hello there!', 'stopped').tokenCount).toBe(3);
    expect(() => store.updateMessageText(999, 'x', 'done')).toThrow(NotFoundError);
    expect(() => store.appendMessage(999, { role: 'user', text: 'x' })).toThrow(NotFoundError);

    expect(store.listMessages(s.id).map((m) => m.text)).toEqual(['sys', 'hi', 'Hello there!']);
    expect(store.listMessages(s.id, { afterSeq: 1, limit: 1 }).map((m) => m.seq)).toEqual([2]);
  });

  it('marks replies a crash left streaming as stopped', () => {
    const s = newSession('s');
    const m = store.appendMessage(s.id, { role: 'assistant', text: 'partial', state: 'streaming' });
    store.appendMessage(s.id, { role: 'user', text: 'done one' });
    expect(store.markInterruptedMessages()).toBe(1);
    expect(store.getMessage(m.id)).toMatchObject({ state: 'stopped', text: 'partial' });
    expect(store.markInterruptedMessages()).toBe(0);
  });

  it('stores and reads back a 10 MB message without loss, and finds words in it', () => {
    const s = newSession('big');
    const words = ['alpha', 'beta', 'gamma', 'δέλτα', '日本', '😀', 'x\u0000y', '\n'];
    let text = '';
    for (let i = 0; text.length < 10 * 1024 * 1024; i++) text += `${words[i % words.length]}${i} `;
    text += 'needleword';
    const m = store.appendMessage(s.id, { role: 'assistant', text });
    const back = store.getMessage(m.id)!.text;
    expect(back.length).toBe(text.length);
    expect(back === text).toBe(true);
    expect(store.search('needleword').map((h) => h.messageId)).toEqual([m.id]);
  });

  it('handles lone surrogates and invalid UTF-8 without throwing, by U+FFFD replacement', () => {
    const s = newSession('unicode');
    // Invalid UTF-8 decoded the way the engine decodes bytes: each bad sequence becomes U+FFFD.
    const bytes = Buffer.from([0x68, 0x69, 0xff, 0xfe, 0xc3, 0x28, 0xe2, 0x82, 0x20, 0xf0, 0x9f, 0x98, 0x80, 0xed, 0xa0, 0x80]);
    const decoded = bytes.toString('utf8');
    const m1 = store.appendMessage(s.id, { role: 'assistant', text: decoded });
    expect(store.getMessage(m1.id)!.text).toBe(decoded);

    // Lone surrogates cannot be UTF-8: each becomes exactly one U+FFFD (the driver alone would write three).
    const lone = 'a\uD800b\uDC00c😀d\uD83D';
    const m2 = store.appendMessage(s.id, { role: 'user', text: lone });
    expect(store.getMessage(m2.id)!.text).toBe('a\uFFFDb\uFFFDc😀d\uFFFD');
    expect(store.updateMessageText(m2.id, '\uDFFFz', 'done').text).toBe('\uFFFDz');

    // Names and search input too.
    const named = newSession('x\uD800');
    expect(named.name).toBe('x\uFFFD');
    expect(store.search('\uD800 a')).toBeInstanceOf(Array);
  });
});

describe('Store: full-text search', () => {
  it('finds text in two sessions, with session name and snippet', () => {
    const work = newSession('work');
    const home = newSession('home');
    const w = store.appendMessage(work.id, { role: 'user', text: 'The attention sink keeps the first tokens.' });
    store.appendMessage(work.id, { role: 'assistant', text: 'Unrelated reply about lunch.' });
    const h = store.appendMessage(home.id, { role: 'assistant', text: 'An attention sink is a token that absorbs attention.' });

    const hits = store.search('attention sink');
    expect(hits.map((x) => x.messageId).sort()).toEqual([w.id, h.id].sort());
    const hw = hits.find((x) => x.messageId === w.id)!;
    expect(hw).toMatchObject({ sessionId: work.id, sessionName: 'work', role: 'user', seq: 1 });
    expect(hw.snippet).toContain(`${SNIPPET_MARK_START}attention${SNIPPET_MARK_END}`);
    // Last word matches as a prefix (search as you type), diacritics folded.
    expect(store.search('absor').map((x) => x.messageId)).toEqual([h.id]);
    expect(store.search('LUNCH').length).toBe(1);
    // Scoped to one session.
    expect(store.search('attention', { sessionId: home.id }).map((x) => x.sessionName)).toEqual(['home']);
  });

  it('stays in sync after updates and deletes (direct and cascaded)', () => {
    const a = newSession('a');
    const b = newSession('b');
    const m = store.appendMessage(a.id, { role: 'assistant', text: 'original', state: 'streaming' });
    const other = store.appendMessage(b.id, { role: 'user', text: 'cherry pie' });
    const gone = store.appendMessage(b.id, { role: 'user', text: 'durian smell' });
    store.streamMessageText(m.id, 'original banana', 2);
    expect(store.search('banana')).toEqual([]); // indexed when it ends, not while it streams
    expect(() => ftsIntegrity()).not.toThrow();
    store.updateMessageText(m.id, 'original banana', 'stopped');
    expect(store.search('banana').map((x) => x.messageId)).toEqual([m.id]);

    store.updateMessageText(m.id, 'replaced with mango', 'done');
    expect(store.search('banana')).toEqual([]);
    expect(store.search('mango').map((x) => x.messageId)).toEqual([m.id]);

    db.prepare('DELETE FROM messages WHERE id = ?').run(gone.id);
    expect(store.search('durian')).toEqual([]);

    store.deleteSession(a.id); // cascades to messages, and the FTS delete trigger follows
    expect(store.search('mango')).toEqual([]);
    expect(store.search('cherry').map((x) => x.messageId)).toEqual([other.id]);
    expect(() => ftsIntegrity()).not.toThrow();
    expect(db.prepare('SELECT count(*) FROM messages_fts').pluck().get()).toBe(1);
  });

  it('never throws on quotes, operators or syntax in the query', () => {
    const s = newSession('s');
    const m = store.appendMessage(s.id, { role: 'user', text: 'He said "NEAR" and (AND) OR NOT col:umn* ^start -minus a"b' });
    const nasty = [
      '"', '""', '"unterminated', "'", 'NEAR(', 'NEAR(a b, 2)', 'AND', 'OR', 'NOT', 'a AND', '(', ')', '*', '^',
      '-', '+', ':', 'text:', 'col:umn', '{text}: x', 'a"b', '\\', '%', '_', '\u0000', '   ', '', '😀', 'messages_fts',
      'a OR b NOT c', '"a" "b"', 'x*y', 'rank', '\u00A0', '\uFFFF',
    ];
    for (const q of nasty) expect(() => store.search(q), `query ${JSON.stringify(q)}`).not.toThrow();
    expect(store.search('')).toEqual([]);
    expect(store.search('   ')).toEqual([]);
    // Operators are searched as words.
    expect(store.search('NEAR').map((x) => x.messageId)).toEqual([m.id]);
    expect(store.search('"NEAR" and').map((x) => x.messageId)).toEqual([m.id]);
    expect(store.search('col:umn').map((x) => x.messageId)).toEqual([m.id]);
    expect(store.search('NOT minus').map((x) => x.messageId)).toEqual([m.id]);
  });
});

describe('Store: snapshots', () => {
  it('keeps only the newest `keep` snapshots per session', () => {
    const a = newSession('a');
    const b = newSession('b');
    const ma = store.appendMessage(a.id, { role: 'user', text: 'a' });
    const mb = store.appendMessage(b.id, { role: 'user', text: 'b' });
    store.saveSnapshot(b.id, mb.id, new Uint8Array([9]));
    const saved = [];
    for (let i = 0; i < 6; i++) saved.push(store.saveSnapshot(a.id, ma.id, new Uint8Array(1000 + i).fill(i)));
    expect(store.listSnapshots(a.id).map((x) => x.id)).toEqual(saved.slice(3).map((x) => x.id).reverse());
    expect(store.listSnapshots(b.id)).toHaveLength(1);

    const latest = store.latestSnapshot(a.id)!;
    expect(latest).toMatchObject({ id: saved[5].id, sessionId: a.id, messageId: ma.id, size: 1005 });
    expect(Buffer.from(latest.bytes).equals(Buffer.alloc(1005, 5))).toBe(true);

    store.saveSnapshot(a.id, null, new Uint8Array(3), 1);
    expect(store.listSnapshots(a.id)).toMatchObject([{ messageId: null, size: 3 }]);
    expect(() => store.saveSnapshot(a.id, null, new Uint8Array(1), 0)).toThrow(RangeError);
    expect(() => store.saveSnapshot(a.id, mb.id, new Uint8Array(1))).toThrow(NotFoundError); // b's message
    expect(store.latestSnapshot(999)).toBeUndefined();
  });

  it('stores a view of a larger buffer exactly, and snapshots go with their session or covered message', () => {
    const a = newSession('a');
    const m = store.appendMessage(a.id, { role: 'user', text: 'x' });
    const backing = new Uint8Array(100).map((_, i) => i);
    store.saveSnapshot(a.id, m.id, backing.subarray(10, 20));
    expect([...store.latestSnapshot(a.id)!.bytes]).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);

    db.prepare('DELETE FROM messages WHERE id = ?').run(m.id);
    expect(store.latestSnapshot(a.id)).toBeUndefined();
    store.saveSnapshot(a.id, null, new Uint8Array(4));
    store.deleteSession(a.id);
    expect(db.prepare('SELECT count(*) FROM snapshots').pluck().get()).toBe(0);
  });
});

describe('Store: A/B and eval runs', () => {
  it('records, lists and votes A/B runs, which outlive their session', () => {
    const s = newSession('s');
    const run = store.recordAbRun({
      sessionId: s.id,
      prompt: 'Tell a story',
      branchA: { policy: 'sink', text: 'Once' },
      branchB: { policy: 'window', text: 'Upon' },
      metrics: { msPerToken: [12.5, 13] },
    });
    expect(run).toMatchObject({ sessionId: s.id, vote: null, branchB: { policy: 'window', text: 'Upon' } });
    store.recordAbRun({ sessionId: null, prompt: 'p', branchA: [], branchB: null, metrics: {} });
    expect(store.listAbRuns()).toHaveLength(2);
    expect(store.listAbRuns(s.id).map((r) => r.id)).toEqual([run.id]);
    expect(run.base).toBeNull(); // recorded without one
    const based = store.recordAbRun({ sessionId: s.id, prompt: 'p', branchA: {}, branchB: {}, metrics: {}, base: { messageId: null, messageCreatedAt: null } });
    expect(store.getAbRun(based.id).base).toEqual({ messageId: null, messageCreatedAt: null });
    expect(() => store.getAbRun(999)).toThrow(NotFoundError);
    expect(store.voteAbRun(run.id, 'b').vote).toBe('b');
    expect(store.voteAbRun(run.id, null).vote).toBeNull();
    expect(() => store.voteAbRun(999, 'a')).toThrow(NotFoundError);

    store.deleteSession(s.id);
    expect(store.listAbRuns().find((r) => r.id === run.id)).toMatchObject({ sessionId: null, prompt: 'Tell a story' });
  });

  it('records and lists eval runs by kind', () => {
    const e1 = store.recordEvalRun({ kind: 'ppl', model: 'tiny', params: { policy: 'sink' }, result: { ppl: [1, 2] } });
    store.recordEvalRun({ kind: 'bench', model: 'tiny', params: {}, result: { tps: 40 } });
    expect(store.listEvalRuns()).toHaveLength(2);
    expect(store.listEvalRuns('ppl')).toEqual([e1]);
    expect(e1.result).toEqual({ ppl: [1, 2] });
  });
});

describe('Store: durability across connections', () => {
  it('is visible to a second connection and survives reopen', () => {
    const s = newSession('persist');
    store.appendMessage(s.id, { role: 'user', text: 'remember me' });
    const reader = new Database(file, { readonly: true });
    expect(reader.prepare('SELECT text FROM messages').pluck().all()).toEqual(['remember me']);
    reader.close();
    db.close();
    db = openDatabase(file);
    store = new Store(db);
    expect(store.getSessionByName('persist')!.id).toBe(s.id);
    expect(store.search('remember').length).toBe(1);
  });
});
