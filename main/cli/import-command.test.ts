import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { testModelDir } from '../../native-models/test-models.js';
import { chatGptConversations } from '../core/fixtures/chatgpt-conversations.js';
import { runMain } from './fixtures/cli-process.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'perpetua-import-cli-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

it('perpetua import lists the chats made and what was left out, by reason with examples', async () => {
  const file = join(dir, 'conversations.json');
  writeFileSync(file, JSON.stringify(chatGptConversations()));
  const r = await runMain(['import', file, '--db', join(dir, 'chats.db'), '--model', testModelDir()]);
  expect(r.code).toBe(0);
  const lines = r.stdout.trim().split('\n');
  expect(lines[0]).toMatch(/^Imported 1 conversation\(s\) with 8 message\(s\) from the ChatGPT export, as chats of /);
  expect(lines.slice(1)).toEqual([
    '  Lisbon in a day\t8 messages',
    'Left out:',
    '  1 × hidden by the conversation: “Lisbon in a day”, message sys',
    '  1 × empty: “Lisbon in a day”, message blank',
    '  2 × not text (images, files, quotes, reasoning): “Lisbon in a day”, message a2b; “Only a picture”, message p1',
    '  2 × tool calls and tool output: “Lisbon in a day”, message call; “Lisbon in a day”, message out',
    '  1 × conversations with nothing to import: “Only a picture”',
    '  1 × not in the expected form: conversation 3',
  ]);
});

it('a file that cannot be imported: one sentence, exit code 1; no FILE: the usage', async () => {
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, Buffer.from([0x5b, 0xc3, 0x28, 0x5d]));
  const r = await runMain(['import', bad, '--db', join(dir, 'chats.db'), '--model', testModelDir()]);
  expect(r.code).toBe(1);
  expect(r.stderr).toBe(`perpetua: The file ${bad} is not UTF-8 text. Nothing was imported.\n`);
  const usage = await runMain(['import', '--db', join(dir, 'chats.db')]);
  expect(usage.code).toBe(1);
  expect(usage.stderr).toMatch(/import needs one FILE and --db FILE/);
});
