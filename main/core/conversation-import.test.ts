import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChatPacket } from '../api/packets.js';
import { MAX_IMPORT_BYTES } from '../api/import-schemas.js';
import { testModelDir } from '../../native-models/test-models.js';
import { runMain } from '../cli/fixtures/cli-process.js';
import { errorCode } from '../shared/errors.js';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';
import { CoreService } from './core-service.js';
import { chatGptConversations } from './fixtures/chatgpt-conversations.js';
import { readChannel } from './read-channel.js';

let dir: string;
let core: CoreService;
let modelId: string;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'perpetua-import-'));
  core = new CoreService({ dbFile: join(dir, 'p.db'), maxAnswerTokens: 4 });
  modelId = (await core.modelsImport({ dir: testModelDir() })).id;
});
afterEach(async () => {
  await core.close().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** Every message of a chat as [role, text, the text of the message it follows], in the order they were written. */
function tree(store: Store, sessionId: number) {
  return store.branches.tree(sessionId).map((m) => [m.role, m.text, m.parentId === null ? null : store.getMessage(m.parentId)!.text]);
}

describe("ChatGPT's conversations.json", () => {
  it('keeps every branch, shows the current node\'s, leaves out what is not text and says so', async () => {
    const report = await core.sessionsImport({ file: file('conversations.json', JSON.stringify(chatGptConversations())), modelId });
    expect(report).toMatchObject({ format: 'chatgpt', conversations: 1, messages: 8 });
    expect(report.sessions.map((s) => [s.name, s.messageCount])).toEqual([['Lisbon in a day', 8]]);
    const skipped = Object.fromEntries(report.skipped.map((s) => [s.reason, [s.count, s.examples]]));
    expect(skipped).toEqual({
      hidden: [1, ['“Lisbon in a day”, message sys']],
      empty: [1, ['“Lisbon in a day”, message blank']],
      not_text: [2, ['“Lisbon in a day”, message a2b', '“Only a picture”, message p1']],
      tool: [2, ['“Lisbon in a day”, message call', '“Lisbon in a day”, message out']],
      no_messages: [1, ['“Only a picture”']],
      malformed: [1, ['conversation 3']],
    });

    const store = new Store(openDatabase(join(dir, 'p.db'), { readOnly: true }));
    const id = Number(report.sessions[0]!.id);
    expect(tree(store, id)).toEqual([
      ['user', 'Plan a day in Lisbon.', null],
      ['assistant', 'Start at Belém.', 'Plan a day in Lisbon.'],
      ['assistant', 'Start at Alfama.', 'Plan a day in Lisbon.'], // the regenerated answer: a second version
      ['user', 'What about lunch?', 'Start at Alfama.'],
      ['assistant', 'Pastéis de nata.', 'What about lunch?'],
      ['user', 'What about dinner?', 'Start at Alfama.'], // the edited question: a second version
      ['assistant', 'Try the Time Out Market.', 'What about dinner?'],
      ['assistant', 'Then walk to the river.', 'Try the Time Out Market.'], // the tool call and its output left out
    ]);
    const shown = store.listMessages(id);
    expect(shown.map((m) => m.text)).toEqual(['Plan a day in Lisbon.', 'Start at Alfama.', 'What about dinner?', 'Try the Time Out Market.', 'Then walk to the river.']);
    expect(shown.map((m) => m.siblings)).toEqual([{ index: 0, count: 1 }, { index: 1, count: 2 }, { index: 1, count: 2 }, { index: 0, count: 1 }, { index: 0, count: 1 }]);
    expect(shown[0]!.createdAt).toBe(1_700_000_001_000); // ChatGPT's own time, in ms
    expect(store.listSnapshots(id)).toEqual([]);
    store.db.close();

    // it opens with its transcript re-read, and goes on
    const opened = await core.sessionsOpen({ id: String(id) });
    expect(opened.messages.map((m) => m.text).at(-1)).toBe('Then walk to the river.');
    expect(opened.stats.cacheFill).toBeGreaterThan(0); // read from the transcript: there was no snapshot
    expect(await readChannel<ChatPacket>((signal) => core.chatSend({ sessionId: String(id), text: 'Thanks!' }, signal)).closed).toMatchObject({ type: 'done' });
  });

  it("a system message at the start becomes the chat's system prompt; a later one and a huge message are reported; titles become names", async () => {
    const node = (id: string, parent: string | null, role: string, text: string) => ({
      id, parent, children: [], message: { author: { role }, content: { content_type: 'text', parts: [text] } },
    });
    const mapping = Object.fromEntries([
      node('s', null, 'system', 'You are terse.'),
      node('u', 's', 'user', 'Hi'),
      node('late', 'u', 'system', 'Now be verbose.'),
      node('a', 'late', 'assistant', 'Hello.'),
      node('big', 'a', 'user', 'x'.repeat(10 * 1024 * 1024 + 1)),
    ].map((n) => [n.id, n]));
    const report = await core.sessionsImport({ file: file('c.json', JSON.stringify([{ title: 'Two\nlines\t', mapping }])), modelId });
    expect(report.sessions.map((s) => [s.name, s.systemPrompt, s.messageCount])).toEqual([['Two lines', 'You are terse.', 2]]);
    expect(report.skipped).toEqual([
      { reason: 'system', count: 1, examples: ['“Two lines”, message late'] },
      { reason: 'too_large', count: 1, examples: ['“Two lines”, message big'] },
    ]);
    const untitled = await core.sessionsImport({ file: file('u.json', JSON.stringify([{ title: '\u001b\n ', mapping: { u: node('u', null, 'user', 'Hi') } }])), modelId });
    expect(untitled.sessions.map((s) => s.name)).toEqual(['Imported chat']);
    const opened = await core.sessionsOpen({ id: report.sessions[0]!.id });
    expect(opened.messages.map((m) => [m.role, m.text])).toEqual([['user', 'Hi'], ['assistant', 'Hello.']]);
  });

  it('a conversation imported twice gets a free name; its parents forming a loop are reported, a deep chat imports', async () => {
    const chain: Record<string, unknown> = {};
    const DEPTH = 20_000;
    for (let i = 0; i < DEPTH; i++) {
      chain[`n${i}`] = { id: `n${i}`, parent: i ? `n${i - 1}` : null, children: [], message: { author: { role: i % 2 ? 'assistant' : 'user' }, content: { content_type: 'text', parts: [`turn ${i}`] } } };
    }
    chain.x = { id: 'x', parent: 'y', children: [], message: { author: { role: 'user' }, content: { content_type: 'text', parts: ['loop'] } } };
    chain.y = { id: 'y', parent: 'x', children: [], message: { author: { role: 'user' }, content: { content_type: 'text', parts: ['loop'] } } };
    const path = file('deep.json', JSON.stringify([{ title: 'Deep', mapping: chain, current_node: `n${DEPTH - 1}` }]));
    const first = await core.sessionsImport({ file: path, modelId });
    expect(first).toMatchObject({ conversations: 1, messages: DEPTH, skipped: [{ reason: 'malformed', count: 2, examples: ['“Deep”, message x', '“Deep”, message y'] }] });
    const second = await core.sessionsImport({ file: path, modelId });
    expect([first.sessions[0]!.name, second.sessions[0]!.name]).toEqual(['Deep', 'Deep (2)']);
    expect(second.sessions[0]!.messageCount).toBe(DEPTH);
  });
});

describe('a file that cannot be imported', () => {
  const hostile: [string, string | Buffer, RegExp][] = [
    ['not UTF-8', Buffer.from([0x5b, 0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d, 0x5d]), /is not UTF-8 text/],
    ['broken JSON', JSON.stringify(chatGptConversations()).slice(0, -40), /The file is not valid JSON/],
    ['a broken JSONL line', '{"session":"a","seq":1,"parent":null,"role":"user","state":"done","text":"hi","createdAt":1}\n{"session":', /Line 2 is not valid JSON/],
    ['another format', 'Title: my notes\nhello', /neither ChatGPT's conversations.json nor a Perpetua export/],
    ['text after the list', '[] and more', /The file is not valid JSON/],
  ];
  for (const [what, content, sentence] of hostile) {
    it(`${what}: a typed error, nothing written`, async () => {
      const before = (await core.sessionsList()).length;
      const err = await core.sessionsImport({ file: file('bad.json', content), modelId }).catch((e: unknown) => e);
      expect(errorCode(err)).toBe('import_unreadable');
      expect((err as Error).message).toMatch(sentence);
      expect((err as Error).message).toMatch(/Nothing was imported\.$/);
      expect((await core.sessionsList()).length).toBe(before);
    });
  }

  it('larger than the limit: refused before it is read', async () => {
    const path = file('huge.json', '[');
    truncateSync(path, MAX_IMPORT_BYTES + 1); // sparse: no disk is spent
    const err = await core.sessionsImport({ file: path, modelId }).catch((e: unknown) => e);
    expect(errorCode(err)).toBe('import_unreadable');
    expect((err as Error).message).toMatch(/is 128 MiB, more than the 128 MiB it may be/);
    expect(await core.sessionsList()).toEqual([]);
  });

  it('each conversation is stored in its own transaction: a failure part way leaves the ones before whole and none of the rest', async () => {
    const [lisbon] = chatGptConversations();
    const failing = JSON.parse(JSON.stringify(lisbon).replace('Then walk to the river.', 'boom')) as { title: string };
    failing.title = 'Failing';
    const db = new Database(join(dir, 'p.db'));
    db.exec(`CREATE TRIGGER fail_boom BEFORE INSERT ON messages WHEN NEW.text = 'boom' BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`);
    db.close();
    const err = await core.sessionsImport({ file: file('conversations.json', JSON.stringify([lisbon, failing])), modelId }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/^Only the first 1 of 2 conversations were imported \(they are in the chat list\); the rest were not: /);
    expect((await core.sessionsList()).map((s) => [s.name, s.messageCount])).toEqual([['Lisbon in a day', 8]]);
  });

  it('the core answers other requests between conversations', async () => {
    const [lisbon] = chatGptConversations();
    const many = Array.from({ length: 5 }, (_, i) => ({ ...(lisbon as object), title: `Chat ${i}` }));
    let settled = false;
    const importing = core.sessionsImport({ file: file('many.json', JSON.stringify(many)), modelId }).then(() => (settled = true));
    const meanwhile = await core.sessionsList();
    expect(settled).toBe(false);
    expect(meanwhile.length).toBeLessThan(5);
    await importing;
    expect((await core.sessionsList()).length).toBe(5);
  });
});

describe("Perpetua's own export", () => {
  it('perpetua export, then perpetua import: every branch, state and time, the branch shown, the system prompt and settings come back', async () => {
    await core.close();
    const source = join(dir, 'source.db');
    const store = new Store(openDatabase(source));
    const model = store.upsertModel({ name: 'Tiny', dir: '/m', fingerprint: 'fp' });
    const s = store.createSession({ name: 'Garden', modelId: model.id, policy: 'window', policyParams: { window: 64 }, systemPrompt: 'You are a gardener.' });
    store.updateSessionGeneration(s.id, { temperature: 0.4, maxTokens: 64 });
    const say = (role: 'user' | 'assistant', text: string, parentId?: number | null, state: 'done' | 'stopped' = 'done') =>
      store.appendMessage(s.id, { role, text, parentId, state });
    const u1 = say('user', 'What grows in shade?');
    say('assistant', 'Ferns.');
    say('user', 'And in sun?');
    const tomatoes = say('assistant', 'Tomatoes.', undefined, 'stopped');
    say('assistant', 'Hostas and ferns.', u1.id); // a regenerated answer, written last: its branch is shown
    store.appendMessage(s.id, { role: 'user', text: 'What about moss?', parentId: null }); // an edited first question
    store.branches.showBranchOf(s.id, tomatoes.id); // an older branch is shown
    const before = tree(store, s.id);
    store.db.close();

    const out = join(dir, 'garden.jsonl');
    expect((await runMain(['export', '--db', source, '--out', out])).code).toBe(0);
    const imported = join(dir, 'imported.db');
    const r = await runMain(['import', out, '--db', imported, '--model', testModelDir()]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Imported 1 conversation\(s\) with 6 message\(s\) from the Perpetua export, as chats of /);

    const back = new Store(openDatabase(imported, { readOnly: true }));
    const [chat] = back.listSessions();
    expect(chat!.name).toBe('Garden');
    expect(tree(back, chat!.id)).toEqual(before);
    expect(back.branches.tree(chat!.id).map((m) => m.state)).toEqual(['done', 'done', 'done', 'stopped', 'done', 'done']);
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { seq?: number; createdAt: number }).filter((l) => l.seq);
    expect(back.branches.tree(chat!.id).map((m) => m.createdAt)).toEqual(lines.map((l) => l.createdAt));
    expect(back.listMessages(chat!.id).map((m) => m.text)).toEqual(['What grows in shade?', 'Ferns.', 'And in sun?', 'Tomatoes.']);
    expect(chat!.systemPrompt).toBe('You are a gardener.');
    expect(chat!.generation).toEqual({ temperature: 0.4, maxTokens: 64 });
    back.db.close();
  });

  it('malformed lines and messages whose parent is missing are reported; the rest is imported, an empty answer too', async () => {
    const line = (o: object) => JSON.stringify({ session: 'S', state: 'done', createdAt: 1, ...o });
    const text = [
      JSON.stringify({ session: 'S', systemPrompt: 'Be kind.', generation: { temperature: -1 }, shown: 2 }), // settings out of range
      line({ seq: 1, parent: null, role: 'user', text: 'hello' }),
      line({ seq: 2, parent: 1, role: 'assistant', text: 'hi' }),
      line({ seq: 4, parent: 3, role: 'user', text: 'lost' }),
      line({ seq: 5, parent: 2, role: 'robot', text: 'who?' }),
      line({ seq: 6, parent: 2, role: 'assistant', state: 'streaming', text: '' }), // being written when exported
      '',
    ].join('\n');
    const report = await core.sessionsImport({ file: file('s.jsonl', text), modelId });
    expect(report).toMatchObject({ format: 'perpetua', conversations: 1, messages: 3 });
    expect(report.sessions[0]!.systemPrompt).toBeNull(); // a file without the chat's own line (an older export)
    const opened = await core.sessionsOpen({ id: report.sessions[0]!.id });
    expect(opened.messages.map((m) => [m.text, m.state])).toEqual([['hello', 'done'], ['hi', 'done'], ['', 'stopped']]);
    expect(report.skipped).toEqual([
      { reason: 'malformed', count: 2, examples: ['line 1', 'line 5'] },
      { reason: 'parent_missing', count: 1, examples: ['“S”, message #4'] },
    ]);
  });
});
